"""The report's environments section: each environment against the one before it, with
compare's verdict, the CPU that explains it and the versions that changed."""

import json
from pathlib import Path

from helpers import scale_repeat, with_envs, with_repeats

from bench.report import document, environments, render
from bench.report.layout import Source, layout
from bench.results import store

REAL = Path(__file__).resolve().parents[1] / "data" / "quick_small.json"


def software(channels: str) -> dict:
    return {
        "python": "3.11.7",
        "executable": f"/envs/{channels}",
        "packages": {"channels": channels},
    }


def releases() -> dict:
    """Three releases of the quick result, 5 repeats each; on the second, the async
    consumer delivers half as much."""
    found = {"4.1.0": software("4.1.0"), "4.2.0": software("4.2.0"), "4.3.0": software("4.3.0")}
    result = with_envs(with_repeats(json.loads(REAL.read_text()), 5), found)
    result["scenario"]["matrix"]["env"] = list(found)
    for point in result["points"]:
        if point["params"]["env"] != "4.1.0" and point["params"]["consumer"] == "async":
            for rep in point["repeats"]:
                scale_repeat(rep, {"delivered_per_s": 0.5})
    return result


def test_each_environment_is_set_against_the_one_before_it():
    run = store.from_json(releases())
    headers, rows = environments.table(run)
    assert headers == environments.HEADERS
    by_step = {(r[0], r[1]): r for r in rows}
    assert len(rows) == 8  # 2 loads x 2 consumers x 2 steps
    halved = by_step[("async clients=10", "4.1.0 -> 4.2.0")]
    assert halved[3] == "0.50x" and halved[5] == "worse (p = 0.008)"
    assert halved[-1] == "channels 4.1.0 -> 4.2.0"
    assert by_step[("async clients=10", "4.2.0 -> 4.3.0")][5].startswith("not significant")
    assert by_step[("sync clients=20", "4.1.0 -> 4.2.0")][5].startswith("not significant")
    assert environments.answer(run) == (
        "Steps with a verdict: sync clients=10: no step better or worse. async clients=10: "
        "4.1.0 -> 4.2.0 worse (0.50x the messages/s). sync clients=20: no step better or "
        "worse. async clients=20: 4.1.0 -> 4.2.0 worse (0.50x the messages/s)."
    )


def test_the_section_is_in_the_report_only_with_several_environments():
    def markdown(result: dict) -> str:
        _, blocks = document.document(layout([Source("", store.from_json(result))]), [])
        return render.markdown(blocks)

    assert "## Environments: which release changed what" in markdown(releases())
    assert "Environments:" not in markdown(json.loads(REAL.read_text()))
