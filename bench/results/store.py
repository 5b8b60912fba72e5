"""Result files: the only module that reads or writes ``results/``.

A result is one JSON file per run, never overwritten, written atomically (a temporary
file renamed over the target) after every repeat, so an interrupted or crashed run keeps
what it measured. ``atomic_path`` is the one atomic writer: reports use it too. A write
the file system refuses (full, read-only, a file where a folder should be) is a one-line
``UserError`` from here, and ``check_writable`` refuses such a folder before a run
measures or a report draws anything.
``read`` checks a file and ``from_json`` migrates it to the current schema
(``bench.results.schema``, which keeps the history and imports nothing of the model)
before ``bench.results.model`` reads it, checking every value against its field's type
(``bench.results.record``): the model never sees an older shape, nor a corrupt one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.errors import UserError
from bench.redact import redact
from bench.results.model import Run
from bench.results.record import RecordError
from bench.results.schema import SCHEMA_VERSION, migrate

RESULTS_DIR = Path(__file__).resolve().parents[2] / "results"


# A file name keeps this much of the run's name (the scenario and its overrides).
NAME_CHARS = 80


def new_path(name: str, commit: str | None, results_dir: Path = RESULTS_DIR) -> Path:
    """A fresh result path, ``<date>-<time>_<name>_<commit>.json``, never one in use."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.+=,-]+", "-", name)[:NAME_CHARS] or "scenario"
    stem = f"{stamp}_{safe}_{(commit or 'nogit')[:8]}"
    make_dir(results_dir)
    path = results_dir / f"{stem}.json"
    n = 1
    while path.exists() or path.with_suffix("").exists():
        n += 1
        path = results_dir / f"{stem}-{n}.json"
    return path


def file_stem(label: str) -> str:
    """A point's label as a file name (its server logs, its profiles): spaces and "="
    replaced, so ``async clients=10`` is ``async_clients-10``."""
    return label.replace(" ", "_").replace("=", "-")


# A run writes its result, its servers' logs and its report (a few MiB for the longest
# reference runs); a folder with less free space than this is refused before anything
# is measured or drawn, rather than after minutes of measuring.
MIN_FREE_BYTES = 10 * 2**20

# What to do about a write that failed, by errno, before "or write elsewhere".
_FIXES = {
    errno.ENOSPC: "free some space there, or ",
    errno.EDQUOT: "free some space there (the disk quota is full), or ",
    errno.EACCES: "let this user write there, or ",
    errno.EPERM: "let this user write there, or ",
}


def write_error(path: Path, exc: OSError, option: str | None = None) -> UserError:
    """A failed write as one line: the path, errno's text, and what to do about it."""
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None and exc.errno in (errno.EEXIST, errno.ENOTDIR):
        what = "it" if blocker == path else str(blocker)
        why, fix = f"{what} is a file, not a folder", ""
    else:
        why, fix = exc.strerror or str(exc), _FIXES.get(exc.errno or 0, "")
    elsewhere = f"give another folder with {option}" if option else "write elsewhere"
    return UserError(f"cannot write {path}: {why}; {fix}{elsewhere}")


def make_dir(path: Path, option: str | None = None) -> None:
    """``mkdir -p path``; a folder that cannot be made is a one-line ``UserError``."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path, exc, option) from None


def check_writable(folder: Path, option: str) -> None:
    """Refuse, in one line naming ``folder`` and ``option`` (the flag that chooses it),
    a folder that cannot take a run's or a report's files: under a file, read-only (as
    root, permissions do not tell: a file is made and removed), or nearly full. Nothing
    is left behind: the probe is made in the folder or its nearest existing parent."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(existing))
        fd, probe = tempfile.mkstemp(prefix=".chanbench-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
        free_bytes = shutil.disk_usage(existing).free
    except OSError as exc:
        raise write_error(folder, exc, option) from None
    if free_bytes < MIN_FREE_BYTES:
        raise UserError(
            f"cannot write {folder}: {free_bytes / 2**20:.1f} MiB free, under the "
            f"{MIN_FREE_BYTES // 2**20} MiB a run or a report needs; free some space "
            f"there, or give another folder with {option}"
        )


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed over it once the caller has written it:
    readers see the old file or the new one, never half. Nothing is left on failure, and
    a write the file system refuses (full, read-only) is a one-line ``UserError`` that
    says whether the file as last written is kept."""
    make_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise write_error(path, exc) from None
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are for sharing
        os.replace(tmp, path)
    except OSError as exc:
        if exc.filename not in (None, tmp, str(path)):
            raise  # about another file the caller read: not this write's failure
        error = write_error(path, exc)
        if path.exists():
            error = UserError(f"{error}; the file as last written is kept, whole")
        raise error from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically, with every URL's password masked (``redact``)."""
    with atomic_path(path) as tmp:
        tmp.write_text(redact(text))


def write(path: Path, run: Run) -> None:
    """Write ``run`` atomically as JSON (NaN refused: JSON has none)."""
    write_text(path, json.dumps(run.to_json(), indent=1, allow_nan=False) + "\n")


def read_beside(result: Path, relative: str) -> str | None:
    """A file kept beside a result (its profiles), by the path the result records
    (relative to the result's folder); None when it is gone or unreadable."""
    try:
        return (result.parent / relative).read_text(errors="replace")
    except OSError:
        return None


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
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise UserError(
            f"{path}: corrupt: schema_version must be a whole number from 1, got {version!r}"
        )
    if version > SCHEMA_VERSION:
        raise UserError(
            f"{path}: written by a newer chanbench (schema {version}, this one reads "
            f"up to {SCHEMA_VERSION}); upgrade chanbench"
        )
    if not data.get("points"):
        raise UserError(f"{path}: the result has no points (the run measured nothing)")
    try:
        return from_json(data)
    except RecordError as exc:
        raise UserError(f"{path}: corrupt: {exc}") from None
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
