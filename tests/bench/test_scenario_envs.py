"""Python environments in a scenario: ``[envs.NAME]`` with pins or an interpreter."""

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
    assert scenario.to_dict()["envs"]["mine"] == {"requirements": [], "python": "/x"}


@pytest.mark.parametrize(
    ("envs", "matrix", "words"),
    [
        ({}, {"env": "old"}, "s: env = 'old': must be one of current"),
        ({"current": {"python": "/x"}}, {}, "'current' is chanbench's own"),
        ({"e": {"pip": ["x"]}}, {}, "give requirements (a list of pins) or python (a path)"),
        ({"e": {"requirements": "channels"}}, {}, "requirements must be a list of strings"),
        ({"e": {"requirements": ["a"], "python": "/x"}}, {}, "one of the two"),
    ],
)
def test_bad_environments_are_one_line(envs, matrix, words):
    with pytest.raises(UserError) as exc:
        from_dict({"envs": envs, "matrix": matrix}, "s")
    assert words in str(exc.value) and "\n" not in str(exc.value)
