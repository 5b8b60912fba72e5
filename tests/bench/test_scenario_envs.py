"""Python environments in a scenario: ``[envs.NAME]`` with pins, an interpreter or a
source tree, and ``--env NAME=PATH`` on the command line."""

import pytest

from bench.errors import UserError
from bench.scenario import INTERLEAVED, from_dict


def test_environments_are_values_of_the_env_key_and_interleaved():
    scenario = from_dict(
        {
            "envs": {"old": {"requirements": ["channels==4.1.0"]}, "mine": {"python": "/x"}},
            "matrix": {"env": ["current", "old", "mine"], "consumer": ["sync", "async"]},
        },
        "s",
    )
    assert "env" in INTERLEAVED
    assert [(p.consumer, p.env) for p in scenario.points()][:3] == [
        ("sync", "current"),
        ("sync", "old"),
        ("sync", "mine"),
    ]
    assert scenario.envs["old"].requirements == ("channels==4.1.0",)
    assert type(scenario).from_json(scenario.to_json()) == scenario  # recorded whole
    assert scenario.to_json()["envs"]["mine"] == {
        "requirements": [],
        "python": "/x",
        "source": None,
    }


@pytest.mark.parametrize(
    ("envs", "matrix", "words"),
    [
        ({}, {"env": "old"}, "s: env = 'old': must be one of current"),
        ({"current": {"python": "/x"}}, {}, "'current' is chanbench's own"),
        ({"e": {"pip": ["x"]}}, {}, "give requirements (a list of pins), python (a path) or"),
        ({"e": {}}, {}, "give requirements (a list of pins), python (a path) or"),
        ({"e": {"source": 3}}, {}, "envs.e: source must be a path (a string)"),
        ({"e": {"source": "no/such/tree"}}, {}, "no/such/tree' is not a folder"),
        ({"e": {"requirements": "channels"}}, {}, "requirements must be a list of strings"),
        ({"e": {"requirements": ["a"], "python": "/x"}}, {}, "one of the two"),
    ],
)
def test_bad_environments_are_one_line(envs, matrix, words):
    with pytest.raises(UserError) as exc:
        from_dict({"envs": envs, "matrix": matrix}, "s")
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_a_source_tree_is_relative_to_the_scenario_file(tmp_path):
    (tmp_path / "base").mkdir()
    scenario = from_dict(
        {"envs": {"base": {"source": "base", "requirements": ["channels==4.2.0"]}}},
        str(tmp_path / "scenario.toml"),
    )
    assert scenario.envs["base"].source == str(tmp_path / "base")
    assert scenario.envs["base"].requirements == ("channels==4.2.0",)


def test_env_options_add_environments_and_become_the_env_key(tmp_path, monkeypatch):
    """``--env base=../main --env change=.``: checkouts from the current folder, an
    interpreter by its file; ``--set env=`` still chooses among them."""
    (tmp_path / "base").mkdir()
    (tmp_path / "python").write_text("")
    monkeypatch.chdir(tmp_path)
    options = ["base=base", "change=.", "mine=python"]
    scenario = from_dict({"matrix": {"consumer": "async"}}, "s", (), options)
    assert scenario.matrix["env"] == ["base", "change", "mine"]
    assert scenario.envs["base"].source == str(tmp_path / "base")
    assert scenario.envs["change"].source == str(tmp_path)
    assert scenario.envs["mine"].python == str(tmp_path / "python")
    chosen = from_dict({}, "s", ["env=current,change"], options)
    assert chosen.matrix["env"] == ["current", "change"]


@pytest.mark.parametrize(
    ("option", "words"),
    [
        ("base", "--env 'base': write NAME=PATH (an interpreter or a checkout)"),
        ("base=nowhere", "--env base: nowhere is neither an interpreter nor a folder"),
        ("current=.", "envs.current: 'current' is chanbench's own"),
    ],
)
def test_bad_env_options_are_one_line(option, words):
    with pytest.raises(UserError) as exc:
        from_dict({}, "s", (), [option])
    assert words in str(exc.value) and "\n" not in str(exc.value)
