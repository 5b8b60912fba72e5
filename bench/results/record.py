"""Records: dataclasses that go to and from plain JSON values, one pair for all.

The result model and the worker plan cross files and process boundaries as JSON (as
pyperf's do); one generic conversion, driven by the type hints, keeps each record's shape
written down once, in its dataclass.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar, Union

R = TypeVar("R", bound="Record")


class Record:
    """A dataclass that converts to and from plain JSON values.

    ``from_json`` fills missing keys with the field's default and ignores unknown keys,
    so that a newer writer's additions do not break an older reader.
    """

    def to_json(self) -> dict[str, Any]:
        assert dataclasses.is_dataclass(self)
        return {f.name: _to_json(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_json(cls: type[R], data: Mapping[str, Any]) -> R:
        hints = _hints(cls)
        kwargs: dict[str, Any] = {}
        assert dataclasses.is_dataclass(cls)
        for f in fields(cls):
            if f.name in data and f.init:
                kwargs[f.name] = _from_json(hints[f.name], data[f.name])
        return cls(**kwargs)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _to_json(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    return value


def _from_json(hint: Any, value: Any) -> Any:
    """``value`` read as the type ``hint`` names: records, lists and dicts of them."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _from_json(options[0], value) if len(options) == 1 else value
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_json(value)
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return [_from_json(item, v) for v in value]
    if origin is tuple:  # tuple[X, ...]: JSON has only lists
        item = (typing.get_args(hint) or (Any,))[0]
        return tuple(_from_json(item, v) for v in value)
    if origin is dict:
        key, item = typing.get_args(hint) or (Any, Any)
        return {(int(k) if key is int else k): _from_json(item, v) for k, v in value.items()}
    return value
