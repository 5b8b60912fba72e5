"""What produced a result: the machine, the software and the code's commit; and the
records of them a result file keeps (``Run.environment``, ``PointResult.software``)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import socket
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from bench.results.record import Record

PACKAGES = (
    "django",
    "channels",
    "channels-redis",
    "daphne",
    "asgiref",
    "twisted",
    "websockets",
    "picows",
    "uvloop",
    "redis",
    "hdrhistogram",
)
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Git(Record):
    """The commit checked out, and whether tracked files differ from it."""

    commit: str | None = None
    dirty: bool | None = None


@dataclass
class Site(Record):
    """A source environment's own site: its folder and its checkout's commit."""

    path: str = ""
    commit: str | None = None
    dirty: bool | None = None


@dataclass
class Software(Record):
    """What a point's server ran, as its own interpreter reported it (``error``: it
    could not be asked)."""

    python: str | None = None
    executable: str | None = None
    packages: dict[str, str | None] = field(default_factory=dict)
    site: Site | None = None
    error: str | None = None


@dataclass
class Environment(Record):
    """The machine and the harness's software, at the root of every result file; the
    services' versions are added once they are started."""

    host: str | None = None
    cpu_model: str | None = None
    cpu_count: int | None = None
    os: str | None = None
    python: str | None = None
    python_implementation: str | None = None
    packages: dict[str, str | None] = field(default_factory=dict)
    redis_server: str | None = None
    database_servers: dict[str, str | None] | None = None
    git: Git = field(default_factory=Git)
    started_at: str | None = None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_info(folder: Path = REPO) -> Git:
    """The commit checked out in ``folder`` and whether tracked files differ from it."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=folder, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return Git(commit, bool(status) if status is not None else None)


def collect(redis_version: str | None = None) -> Environment:
    """The environment recorded at the root of every result file."""
    return Environment(
        host=socket.gethostname(),
        cpu_model=cpu_model(),
        cpu_count=os.cpu_count(),
        os=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        python_implementation=platform.python_implementation(),
        packages=package_versions(),
        redis_server=redis_version,
        git=git_info(),
        started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
