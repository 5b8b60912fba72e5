"""Result files: the only module that reads or writes ``results/``.

A result is one JSON file per run, never overwritten, written atomically (a temporary
file renamed over the target) after every repeat, so an interrupted or crashed run keeps
what it measured. ``atomic_path`` is the one atomic writer: reports use it too.
``read`` checks a file and ``from_json`` migrates it to the current schema
(``bench.results.schema``, which keeps the history and imports nothing of the model)
before ``bench.results.model`` reads it: the model never sees an older shape.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.errors import UserError
from bench.redact import redact
from bench.results.model import Run
from bench.results.schema import SCHEMA_VERSION, migrate

RESULTS_DIR = Path(__file__).resolve().parents[2] / "results"


# A file name keeps this much of the run's name (the scenario and its overrides).
NAME_CHARS = 80


def new_path(name: str, commit: str | None, results_dir: Path = RESULTS_DIR) -> Path:
    """A fresh result path, ``<date>-<time>_<name>_<commit>.json``, never one in use."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.+=,-]+", "-", name)[:NAME_CHARS] or "scenario"
    stem = f"{stamp}_{safe}_{(commit or 'nogit')[:8]}"
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{stem}.json"
    n = 1
    while path.exists() or path.with_suffix("").exists():
        n += 1
        path = results_dir / f"{stem}-{n}.json"
    return path


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed over it once the caller has written it:
    readers see the old file or the new one, never half. Nothing is left on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are for sharing
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically, with every URL's password masked (``redact``)."""
    with atomic_path(path) as tmp:
        tmp.write_text(redact(text))


def write(path: Path, run: Run) -> None:
    """Write ``run`` atomically as JSON (NaN refused: JSON has none)."""
    write_text(path, json.dumps(run.to_json(), indent=1, allow_nan=False) + "\n")


def read(path: str | Path) -> Run:
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
    try:
        return from_json(data)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise UserError(f"{path}: not a readable chanbench result: {exc}") from None


def newest(results_dir: Path = RESULTS_DIR) -> Path:
    """The most recent result file, for commands given none."""
    files = sorted(results_dir.glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise UserError(f"no result files in {results_dir}; run `chanbench run` first")
    return files[-1]


def from_json(data: dict[str, Any]) -> Run:
    """A result file's JSON, of any version this chanbench reads, as a ``Run``."""
    return Run.from_json(migrate(data))
