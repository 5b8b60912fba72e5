"""Where the servers chanbench starts listen, and the address their clients connect to.

Loopback (127.0.0.1) by default: nothing outside the machine reaches a benchmark it did
not ask for. Load hosts of a cluster need the server on an address they reach: ``bind``
(an IP address of this machine, ``--bind``) is what every server kind listens on;
``advertise`` (``--advertise``, a host name or IP address) is what the clients, the
readiness handshake and the churn probe connect to, the bind address unless it is a
wildcard (0.0.0.0, ::), which listens everywhere and names nowhere to connect.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

from bench.errors import UserError

DEFAULT_BIND = "127.0.0.1"
# A DNS name as RFC 1123 allows it: labels of letters, digits and inner hyphens.
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){LABEL}(?:\.{LABEL})*$")
EXAMPLES = "127.0.0.1, ::1, 10.0.0.5, or 0.0.0.0 with advertise"


@dataclass(frozen=True)
class Listen:
    """A checked bind address and the host the clients connect to."""

    bind: str = DEFAULT_BIND
    advertise: str | None = None

    @property
    def host(self) -> str:
        """Where clients (and chanbench's own handshakes) connect."""
        return self.advertise or self.bind

    @property
    def loopback(self) -> bool:
        """Whether only this machine can connect (the clients must run here)."""
        return ipaddress.ip_address(self.bind).is_loopback


def check_bind(text: object, source: str) -> str:
    """``text`` as an IP address literal (IPv6 without brackets); one line else."""
    if not isinstance(text, str):
        raise UserError(f"{source}: bind = {text!r}: give an IP address, such as {EXAMPLES}")
    try:
        return str(ipaddress.ip_address(text.strip().strip("[]")))
    except ValueError:
        raise UserError(
            f"{source}: bind = {text!r}: not an IP address; give one of this machine's, "
            f"such as {EXAMPLES} (a host name goes in advertise)"
        ) from None


def check_advertise(text: object, source: str) -> str:
    """``text`` as an IP address or a host name; one line else."""
    if isinstance(text, str):
        given = text.strip().strip("[]")
        try:
            return str(ipaddress.ip_address(given))
        except ValueError:
            if HOST_NAME.match(given) and not given.replace(".", "").isdigit():
                return given
    raise UserError(
        f"{source}: advertise = {text!r}: give the host name or IP address the load hosts "
        "reach the server at, such as loadtest.example or 10.0.0.5"
    )


def listen_for(bind: str | None, advertise: str | None, source: str) -> Listen:
    """The checked pair: a wildcard bind needs an advertise; the bind address must be
    this machine's (checked by binding a port on it now, before any server starts)."""
    address = check_bind(bind, source) if bind is not None else DEFAULT_BIND
    where = check_advertise(advertise, source) if advertise is not None else None
    if ipaddress.ip_address(address).is_unspecified and where is None:
        raise UserError(
            f"{source}: bind = {address!r} listens on every address and names none to "
            "connect to: set advertise (--advertise) to the address the load hosts reach "
            "this machine at"
        )
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((address, 0))
    except OSError as exc:
        raise UserError(
            f"{source}: bind = {address!r}: cannot listen there ({exc.strerror or exc}); "
            "give an address of this machine (ip -brief address lists them)"
        ) from None
    return Listen(address, where)
