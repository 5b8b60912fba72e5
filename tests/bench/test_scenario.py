"""Scenario files: parsing, validation with one-line errors, matrix expansion, --set."""

from pathlib import Path

import pytest

from bench.errors import UserError
from bench.scenario import Point, load, parse_override

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def test_matrix_crosses_lists_and_puts_consumer_fastest(tmp_path):
    path = write(
        tmp_path,
        """
name = "t"
[matrix]
consumer = ["sync", "async"]
clients = [10, 20]
layer = "memory"
""",
    )
    points = load(path).points()
    assert [(p.clients, p.consumer) for p in points] == [
        (10, "sync"),
        (10, "async"),
        (20, "sync"),
        (20, "async"),
    ]
    assert all(p.layer == "memory" for p in points)


def test_defaults_fill_unset_keys(tmp_path):
    point = load(write(tmp_path, "[matrix]\nclients = 4\n")).points()[0]
    assert point == Point(clients=4)


def test_clients_per_room_sets_room_count():
    assert Point(clients=25, clients_per_room=10).room_count == 3
    assert Point(clients=25, rooms=5).room_count == 5


def test_overrides_replace_matrix_values(tmp_path):
    path = write(tmp_path, "[matrix]\nclients = [10, 100]\nlayer = 'memory'\n")
    scenario = load(path, ["clients=1,2,3", "layer=redis-pubsub", "duration_s=0.5"])
    assert [p.clients for p in scenario.points()] == [1, 2, 3]
    assert scenario.points()[0].layer == "redis-pubsub"
    assert scenario.points()[0].duration_s == 0.5
    assert scenario.overrides["clients"] == [1, 2, 3]


def test_parse_override_types():
    assert parse_override("rate=1.5,2") == ("rate", [1.5, 2])
    assert parse_override("compression=false") == ("compression", [False])
    assert parse_override("consumer=sync") == ("consumer", ["sync"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[matrix]\nclinets = 10\n", "unknown key 'clinets' (did you mean 'clients'?)"),
        ("[matrix]\nclients = 0\n", "clients = 0: must be >= 1"),
        ("[matrix]\nclients = -5\n", "clients = -5: must be >= 1"),
        ("[matrix]\nclients = 2.5\n", "clients = 2.5: must be a whole number"),
        ("[matrix]\nclients = 'ten'\n", "clients = 'ten': must be a number"),
        ("[matrix]\nlayer = 'postgres'\n", "layer = 'postgres': must be one of memory, redis"),
        ("[matrix]\nconsumer = 'fast'\n", "consumer = 'fast': must be one of sync, async"),
        ("[matrix]\nduration_s = -1\n", "duration_s = -1: must be > 0"),
        ("[matrix]\nduration_s = 0\n", "duration_s = 0: must be > 0"),
        ("[matrix]\nclients = 4\nrooms = 5\n", "rooms = 5 with clients = 4"),
        ("[matrix]\nclients = []\n", "clients = []: give at least one value"),
        ("clients = 10\n", "unknown top-level key 'clients' (put point keys inside [matrix])"),
        ("[matrix\nclients = 10\n", "not valid TOML"),
    ],
)
def test_bad_scenarios_are_one_line_errors(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(UserError) as info:
        load(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such scenario file"):
        load(tmp_path / "nope.toml")


def test_bad_override_names_the_key(tmp_path):
    path = write(tmp_path, "[matrix]\nclients = 10\n")
    with pytest.raises(UserError, match=r"--set clinets: unknown key \(did you mean 'clients'\?\)"):
        load(path, ["clinets=5"])
    with pytest.raises(UserError, match="--set clients: clients = 0: must be >= 1"):
        load(path, ["clients=0"])


@pytest.mark.parametrize("name", sorted(p.name for p in SCENARIOS.glob("*.toml")))
def test_shipped_scenarios_load(name):
    scenario = load(SCENARIOS / name)
    assert scenario.points()
    assert scenario.description


def test_shipped_scenarios_include_the_required_set():
    names = {p.stem for p in SCENARIOS.glob("*.toml")}
    assert {"quick", "rooms", "open-loop", "redis", "saturation"} <= names
    assert load(SCENARIOS / "saturation.toml").search is not None


def test_run_name_tells_overridden_runs_apart(tmp_path):
    path = tmp_path / "quick.toml"
    path.write_text('name = "quick"\n[matrix]\nclients = [10, 100]\n')
    assert load(path).run_name() == "quick"
    changed = load(path, ["clients=10,20", "consumer=async"])
    assert changed.run_name() == "quick+clients=10,20+consumer=async"
    assert changed.run_name("ws://127.0.0.1:8000") == "quick+clients=10,20+consumer=async+target"


def test_result_file_name_carries_the_run_name(tmp_path):
    from bench.results import store

    first = store.new_path("quick+clients=10,20+target", "abcdef1234", tmp_path)
    assert first.name.endswith("_quick+clients=10,20+target_abcdef12.json")
    first.write_text("{}")
    assert store.new_path("quick+clients=10,20+target", "abcdef1234", tmp_path) != first


def test_every_numeric_key_has_a_minimum():
    """A new numeric setting on the Point is checked like the others, not a KeyError."""
    from bench.scenario.model import MINIMUM, PARAMS

    numeric = {key for key, kind in PARAMS.items() if kind in (int, float)}
    assert numeric == set(MINIMUM)
