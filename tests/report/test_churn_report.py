"""The report's churn section and charts, from a churn result built in memory."""

from dataclasses import replace
from pathlib import Path

from bench.judge.leaks import judge_all
from bench.report import churn
from bench.report.charts.churn import churn_charts, staircase_charts
from bench.report.layout import Source, layout
from bench.results.churn import Churn, Cycle, Staircase, Step
from bench.results.model import PointResult, Repeat, Run
from bench.results.profile import ProfileRecord, Survivor
from bench.run.churn import UNDER_MEMRAY
from bench.scenario import Point

CLIENTS = 10
LEAK = 65536


def churn_run() -> Run:
    cycles = [
        Cycle(
            index=i,
            counters={"rss_bytes": 50e6 + i * CLIENTS * LEAK, "open_fds": 12.0},
        )
        for i in range(8)
    ]
    record = Churn(
        clients=CLIENTS,
        warmup_cycles=2,
        settle_s=2.0,
        settle_reason="Daphne's 1 s check",
        cycles=cycles,
        unavailable={"asyncio_tasks": "a --target", "gc_objects": "a --target"},
    )
    record.verdicts = judge_all(
        {n: record.series(n) for n in ("rss_bytes", "open_fds")}, 2, CLIENTS
    )
    leaky = Point(fault="leak", cycles=8)
    point = PointResult(id="leak", label="leak", point=leaky, repeats=[Repeat(0, churn=record)])
    return Run(points=[point])


def test_table_gives_each_verdict_with_bytes_per_connection():
    headers, rows = churn.table(churn_run())
    assert headers[:3] == ["point", "counter", "verdict"]
    assert rows[0][:5] == ["leak", "RSS", "leak", "640.0 KiB", "64.0 KiB"]
    assert rows[1][:3] == ["leak", "open fds", "flat"]


def test_notes_say_the_settle_and_what_was_not_read():
    (line,) = churn.notes(churn_run())
    assert "8 cycles of 10 clients, 2 of them warm-up; settled 2 s" in line
    assert "not read: asyncio tasks, gc objects (a --target)" in line


def test_no_churn_no_section():
    plain = PointResult(id="a", point=Point(), repeats=[Repeat(0)])
    assert churn.table(Run(points=[plain])) is None


def test_one_chart_per_churn_point(tmp_path: Path):
    charts = churn_charts(layout([Source("run", churn_run())]), tmp_path)
    assert [c.name for c in charts] == ["churn-leak"]
    assert (tmp_path / "churn-leak.png").stat().st_size > 0


def test_brief_table_keeps_memory_and_what_is_not_flat():
    _, rows = churn.table(churn_run(), brief=True)
    assert [row[1] for row in rows] == ["RSS"]  # open fds are flat


def test_summary_names_what_leaks_and_per_connection():
    (line,) = churn.summary_items(churn_run())
    assert line == "leak: leak in RSS (64.0 KiB per connection-cycle)"


def test_the_line_memray_found_holding_it_is_beside_the_leak():
    run = churn_run()
    held = Survivor(
        file="chat/faults.py",
        line=73,
        function="connect",
        size_bytes=6 * CLIENTS * LEAK,
        allocations=6 * CLIENTS,
        bytes_by_cycle=[CLIENTS * LEAK] * 8,
        allocations_by_cycle=[CLIENTS] * 8,
    )
    run.points[0].repeats[0].profile = ProfileRecord(kind="memory", survivors=[held])
    found = "chat/faults.py:73 (connect, 640.0 KiB per cycle, memray)"
    assert churn.summary_items(run) == [
        f"leak: leak in RSS (64.0 KiB per connection-cycle); held at {found}",
        f"leak: memory not judged under memray; the most held per cycle at {found}",
    ]
    headers, (row,) = churn.survivor_table(run)
    assert headers[:4] == ["point", "line", "function", "KiB / cycle"]
    assert row[:5] == ["leak", "chat/faults.py:73", "connect", "640.0 KiB", "60"]
    # profile = none,memory: the verdict from one point, the line from its sibling.
    unprofiled = run.points[0]
    profiled = PointResult(
        id="m", label="memory", point=replace(unprofiled.point, profile="memory")
    )
    profiled.repeats, unprofiled.repeats = unprofiled.repeats, churn_run().points[0].repeats
    run.points.append(profiled)
    assert churn.summary_items(run)[0].endswith(f"; held at {found}")
    assert churn.survivor_table(churn_run()) is None  # no memory profile, no table


def stairs_run() -> Run:
    steps = [Step(connections=n, counters={"rss_bytes": 70e6 + n * 36 * 1024}) for n in (0, 50)]
    steps.append(Step(connections=100, counters={"rss_bytes": 70e6 + 100 * 36 * 1024}))
    steps[1].connect_ms = {"p50": 4.0, "p90": 9.5, "p99": 20.25, "p99_9": 21.0, "max": 22.0}
    record = Staircase(steps=steps, rss_per_connection=36 * 1024.0, ci_low=35e3, ci_high=38e3)
    point = PointResult(id="s", label="async", point=Point(idle_max=100), repeats=[Repeat(0)])
    point.repeats[0].staircase = record
    return Run(points=[point])


def test_staircase_table_lines_and_chart(tmp_path: Path):
    headers, rows = churn.staircase_table(stairs_run())
    assert [row[1] for row in rows] == ["0", "50", "100"]
    # Connect times at each step: p50, p90, p99 and max; none where nothing connected.
    first = headers.index("connect p50 ms")
    assert headers[first : first + 4] == [f"connect {p} ms" for p in ("p50", "p90", "p99", "max")]
    assert rows[1][first : first + 4] == ["4.0", "9.5", "20.2", "22.0"]
    assert rows[0][first : first + 4] == ["-"] * 4
    (line,) = churn.staircase_lines(stairs_run())
    assert line.startswith("async: 36.0 KiB of RSS per idle connection")
    charts = staircase_charts(layout([Source("run", stairs_run())]), tmp_path)
    assert [c.name for c in charts] == ["staircase-async"]
    assert (tmp_path / "staircase-async.svg").stat().st_size > 0


def soak_run() -> Run:
    """A soak of 8 samples, 5 reconnects each, 64 KiB kept per reconnect."""
    samples = [
        Cycle(
            index=i,
            t_s=5.0 * (i + 1),
            reconnects=5 * (i + 1),
            read_ms={"proc": 2.0, "probe": 45.0 + i},
            counters={"rss_bytes": 50e6 + i * 5 * LEAK, "probe_pause_ms": 40.0 + i},
        )
        for i in range(8)
    ]
    record = Churn(
        kind="soak",
        clients=CLIENTS,
        warmup_cycles=2,
        cycles=samples,
        sample_s=5.0,
        connections_per_sample=5.0,
        per="reconnect",
    )
    record.verdicts = judge_all({"rss_bytes": record.series("rss_bytes")}, 2, 5.0)
    point = Point(fault="leak", mode="open", sample_s=5.0, reconnect_per_s=1.0)
    result = PointResult(id="soak", label="leak", point=point, repeats=[Repeat(0, churn=record)])
    return Run(points=[result])


def test_a_soak_reads_per_sample_and_per_reconnect():
    headers, rows = churn.table(soak_run())
    assert headers[3] == "slope / sample"
    assert rows[0][:5] == ["leak", "RSS", "leak", "320.0 KiB", "64.0 KiB"]
    (line,) = churn.notes(soak_run())
    assert "8 samples every 5 s of one steady load (10 clients, 1 reconnecting a second)" in line
    assert "per connection: per reconnect (5.0 a sample)" in line
    assert "probe held the server's event loop 44 ms (median; max 47)" in line
    (summary,) = churn.summary_items(soak_run())
    assert summary == "leak: leak in RSS (64.0 KiB per reconnect)"


def test_a_soak_has_the_churn_chart_over_its_samples(tmp_path: Path):
    (chart,) = churn_charts(layout([Source("run", soak_run())]), tmp_path)
    assert chart.title.startswith("Soak: leak, each counter over the samples")
    assert (tmp_path / f"{chart.name}.png").stat().st_size > 0


def test_a_staircase_under_memray_says_why_its_memory_is_not_fitted():
    run = stairs_run()
    record = run.points[0].repeats[0].staircase
    record.rss_per_connection = record.ci_low = record.ci_high = None
    record.unavailable = {"rss_bytes": UNDER_MEMRAY}
    (line,) = churn.staircase_lines(run)
    assert line.startswith("async: memory per idle connection not fitted (profile = memory:")
