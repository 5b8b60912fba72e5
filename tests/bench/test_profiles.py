"""Collapsed stacks and their analysis, on small hand-written profiles whose own and
total times, thread classes and differential are counted by hand."""

from collections import Counter

from bench.profiles import analysis, stacks

# Two processes' py-spy output (thread IDs differ), one process idle in its selector.
LOOP = "MainThread;run (asyncio/runners.py:118);_run_once (asyncio/base_events.py:1897)"
POOL = (
    "ThreadPoolExecutor-0_0;_bootstrap (threading.py:995);_worker (concurrent/futures/thread.py:81)"
)
PROCESS_A = f"""\
thread (101): {LOOP};handle (chat/consumers.py:40) 6
thread (101): {LOOP} 2
thread (101): MainThread;run (asyncio/runners.py:118);EpollSelector.select (selectors.py:468) 5
thread (102): {POOL} 3
thread (102): {POOL};burn_cpu (chat/work.py:24) 4

"""
PROCESS_B = f"""\
thread (201): {LOOP};handle (chat/consumers.py:40) 4
thread (205): Thread-3 (poll);poll (twisted/x.py:10) 1
not a stack line
"""


def test_parse_reads_counts_and_skips_what_is_not_a_stack():
    parsed = stacks.parse(PROCESS_B)
    assert parsed.total() == 5
    assert len(parsed) == 2


def test_merge_joins_the_same_thread_of_two_processes():
    merged = stacks.merge([stacks.parse(PROCESS_A), stacks.parse(PROCESS_B)])
    handle = (
        "MainThread",
        "run (asyncio/runners.py:118)",
        "_run_once (asyncio/base_events.py:1897)",
        "handle (chat/consumers.py:40)",
    )
    assert merged[handle] == 10
    assert merged.total() == 25
    # written and read back: the same profile, heaviest stack first
    text = stacks.folded(merged)
    assert text.splitlines()[0] == ";".join(handle) + " 10"
    assert stacks.parse(text) == merged


def test_thread_classes_and_idle_leaves():
    merged = stacks.merge([stacks.parse(PROCESS_A), stacks.parse(PROCESS_B)])
    busy, idle = stacks.split_idle(merged)
    assert idle.total() == 5 + 3  # the selector's wait, the executor's empty queue
    parts = analysis.by_thread_class(busy)
    assert {name: part.total() for name, part in parts.items()} == {
        stacks.LOOP: 12,
        stacks.EXECUTOR: 4,
        stacks.OTHER: 1,
    }
    assert stacks.thread_class(("thread (7): ThreadPoolExecutor-3_1", "f (a.py:1)")) == (
        stacks.EXECUTOR
    )


def test_own_and_total_by_hand():
    busy, _ = stacks.split_idle(stacks.parse(PROCESS_A))
    rows = {r.frame: r for r in analysis.frame_times(busy)}
    # handle is the leaf of 6 samples; _run_once is on the stack of 8, the leaf of 2;
    # run is on every main-thread sample (8 busy), the leaf of none
    assert (rows["handle (chat/consumers.py)"].own, rows["handle (chat/consumers.py)"].total) == (
        6,
        6,
    )
    assert (
        rows["_run_once (asyncio/base_events.py)"].own,
        rows["_run_once (asyncio/base_events.py)"].total,
    ) == (2, 8)
    assert (rows["run (asyncio/runners.py)"].own, rows["run (asyncio/runners.py)"].total) == (0, 8)
    assert "MainThread" not in rows  # the thread is not a frame
    top = analysis.top_frames(busy, 2)
    assert [r.frame for r in top] == ["handle (chat/consumers.py)", "burn_cpu (chat/work.py)"]
    assert analysis.top_frames(busy, 1, by="total")[0].frame in {
        "run (asyncio/runners.py)",
        "_run_once (asyncio/base_events.py)",
    }


def test_a_recursive_frame_counts_once_in_total():
    rec = stacks.parse("MainThread;f (a.py:1);f (a.py:2);f (a.py:3) 5\n")
    (row,) = analysis.frame_times(rec)
    assert (row.frame, row.own, row.total) == ("f (a.py)", 5, 5)


def test_differential_puts_the_largest_change_first_and_ignores_line_numbers():
    base = stacks.parse("MainThread;loop (l.py:1);chat (c.py:10) 8\nMainThread;loop (l.py:1) 2\n")
    new = stacks.parse(
        "MainThread;loop (l.py:1);chat (c.py:12) 4\n"  # another release: another line
        "MainThread;loop (l.py:1);chat (c.py:12);burn_cpu (w.py:5) 5\n"
        "MainThread;loop (l.py:1) 1\n"
    )
    changes = analysis.differential(base, new)
    first = changes[0]
    assert first.frame == "burn_cpu (w.py)"
    assert (first.own_a, first.own_b) == (0.0, 0.5)
    by_frame = {c.frame: c for c in changes}
    chat = by_frame["chat (c.py)"]  # one row: line numbers do not split it
    assert (chat.own_a, chat.own_b) == (0.8, 0.4)
    assert chat.own_change == -0.4 and round(chat.total_change, 9) == 0.1
    assert analysis.differential(base, new, by="total")[0].frame == "burn_cpu (w.py)"


def test_an_empty_profile_compares_as_nothing():
    assert analysis.differential(Counter(), Counter()) == []
    assert analysis.frame_times(Counter()) == []


def test_profile_diff_prints_the_largest_change_first(tmp_path, capsys):
    from bench.cli import main

    base, new = tmp_path / "base.folded", tmp_path / "new.folded"
    base.write_text("MainThread;loop (l.py:1);chat (c.py:10) 8\n")
    new.write_text(
        "MainThread;loop (l.py:1);chat (c.py:10) 4\nMainThread;loop (l.py:1);hop (h.py:3) 4\n"
    )
    assert main(["profile-diff", str(base), str(new), "--by", "own"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[3].startswith("chat (c.py)") or rows[3].startswith("hop (h.py)")
    assert {rows[3].split()[0], rows[4].split()[0]} == {"chat", "hop"}
    assert "+50.0" in "\n".join(rows) and "-50.0" in "\n".join(rows)


def test_profile_diff_refuses_what_is_not_a_profile_in_one_line(tmp_path, capsys):
    from helpers import one_error_line

    from bench.cli import main

    idle = tmp_path / "idle.folded"
    idle.write_text("MainThread;run (a.py:1);EpollSelector.select (selectors.py:468) 9\n")
    assert main(["profile-diff", str(idle), str(idle)]) == 2
    assert "only idle samples" in one_error_line(capsys)
    assert main(["profile-diff", str(tmp_path / "gone"), str(idle)]) == 2
    assert "cannot read" in one_error_line(capsys)


def test_a_target_profile_needs_a_traceable_server_pid_and_no_memray():
    import pytest

    from bench.errors import UserError
    from bench.run.profiling import check_traceable
    from bench.scenario import Point

    check_traceable([Point()], None)  # nothing profiled: nothing to check
    with pytest.raises(UserError, match="needs --server-pid"):
        check_traceable([Point(), Point(profile="cpu")], None)
    with pytest.raises(UserError, match="profile = memory runs the server's command"):
        check_traceable([Point(profile="memory")], 12345)


def test_py_spys_reason_in_one_line():
    from bench.run.profiling import _error_line

    said = "Error: Failed to find python version from target process\n\nStack backtrace:\n  0: x\n"
    assert _error_line(said) == "Failed to find python version from target process"
    denied = "Permission Denied: Try running again with elevated permissions by going 'sudo'"
    assert _error_line(denied).startswith("permission denied (ptrace")
    assert _error_line("") == "py-spy said nothing"
