"""Writes the file system refuses are one-line ``UserError``s that name the path, leave
what was there whole, and leave nothing of their own behind. The read-only and full
file systems need a mount, so they are in tests/reliability/test_file_system.py; here
is what a plain file in the way shows, without starting a process."""

import errno

import pytest

from bench.errors import UserError
from bench.results import store


def test_a_write_under_a_file_names_the_file_and_keeps_it(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("mine\n")
    with pytest.raises(UserError) as info:
        store.write_text(blocker / "run.json", "{}\n")
    assert str(blocker) in str(info.value) and "\n" not in str(info.value)
    assert blocker.read_text() == "mine\n"


def test_a_refused_write_says_the_last_file_is_kept(tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    store.write_text(path, "first\n")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "replace", full)
    with pytest.raises(UserError) as info:
        store.write_text(path, "second\n")
    message = str(info.value)
    assert str(path) in message and "No space left on device" in message and "kept" in message
    assert path.read_text() == "first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temporary file left


def test_another_files_error_in_the_body_is_not_called_this_write(tmp_path):
    """An OSError about a file the caller reads is the caller's, not the write's."""
    with pytest.raises(FileNotFoundError), store.atomic_path(tmp_path / "out.json"):
        (tmp_path / "missing.txt").read_text()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("depth", [0, 2])
def test_check_writable_refuses_a_folder_under_a_file(tmp_path, depth):
    blocker = tmp_path / "out"
    blocker.write_text("mine\n")
    folder = blocker.joinpath(*["sub"] * depth)
    with pytest.raises(UserError) as info:
        store.check_writable(folder, "-o")
    assert str(blocker) in str(info.value) and "-o" in str(info.value)


def test_check_writable_leaves_nothing_behind(tmp_path):
    store.check_writable(tmp_path / "new" / "report", "-o")
    assert list(tmp_path.iterdir()) == []  # neither the folder nor a probe file
