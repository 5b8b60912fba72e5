"""``compare`` on churn verdicts: a counter flat in base and leaking in new fails the gate
with its own exit code (5; 1 when throughput, latency or loss regressed too); the reverse
does not."""

import copy
import json
from pathlib import Path

from helpers import scale_repeat, with_repeats

from bench.cli import main
from bench.errors import ExitCode
from bench.results.churn import Churn, Staircase, Verdict

REAL = Path(__file__).resolve().parents[1] / "data" / "quick_small.json"
CLIENTS = 20


def rss(verdict: str, per_connection: float) -> Verdict:
    slope = per_connection * CLIENTS
    return Verdict(
        metric="rss_bytes",
        verdict=verdict,
        rule="slope",
        unit="bytes",
        slope_per_cycle=slope,
        per_connection=per_connection,
        ci_low=0.9 * slope,
        ci_high=1.1 * slope,
    )


def with_churn(verdict: Verdict) -> dict:
    """The real result, each repeat carrying a churn record with ``verdict``."""
    out = json.loads(REAL.read_text())
    for point in out["points"]:
        for rep in point["repeats"]:
            rep["churn"] = Churn(clients=CLIENTS, verdicts=[copy.deepcopy(verdict)]).to_json()
    return out


def compare(tmp_path: Path, base: dict, new: dict, capsys) -> tuple[int, str]:
    paths = []
    for name, result in (("base.json", base), ("new.json", new)):
        (tmp_path / name).write_text(json.dumps(result))
        paths.append(str(tmp_path / name))
    code = main(["compare", *paths])
    return code, capsys.readouterr().out


def test_flat_to_leak_is_a_regression(tmp_path, capsys):
    code, out = compare(
        tmp_path, with_churn(rss("flat", 10.0)), with_churn(rss("leak", 65536.0)), capsys
    )
    assert code == ExitCode.LEAK == 5, out
    assert "RSS: flat -> leak REGRESSION" in out
    # Memory per connection-cycle, with each side's interval.
    assert "64.0 KiB (57.6 to 70.4) (new)" in out
    assert "flat in base and leaking in new" in out


def test_leak_to_flat_is_no_regression(tmp_path, capsys):
    code, out = compare(
        tmp_path, with_churn(rss("leak", 65536.0)), with_churn(rss("flat", 10.0)), capsys
    )
    assert code == 0, out
    assert "RSS: leak -> flat;" in out
    assert "REGRESSION" not in out


def test_memory_per_idle_connection_is_set_side_by_side(tmp_path, capsys):
    def stairs(per_kib: float) -> dict:
        out = json.loads(REAL.read_text())
        record = Staircase(
            rss_per_connection=per_kib * 1024,
            ci_low=(per_kib - 1) * 1024,
            ci_high=(per_kib + 1) * 1024,
        ).to_json()
        for point in out["points"]:
            for rep in point["repeats"]:
                rep["staircase"] = record
        return out

    code, out = compare(tmp_path, stairs(35.0), stairs(99.0), capsys)
    assert code == 0, out  # reported, never gated
    assert "RSS per idle connection 35.0 KiB (34.0 to 36.0) (base), 99.0 KiB" in out


def test_a_leak_beside_a_slowdown_exits_as_the_regression(tmp_path, capsys):
    """Two things worse: the throughput regression's code (1), the leak still named."""
    base = with_repeats(with_churn(rss("flat", 10.0)), 5)
    new = with_repeats(with_churn(rss("leak", 65536.0)), 5)
    for point in new["points"]:
        for rep in point["repeats"]:
            scale_repeat(rep, {"delivered_per_s": 0.5})
    code, out = compare(tmp_path, base, new, capsys)
    assert code == ExitCode.REGRESSION == 1, out
    assert "flat in base and leaking in new" in out


def test_a_soak_compares_per_reconnect(tmp_path, capsys):
    """A soak's per_connection is per reconnect: its interval is divided by the
    reconnects of a sample, not by the clients held."""

    def soak(verdict: Verdict) -> dict:
        out = with_churn(verdict)
        for point in out["points"]:
            for rep in point["repeats"]:
                rep["churn"].update(kind="soak", connections_per_sample=10.0, per="reconnect")
        return out

    leak = rss("leak", 65536.0)  # slope 20 x 64 KiB a sample: 10 reconnects, 128 KiB each
    leak.per_connection = leak.slope_per_cycle / 10
    code, out = compare(tmp_path, soak(rss("flat", 10.0)), soak(leak), capsys)
    assert code == ExitCode.LEAK, out
    assert "per reconnect" in out
    assert "128.0 KiB (115.2 to 140.8) (new)" in out
