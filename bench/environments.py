"""Python environments for the server under test (the scenario's ``[envs.NAME]``): the
same scenario on other Channels, Daphne or asgiref releases, or on a checkout's own
interpreter. The clients and the harness stay in chanbench's own environment.

An environment is a set of requirement pins, installed over what the chat site needs
into a virtualenv cached under ``$CHANBENCH_ENV_CACHE`` (default ``~/.cache/chanbench/
envs``), keyed by the pins and this Python's version, built once and reused; or the path
of an existing interpreter. A build that fails is one line: its points fail with it and
the others run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TextIO

from bench.errors import UserError
from bench.processes import last_line
from bench.scenario import CustomEnv

# What the chat site imports; a pin in the environment's requirements wins.
SITE_REQUIREMENTS = ("django", "channels", "daphne", "channels-redis", "redis", "uvloop")
# A cold install of Django, Channels and Daphne takes under a minute from the index.
INSTALL_TIMEOUT_S = 600.0
READY = ".chanbench-ready"


class EnvError(UserError):
    """An environment that cannot be built or used; its points fail with this."""


def cache_root() -> Path:
    return Path(os.environ.get("CHANBENCH_ENV_CACHE") or Path.home() / ".cache/chanbench/envs")


def env_key(env: CustomEnv) -> str:
    """The cache folder's name: the pins and the Python they are installed for."""
    spec = {"python": sys.version, "requirements": sorted(env.requirements)}
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]


def python_for(name: str, env: CustomEnv, log_path: Path, root: Path | None = None) -> str:
    """The interpreter of environment ``name``: built (or found in the cache) for pins,
    checked for a path."""
    if env.python:
        if not (os.path.isfile(env.python) and os.access(env.python, os.X_OK)):
            raise EnvError(f"environment {name}: python = {env.python!r} is not an executable file")
        return env.python
    folder = (root or cache_root()) / env_key(env)
    python = folder / "bin" / "python"
    if (folder / READY).is_file():
        return str(python)
    building = folder.with_name(f"{folder.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        steps = [
            [sys.executable, "-m", "venv", str(building)],
            [
                str(building / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                *SITE_REQUIREMENTS,
                *env.requirements,
            ],
        ]
        for argv in steps:
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
                    f"environment {name}: {' '.join(env.requirements) or 'the site'} could "
                    f"not be installed: {last_line(log_path)} (log: {log_path})"
                )
    # Moved into place whole, so a reader never sees half an environment. Servers run as
    # ``python -m ...``, which a moved virtualenv serves (its scripts' shebangs would not).
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(building, folder)
    (folder / READY).write_text(json.dumps(sorted(env.requirements)))
    return str(python)


def build_all(
    envs: dict[str, CustomEnv], log_dir: Path, out: TextIO
) -> tuple[dict[str, str], dict[str, str]]:
    """Build (or find in the cache) each of ``envs``: their interpreters by name, and why
    the others could not be built (their points fail with it; the rest run)."""
    pythons, errors = {}, {}
    for name, env in envs.items():
        out.write(f"chanbench: environment {name}: building it, or reusing the cached one\n")
        out.flush()
        try:
            pythons[name] = python_for(name, env, log_dir / f"env-{name}.log")
        except UserError as exc:
            errors[name] = str(exc)
            out.write(f"chanbench: {exc}; its points fail\n")
    return pythons, errors
