"""The scenario: what to measure (``model``: the point, the matrix) and how a scenario
file and the command line's options become one (``parse``)."""

from bench.scenario.model import (
    INTERLEAVED,
    KEYS,
    PARAMS,
    CustomConsumer,
    CustomEnv,
    CustomLayer,
    Point,
    Scenario,
    Search,
)
from bench.scenario.parse import from_dict, load, parse_env_option, parse_override

__all__ = [
    "INTERLEAVED",
    "KEYS",
    "PARAMS",
    "CustomConsumer",
    "CustomEnv",
    "CustomLayer",
    "Point",
    "Scenario",
    "Search",
    "from_dict",
    "load",
    "parse_env_option",
    "parse_override",
]
