"""A small git repository the bisect and history tests make: ``chanbench_probe``, an
installable package the site's ``probe`` fault calls before each broadcast
(``consumers/chat/faults.py``). One commit makes it block the server's event loop for
``DELAY_MS`` per message: on a noisy shared 2-core machine, unmistakable.

Importable as ``probe_repo`` from every test module (``tests/`` is on ``sys.path``, as for
``helpers``). It starts ``git``, so only tests that may start processes use it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# Ten clients in one room, closed loop, deliver thousands of messages a second here; 20 ms
# of blocking per message caps them at 50 messages (500 deliveries) a second.
DELAY_MS = 20
PYPROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "chanbench-probe"
version = "0.1"

[tool.setuptools]
packages = ["chanbench_probe"]
"""
FAST = "def on_receive():\n    pass\n"
SLOW = f"import time\n\n\ndef on_receive():\n    time.sleep({DELAY_MS / 1000})\n"
# A scenario small enough for many steps: the probe fault on the async consumer, four
# repeats a side (the fewest whose exact test can reach p < 0.05), a second each.
SCENARIO = """name = "probe"
[matrix]
consumer = "async"
fault = "probe"
layer = "memory"
clients = 10
clients_per_room = 10
mode = "closed"
warmup_s = 0.3
duration_s = 1.0
drain_quiet_s = 0.3
repeats = 4
"""


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "probe",
        "GIT_AUTHOR_EMAIL": "probe@example.invalid",
        "GIT_COMMITTER_NAME": "probe",
        "GIT_COMMITTER_EMAIL": "probe@example.invalid",
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=env
    )
    return done.stdout.strip()


def commit(repo: Path, subject: str, files: dict[str, str]) -> str:
    """Write ``files`` and commit them as ``subject``; the new sha."""
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", subject)
    return git(repo, "rev-parse", "HEAD")


def module(body: str, note: str = "") -> dict[str, str]:
    return {"chanbench_probe/__init__.py": f"# {note}\n{body}" if note else body}


def make(root: Path) -> Path:
    """An empty repository at ``root/probe`` with its first commit (fast), tagged good."""
    repo = root / "probe"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "a fast probe", {"pyproject.toml": PYPROJECT, **module(FAST)})
    git(repo, "tag", "good")
    return repo
