"""The report's profiles section, on a real result's points given hand-written profiles:
the top frame per thread class, the flame graphs, the differential between workloads,
and the profiler's cost computed from the points' own repeats."""

import copy
import json
import statistics
from dataclasses import replace
from pathlib import Path

from bench import report
from bench.report import profiles
from bench.report.layout import Source
from bench.results import store
from bench.results.profile import ProcessProfile, ProfileRecord

REAL = Path(__file__).resolve().parents[1] / "data" / "quick_small.json"
LOOP = "thread (1): MainThread;run (asyncio/runners.py:1);handle (chat/consumers.py:9)"
STACKS = {
    "chat": f"{LOOP} 30\n{LOOP};send (chat/consumers.py:20) 10\n",
    "cpu": f"{LOOP} 10\n{LOOP};burn_cpu (chat/work.py:24) 30\n"
    "thread (1): MainThread;run (asyncio/runners.py:1);EpollSelector.select (selectors.py:1) 40\n",
}
# py-spy's CPU over a 1 s window, and how much slower the profiled repeats are made.
SPY_CPU_S = 0.05
SLOWER = 0.8


def profiled_source(tmp_path: Path) -> Source:
    """The real async clients=10 point as chat and cpu, each unprofiled and profiled."""
    run = store.from_json(json.loads(REAL.read_text()))
    (base,) = [p for p in run.points if p.point.consumer == "async" and p.point.clients == 10]
    points = []
    for workload in ("chat", "cpu"):
        for profile in ("none", "cpu"):
            point = copy.deepcopy(base)
            point.point = replace(base.point, workload=workload, profile=profile)
            point.label = point.point.label(["workload", "profile"])
            if profile == "cpu":
                (tmp_path / "r").mkdir(exist_ok=True)
                (tmp_path / "r" / f"{workload}.folded").write_text(STACKS[workload])
                for rep in point.ok_repeats():
                    assert rep.throughput is not None
                    rep.throughput.delivered_per_s *= SLOWER
                    rep.profile = ProfileRecord(
                        rate_hz=100,
                        window_s=1.0,
                        processes=[ProcessProfile(pid=1, name="daphne", samples=80)],
                        point_file=f"r/{workload}.folded",
                        profiler_cpu_s=SPY_CPU_S,
                    )
            points.append(point)
    run.points = points
    return Source("r", run, tmp_path / "r.json")


def test_frames_per_thread_class_and_idle_apart(tmp_path):
    source = profiled_source(tmp_path)
    chat, cpu = profiles.profiled_points(source)
    assert (cpu.busy.total(), cpu.idle.total()) == (40, 40)
    rows = profiles.frame_rows(cpu)
    assert rows[0] == [
        "event loop (main thread) (100.0%)",
        "burn_cpu (chat/work.py)",
        "75.0%",
        "75.0%",
    ]
    assert rows[1][1:] == ["handle (chat/consumers.py)", "25.0%", "100.0%"]
    ((key, a, b),) = profiles.pairs([chat, cpu])
    assert key == "workload" and (a, b) == (chat, cpu)
    first = profiles.change_rows(chat.busy, cpu.busy)[0]
    assert first == ["burn_cpu (chat/work.py)", "+75.0", "0.0% -> 75.0%", "0.0% -> 75.0%"]


def test_the_cost_is_the_points_own_medians(tmp_path):
    source = profiled_source(tmp_path)
    costs = profiles.costs(source)
    assert [c.name for c in costs] == ["async workload=chat", "async workload=cpu"]
    row = costs[0].row()
    off = statistics.median(r.throughput.delivered_per_s for r in costs[0].without.ok_repeats())
    on = statistics.median(r.throughput.delivered_per_s for r in costs[0].with_.ok_repeats())
    assert row[1] == f"{off:,.0f} -> {on:,.0f}"
    assert row[2] == f"{on / off:.2f}x" == f"{SLOWER:.2f}x"
    assert row[5] == f"{100 * SPY_CPU_S:.0f}%"


def test_the_report_has_the_section_and_a_flame_graph_per_profiled_point(tmp_path):
    source = profiled_source(tmp_path)
    out = tmp_path / "report"
    report.write_report([source], out)
    text = (out / "README.md").read_text()
    section = text[text.index("## Profiles") : text.index("## Methodology")]
    assert "### The profiler's cost" in section
    assert "carry its cost (measured below)" in section
    assert "### What changed with workload: async workload=chat profile=cpu" in section
    assert "By total share" in section and "By own share" in section
    for workload in ("chat", "cpu"):
        name = f"flame-async-workload-{workload}-profile-cpu"
        assert (out / f"{name}.png").is_file() and (out / f"{name}.svg").is_file()
        assert f"]({name}.png)" in section
        assert f"]({name}.png)" not in text[text.index("## Charts") :]  # drawn once
    svg = (out / "flame-async-workload-cpu-profile-cpu.svg").read_text()
    assert "burn_cpu" in svg and "EpollSelector" not in svg  # idle left out


def test_a_profile_whose_file_is_gone_is_left_out(tmp_path):
    source = profiled_source(tmp_path)
    (tmp_path / "r" / "chat.folded").unlink()
    assert [p.point.point.workload for p in profiles.profiled_points(source)] == ["cpu"]
