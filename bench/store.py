"""Result files: the only module that reads or writes ``results/``.

A result is one JSON file per run, never overwritten, written atomically (a temporary
file renamed over the target) after every point, so an interrupted or crashed run keeps
what it measured.

Schema history (``schema_version``):
  1 - first version: environment, scenario, calibration, points with raw repeats.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from bench.errors import UserError

SCHEMA_VERSION = 1
RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"


def new_path(scenario: str, commit: str | None, results_dir: Path = RESULTS_DIR) -> Path:
    """A fresh result path, ``<date>-<time>_<scenario>_<commit>.json``, never one in use."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", scenario) or "scenario"
    stem = f"{stamp}_{safe}_{(commit or 'nogit')[:8]}"
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{stem}.json"
    n = 1
    while path.exists() or path.with_suffix("").exists():
        n += 1
        path = results_dir / f"{stem}-{n}.json"
    return path


def write(path: Path, result: dict[str, Any]) -> None:
    """Write ``result`` atomically: readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(result, f, indent=1, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read(path: str | Path) -> dict[str, Any]:
    """Read and check a result file; every problem is a one-line ``UserError``."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(f"{path}: no such result file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None
    if not text.strip():
        raise UserError(f"{path}: empty file, not a chanbench result")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON (truncated or corrupt?): {exc}") from None
    if not isinstance(data, dict) or "schema_version" not in data:
        raise UserError(f"{path}: not a chanbench result (no schema_version)")
    version = data["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise UserError(
            f"{path}: written by a newer chanbench (schema {version}, this one reads "
            f"up to {SCHEMA_VERSION}); upgrade chanbench"
        )
    if not data.get("points"):
        raise UserError(f"{path}: the result has no points (the run measured nothing)")
    return data


def newest(results_dir: Path = RESULTS_DIR) -> Path:
    """The most recent result file, for commands given none."""
    files = sorted(results_dir.glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise UserError(f"no result files in {results_dir}; run `chanbench run` first")
    return files[-1]
