"""A Ctrl-C that chanbench handled exits 130, however deep it landed: also one raised
inside an ``exec`` of a string (a dataclass being built during an import), which CPython
would otherwise turn into a death by SIGINT at exit under ``python -m``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import REPO_DIR

# chanbench's own main(), with a handler interrupted where dataclasses build methods.
PROGRAM = """
import argparse, sys
import bench.cli as cli

def build_parser():
    parser = argparse.ArgumentParser()
    parser.set_defaults(handler=lambda args: exec("raise KeyboardInterrupt"))
    return parser

cli.build_parser = build_parser
sys.exit(cli.main([]))
"""


def test_interrupt_inside_exec_exits_130(tmp_path: Path) -> None:
    (tmp_path / "interrupted_main.py").write_text(PROGRAM)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_DIR)])}
    done = subprocess.run(
        [sys.executable, "-m", "interrupted_main"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 130, done.stderr
    assert "chanbench: interrupted" in done.stderr
    assert "Traceback" not in done.stderr
