"""The exit codes as ``--help`` prints them, from ``bench.errors.ExitCode`` alone."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Iterable

from bench.errors import ExitCode

# Keeps the epilog's layout: argparse would refill it into one paragraph.
FORMATTER = argparse.RawDescriptionHelpFormatter


def epilog(codes: Iterable[ExitCode] = ExitCode) -> str:
    """``codes`` and their meanings, one wrapped entry each."""
    lines = [
        textwrap.fill(
            code.meaning, width=88, initial_indent=f"  {int(code):>3}  ", subsequent_indent=" " * 7
        )
        for code in codes
    ]
    return "exit codes:\n" + "\n".join(lines)
