"""What a server kind needs installed, and what a server's own interpreter runs.

A server kind declares its packages once (``Package``); from that one declaration the
versions are recorded with each point, an ``[envs.NAME]`` environment installs them, and
the pre-flight checks look for them. The versions are read from the server's own
interpreter, which differs from the harness's once a scenario names environments.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bench.results.environment import Software

# What the chat site imports, whichever server serves it: recorded with every point.
STACK = ("django", "channels", "channels-redis", "asgiref", "redis")
PROBE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Package:
    """A package a server kind needs, by its names: the distribution (what pip and
    ``importlib.metadata`` call it), the requirement installed into an environment (the
    same minimum as pyproject.toml's), and the module the server imports."""

    name: str
    requirement: str
    module: str


def requirement_name(requirement: str) -> str:
    """The normalised distribution name a requirement names (``Uvicorn[standard]>=1``:
    ``uvicorn``), so that a pin of the environment's own can win over a declared one."""
    found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return re.sub(r"[-_.]+", "-", found.group(1)).lower() if found else requirement


def requirements(packages: Iterable[Package], pinned: Sequence[str] = ()) -> list[str]:
    """The requirements of ``packages``, less those the ``pinned`` requirements name."""
    taken = {requirement_name(r) for r in pinned}
    found = dict.fromkeys(p.requirement for p in packages)
    return [r for r in found if requirement_name(r) not in taken]


# Run by a server's interpreter: its Python and the versions of the distributions named.
_PROBE = """
import json, platform, sys
from importlib import metadata
out = {"python": platform.python_version(), "executable": sys.executable, "packages": {}}
for name in sys.argv[1:]:
    try:
        out["packages"][name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        out["packages"][name] = None
print(json.dumps(out))
"""


def software(python: str, names: Sequence[str], pythonpath: str | None = None) -> Software:
    """What ``python`` runs: its version and the versions of ``names`` (cached)."""
    return Software.from_json(_probe(python, tuple(names), pythonpath))


@functools.cache
def _probe(python: str, names: tuple[str, ...], pythonpath: str | None) -> dict[str, object]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    try:
        out = subprocess.run(
            [python, "-c", _PROBE, *names],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=True,
            env=env,
        )
        data: dict[str, object] = json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return {"error": f"{python}: {exc}"}
    return data
