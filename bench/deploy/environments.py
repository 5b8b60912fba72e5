"""Python environments for the server under test (the scenario's ``[envs.NAME]``): the
same scenario on other Channels, Daphne or asgiref releases, on a checkout of the base
branch, or on an interpreter of one's own. The clients and the harness stay in
chanbench's own environment.

An environment is a set of requirement pins, and optionally a source tree, installed over
what the chat site needs and the packages its points' server kinds declare (a pin of the
environment's own wins over those) into a virtualenv cached under ``$CHANBENCH_ENV_CACHE`` (default
``~/.cache/chanbench/envs``), keyed by what was asked for and this Python's version, built
once (with ``uv`` where it is installed, else venv and pip) and reused; or the path of an
existing interpreter. A source tree is installed editable, so the cached environment runs
the tree's code as it is now; a tree holding a chanbench site (``consumers/manage.py``)
has that site served. A build that fails is one line: its points fail with it and the
others run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bench.deploy.processes import last_line
from bench.deploy.servers import SERVERS
from bench.deploy.software import requirements, software
from bench.errors import UserError
from bench.scenario import CustomEnv, Point

# What the chat site imports whichever server serves it (its settings name Daphne's app);
# a pin in the environment's requirements wins.
SITE_REQUIREMENTS = ("django", "channels", "daphne", "channels-redis", "redis", "uvloop")
# A cold install of Django, Channels and Daphne takes under a minute from the index.
INSTALL_TIMEOUT_S = 600.0
READY = ".chanbench-ready"


class EnvError(UserError):
    """An environment that cannot be built or used; its points fail with this."""


@dataclass(frozen=True)
class Built:
    """A ready environment: the interpreter its servers run, and the folder of the site
    they serve (``None``: chanbench's own ``consumers/``)."""

    python: str
    site_dir: str | None = None


def cache_root() -> Path:
    return Path(os.environ.get("CHANBENCH_ENV_CACHE") or Path.home() / ".cache/chanbench/envs")


# A source tree's files that say what it needs: a change to one rebuilds its environment.
_DEPENDENCY_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt")


def installs(env: CustomEnv, kinds: Collection[str] = ()) -> list[str]:
    """What an environment for points served by ``kinds`` installs before its source
    tree: the site's needs and the kinds' packages, then the environment's own pins."""
    declared = [p for kind in sorted(kinds) for p in SERVERS[kind].packages]
    return [*SITE_REQUIREMENTS, *requirements(declared, env.requirements), *env.requirements]


def env_key(env: CustomEnv, kinds: Collection[str] = ()) -> str:
    """The cache folder's name: what is installed, and the Python it is installed for."""
    spec: dict[str, object] = {"python": sys.version, "requirements": sorted(installs(env, kinds))}
    if env.source:
        tree = Path(env.source)
        spec["source"] = env.source
        spec["declared"] = {
            name: hashlib.sha256((tree / name).read_bytes()).hexdigest()
            for name in _DEPENDENCY_FILES
            if (tree / name).is_file()
        }
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]


def installable(tree: Path) -> bool:
    """Whether ``tree`` is a package pip can install (not just a site to serve)."""
    return (tree / "pyproject.toml").is_file() or (tree / "setup.py").is_file()


def site_dir(env: CustomEnv) -> str | None:
    """The site a source tree holds (``consumers/`` with its ``manage.py``), if any."""
    if env.source and (Path(env.source) / "consumers" / "manage.py").is_file():
        return str(Path(env.source) / "consumers")
    return None


def installer() -> str | None:
    """uv's executable where it is installed (on ``PATH`` or beside chanbench), else
    ``None`` for venv and pip; ``$CHANBENCH_ENV_INSTALLER`` (uv or pip) chooses."""
    choice = os.environ.get("CHANBENCH_ENV_INSTALLER", "")
    if choice == "pip":
        return None
    found = shutil.which("uv") or shutil.which("uv", path=os.path.dirname(sys.executable))
    if choice == "uv" and not found:
        raise EnvError("CHANBENCH_ENV_INSTALLER=uv but uv is not installed: pip install uv")
    return found


def _install_steps(folder: Path, packages: list[str]) -> list[list[str]]:
    """The commands that create a virtualenv in ``folder`` with ``packages`` in it."""
    python = str(folder / "bin" / "python")
    uv = installer()
    if uv:
        return [
            [uv, "venv", "--quiet", "--python", sys.executable, str(folder)],
            [uv, "pip", "install", "--quiet", "--python", python, *packages],
        ]
    return [
        [sys.executable, "-m", "venv", str(folder)],
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages],
    ]


def ready(
    name: str,
    env: CustomEnv,
    log_path: Path,
    root: Path | None = None,
    kinds: Collection[str] = (),
) -> Built:
    """Environment ``name`` for points served by ``kinds``, built (or found in the cache)
    for pins and source trees, checked for an interpreter's path."""
    site = site_dir(env)
    if env.source and not site and not installable(Path(env.source)):
        raise EnvError(
            f"environment {name}: source = {env.source!r} is neither a package (no "
            "pyproject.toml or setup.py) nor a chanbench site (no consumers/manage.py)"
        )
    if env.python:
        if not (os.path.isfile(env.python) and os.access(env.python, os.X_OK)):
            raise EnvError(f"environment {name}: python = {env.python!r} is not an executable file")
        check_has(name, env.python, kinds)
        return Built(env.python, site)
    folder = (root or cache_root()) / env_key(env, kinds)
    built = Built(str(folder / "bin" / "python"), site)
    if (folder / READY).is_file():
        return built
    folder.parent.mkdir(parents=True, exist_ok=True)
    with folder.with_name(f"{folder.name}.lock").open("w") as lock:
        # Another run building the same environment: wait for it, then reuse its work.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / READY).is_file():
            _build(name, env, installs(env, kinds), folder, log_path)
    return built


def check_has(name: str, python: str, kinds: Collection[str]) -> None:
    """Refuse an interpreter of one's own that lacks what its points' server kinds
    declare, naming what to install there."""
    for kind in sorted(kinds):
        declared = SERVERS[kind].packages
        found = software(python, [p.name for p in declared])
        if found.error:
            raise EnvError(f"environment {name}: cannot ask {found.error}")
        missing = [p.requirement for p in declared if found.packages.get(p.name) is None]
        if missing:
            raise EnvError(
                f"environment {name}: server = {kind!r} needs {', '.join(missing)}, which "
                f"{python} lacks; install it there ({python} -m pip install "
                f"{' '.join(repr(m) for m in missing)})"
            )


def _build(name: str, env: CustomEnv, wanted: list[str], folder: Path, log_path: Path) -> None:
    """Install ``env`` into a fresh virtualenv and move it to ``folder`` whole."""
    building = folder.with_name(f"{folder.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tree = ["-e", env.source] if env.source and installable(Path(env.source)) else []
    packages = [*wanted, *tree]
    asked = " ".join([*env.requirements, *([env.source] if env.source else [])])
    with log_path.open("ab") as log:
        for argv in _install_steps(building, packages):
            try:
                done = subprocess.run(
                    argv, stdout=log, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S
                )
            except subprocess.TimeoutExpired:
                shutil.rmtree(building, ignore_errors=True)
                raise EnvError(
                    f"environment {name}: not built within {INSTALL_TIMEOUT_S:g} s "
                    f"(log: {log_path})"
                ) from None
            if done.returncode:
                shutil.rmtree(building, ignore_errors=True)
                raise EnvError(
                    f"environment {name}: {asked or 'the site'} could not be installed: "
                    f"{last_line(log_path)} (log: {log_path})"
                )
    # Moved into place whole, so a reader never sees half an environment. Servers run as
    # ``python -m ...``, which a moved virtualenv serves (its scripts' shebangs would not).
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(building, folder)
    (folder / READY).write_text(json.dumps({"requirements": wanted, "source": env.source}))


def build_all(
    points: Sequence[Point], envs: Mapping[str, CustomEnv], log_dir: Path, out: TextIO
) -> tuple[dict[str, Built], dict[str, str]]:
    """Build (or find in the cache) each of ``envs`` that ``points`` use, with their
    server kinds' packages: the built ones by name, and why the others could not be built
    (their points fail with it; the rest run)."""
    kinds: dict[str, set[str]] = {}
    for point in points:
        if point.env != "current":
            kinds.setdefault(point.env, set()).add(point.server)
    built, errors = {}, {}
    for name in kinds:
        env = envs[name]
        out.write(f"chanbench: environment {name}: building it, or reusing the cached one\n")
        out.flush()
        started = time.monotonic()
        try:
            built[name] = ready(name, env, log_dir / f"env-{name}.log", kinds=kinds[name])
        except UserError as exc:
            errors[name] = str(exc)
            out.write(f"chanbench: {exc}; its points fail\n")
            continue
        took = time.monotonic() - started
        out.write(f"chanbench: environment {name}: ready in {took:.1f} s ({built[name].python})\n")
    return built, errors
