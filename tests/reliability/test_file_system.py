"""The machine's file system says no: a results folder that is a file or under one, a
read-only file system, a full disk, report and chart folders that cannot be written, and
a report interrupted half drawn. Each is one line on stderr and exit 2 (130 for the
interrupt), never a traceback and never exit 1, which CI reads as a regression; and
what was measured or there before is still on disk, whole.

As root, permissions stop no write: read-only is a read-only bind mount and full is a
small tmpfs, both mounted by the test and unmounted after; a test is skipped, saying
why, only where the kernel refuses the mount. No assertion depends on the wording.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import one_error_line

from bench.cli import main
from bench.results.store import MIN_FREE_BYTES

from .conftest import REPO_DIR, TreeWatcher, result_files, scenario_text, write_scenario

RESULT = REPO_DIR / "tests" / "data" / "quick_small.json"
MiB = 2**20


def _mount(*args: str | Path) -> None:
    done = subprocess.run(["mount", *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"the kernel refuses `mount {' '.join(map(str, args))}`: {done.stderr}")


def _unmount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], check=True)  # busy: detach it now


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A folder on a read-only bind mount, holding one file, ``kept.txt``."""
    source, mounted = tmp_path / "source", tmp_path / "read-only"
    source.mkdir()
    mounted.mkdir()
    (source / "kept.txt").write_text("kept\n")
    _mount("--bind", source, mounted)
    try:
        _mount("-o", "remount,bind,ro", mounted)
        yield mounted
    finally:
        _unmount(mounted)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """``tmpfs(size_bytes)``: a fresh tmpfs of that size, mounted under ``tmp_path``."""
    mounted: list[Path] = []

    def mount(size_bytes: int) -> Path:
        path = tmp_path / f"tmpfs{len(mounted)}"
        path.mkdir()
        _mount("-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", path)
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        _unmount(path)


def fill(folder: Path) -> Path:
    """Write zeros into ``folder`` until its file system is full; the filler's path."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(bytes(MiB // 16))
        except OSError as exc:
            assert exc.errno == 28, exc  # ENOSPC
    return filler


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def run_into(tmp_path: Path, results: Path) -> int:
    """``chanbench run`` of the tiny scenario (in-process) with ``--results-dir results``."""
    path = write_scenario(tmp_path, scenario_text())
    return main(["run", str(path), "--no-calibrate", "--results-dir", str(results)])


def names(err: str, path: Path) -> None:
    """One error line that names ``path`` and shows no traceback."""
    assert str(path) in err and "Traceback" not in err, err


@pytest.mark.parametrize("where", ["file", "under-a-file"])
def test_results_dir_that_is_a_file(tmp_path, capsys, nothing_started, where):
    blocker = tmp_path / "results"
    blocker.write_text("not a folder\n")
    results = blocker if where == "file" else blocker / "sub"
    assert run_into(tmp_path, results) == 2
    names(one_error_line(capsys), blocker)
    assert blocker.read_text() == "not a folder\n"


@pytest.mark.parametrize("where", ["itself", "a new subfolder"])
def test_results_dir_on_a_read_only_file_system(
    tmp_path, capsys, nothing_started, read_only, where
):
    results = read_only if where == "itself" else read_only / "results"
    assert run_into(tmp_path, results) == 2
    names(one_error_line(capsys), results)
    assert contents(read_only) == {"kept.txt": b"kept\n"}


def test_results_dir_on_a_full_disk_is_refused_before_measuring(
    tmp_path, capsys, nothing_started, tmpfs
):
    disk = tmpfs(MIN_FREE_BYTES + 4 * MiB)
    filler = fill(disk)
    size = filler.stat().st_size
    assert run_into(tmp_path, disk / "results") == 2
    names(one_error_line(capsys), disk / "results")
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]
    assert filler.stat().st_size == size


@pytest.mark.timeout(120)
def test_disk_full_after_the_first_repeat_keeps_it(tmp_path, tmpfs):
    """The disk fills once the first repeat is saved: the run stops at its next save with
    one line and exit 2, and the saved file is whole, with that repeat in it."""
    disk = tmpfs(MIN_FREE_BYTES + 6 * MiB)
    results = disk / "results"
    scenario = write_scenario(tmp_path, scenario_text(repeats=3))
    err_path = tmp_path / "stderr"
    with err_path.open("wb") as err:
        popen = subprocess.Popen(
            [
                *(sys.executable, "-m", "bench.cli", "run", str(scenario)),
                *("--no-calibrate", "--results-dir", str(results)),
            ],
            cwd=REPO_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    watcher = TreeWatcher(popen.pid)
    try:
        deadline = time.monotonic() + 60
        while not result_files(results) and popen.poll() is None:
            assert time.monotonic() < deadline, "no result file after 60 s"
            time.sleep(0.02)
        fill(disk)
        code = popen.wait(60)
    finally:
        leftovers = watcher.end(popen)
    err = err_path.read_text()
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    (path,) = result_files(results)
    assert str(path) in err
    saved = json.loads(path.read_text())  # whole: the write that failed left it as it was
    assert saved["partial"] is True
    assert [r["status"] for p in saved["points"] for r in p["repeats"]][:1] == ["ok"]
    assert not [p for p in results.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers, leftovers


@pytest.mark.parametrize("where", ["file", "read-only"])
def test_report_to_a_folder_it_cannot_write(tmp_path, capsys, read_only, where):
    if where == "file":
        out = tmp_path / "report"
        out.write_text("not a folder\n")
    else:
        out = read_only / "report"
    assert main(["report", str(RESULT), "-o", str(out)]) == 2
    names(one_error_line(capsys), out)
    assert contents(read_only) == {"kept.txt": b"kept\n"}


def test_compare_charts_to_a_read_only_folder(tmp_path, capsys, read_only):
    """Refused before the table is printed, not after it."""
    charts = read_only / "charts"
    again = shutil.copy(RESULT, tmp_path / "again.json")  # not the same file twice
    assert main(["compare", str(RESULT), str(again), "--charts", str(charts)]) == 2
    names(one_error_line(capsys), charts)
    assert contents(read_only) == {"kept.txt": b"kept\n"}


@pytest.mark.timeout(60)
def test_interrupted_report_says_how_to_make_it(tmp_path, capsys):
    """Ctrl-C while a report is drawn: exit 130, one line with the result and folder to
    make it again from, and no empty folder left; the report it names then makes."""
    out = tmp_path / "report"
    popen = subprocess.Popen(
        [sys.executable, "-m", "bench.cli", "report", str(RESULT), "-o", str(out)],
        cwd=REPO_DIR,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not out.exists() and popen.poll() is None:
            assert time.monotonic() < deadline, "the report folder never appeared"
            time.sleep(0.01)
        popen.send_signal(signal.SIGINT)
        _, err = popen.communicate(timeout=30)
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait(10)
    assert popen.returncode == 130, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert str(RESULT) in err and str(out) in err and "chanbench report" in err, err
    assert not out.exists() or any(out.iterdir())  # no empty folder left behind
    assert main(["report", str(RESULT), "-o", str(out)]) == 0
    assert (out / "index.html").is_file()
