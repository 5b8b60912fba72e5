"""Channel layers by dotted path in a scenario: ``[layers.NAME]`` with BACKEND and CONFIG."""

import pytest

from bench.errors import UserError
from bench.scenario import from_dict

PG = {"BACKEND": "channels_postgres.core.PostgresChannelLayer", "CONFIG": "{database}"}


def test_a_named_layer_is_a_value_of_the_layer_key():
    scenario = from_dict({"layers": {"pg": PG}, "matrix": {"layer": ["memory", "pg"]}}, "s")
    assert [p.layer for p in scenario.points()] == ["memory", "pg"]
    layer = scenario.layers["pg"]
    assert layer.uses_database and not layer.uses_redis and layer.app == "channels_postgres"
    assert scenario.to_json()["layers"] == {
        "pg": {"backend": PG["BACKEND"], "config": PG["CONFIG"]}
    }
    assert type(scenario).from_json(scenario.to_json()) == scenario  # recorded whole


@pytest.mark.parametrize(
    ("layers", "matrix", "words"),
    [
        ({}, {"layer": "pg"}, "s: layer = 'pg': must be one of memory, redis, redis-pubsub"),
        ({"redis": PG}, {}, "layers.redis: 'redis' is a built-in layer"),
        ({"pg": {"BACKEND": "nodots"}}, {}, "BACKEND = 'nodots': give the layer class's dotted"),
        ({"pg": {**PG, "HOSTS": 1}}, {}, "give BACKEND (a dotted path) and CONFIG, nothing else"),
    ],
)
def test_bad_layers_are_one_line(layers, matrix, words):
    with pytest.raises(UserError) as exc:
        from_dict({"layers": layers, "matrix": matrix}, "s")
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_several_workers_on_a_layer_by_path_are_allowed():
    scenario = from_dict({"layers": {"pg": PG}, "matrix": {"layer": "pg", "workers": 2}}, "s")
    assert scenario.points()[0].workers == 2
