"""Records: dataclasses that go to and from plain JSON values, one pair for all.

The result model and the worker plan cross files and process boundaries as JSON (as
pyperf's do); one generic conversion, driven by the type hints, keeps each record's shape
written down once, in its dataclass. Reading checks each value against its field's type,
so that a corrupt or hand-edited file is refused, naming the first wrong field, rather
than read as numbers it does not hold.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields
from typing import Any, ClassVar, TypeVar, Union

R = TypeVar("R", bound="Record")
Convert = Callable[[Any], Any]


class RecordError(ValueError):
    """A JSON value that does not fit its record: ``path`` names where, e.g.
    ``points[0].repeats[2].throughput.delivered_per_s``."""

    def __init__(self, problem: str, segments: tuple[str, ...] = ()) -> None:
        self.problem, self.segments = problem, segments
        super().__init__(f"{self.path}: {problem}" if segments else problem)

    @property
    def path(self) -> str:
        return "".join(
            s if s.startswith("[") or i == 0 else f".{s}" for i, s in enumerate(self.segments)
        )

    def within(self, segment: str) -> RecordError:
        return RecordError(self.problem, (segment, *self.segments))


class Record:
    """A dataclass that converts to and from plain JSON values.

    ``from_json`` fills missing keys with the field's default and ignores unknown keys,
    so that a newer writer's additions do not break an older reader; a field without a
    default, or named in ``REQUIRED``, must be present. A value of the wrong type is a
    ``RecordError``."""

    REQUIRED: ClassVar[tuple[str, ...]] = ()

    def to_json(self) -> dict[str, Any]:
        assert dataclasses.is_dataclass(self)
        return {f.name: _to_json(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_json(cls: type[R], data: Mapping[str, Any]) -> R:
        if not isinstance(data, Mapping):
            raise RecordError(f"expected an object, got {_show(data)}")
        kwargs: dict[str, Any] = {}
        for name, convert, required in _plan(cls):
            if name in data:
                try:
                    kwargs[name] = convert(data[name])
                except RecordError as exc:
                    raise exc.within(name) from None
            elif required:
                raise RecordError("missing", (name,))
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise RecordError(str(exc)) from None


_PLANS: dict[type, list[tuple[str, Convert, bool]]] = {}


def _plan(cls: type) -> list[tuple[str, Convert, bool]]:
    """Each init field's name, converter and whether a file must hold it."""
    if cls not in _PLANS:
        assert dataclasses.is_dataclass(cls)
        hints = typing.get_type_hints(cls)
        required = getattr(cls, "REQUIRED", ())
        _PLANS[cls] = [
            (
                f.name,
                _converter(hints[f.name]),
                f.name in required or (f.default is MISSING and f.default_factory is MISSING),
            )
            for f in fields(cls)
            if f.init
        ]
    return _PLANS[cls]


def _to_json(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    return value


def _show(value: Any) -> str:
    """A value as the file holds it, short enough for one line."""
    text = json.dumps(value, default=repr)
    return text if len(text) <= 40 else text[:37] + "..."


def _scalar(kind: type, wanted: str) -> Convert:
    """A converter that passes ``kind`` (bools are not numbers) and refuses the rest."""
    kinds: tuple[type, ...] = (int, float) if kind is float else (kind,)

    def convert(value: Any) -> Any:
        if isinstance(value, kinds) and (kind is bool or not isinstance(value, bool)):
            return value
        if kind is int and isinstance(value, float) and value.is_integer():
            return int(value)  # 2.0: a whole number, as another JSON writer may put it
        raise RecordError(f"expected {wanted}, got {_show(value)}")

    return convert


_SCALARS: dict[Any, Convert] = {
    int: _scalar(int, "a whole number"),
    float: _scalar(float, "a number"),
    str: _scalar(str, "a string"),
    bool: _scalar(bool, "true or false"),
}
_CONVERTERS: dict[Any, Convert] = {}


def _converter(hint: Any) -> Convert:
    """How to read a JSON value as ``hint`` names it, checking it; made once per hint."""
    if hint not in _CONVERTERS:
        _CONVERTERS[hint] = _make(hint)
    return _CONVERTERS[hint]


def _make(hint: Any) -> Convert:
    if hint in _SCALARS:
        return _SCALARS[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return _union(args)
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_json
    if origin in (list, tuple):  # tuple[X, ...]: JSON has only lists
        return _sequence(origin, _converter(args[0]) if args else _any)
    if origin is dict:
        key, item = args or (Any, Any)
        return _mapping(key is int, _converter(item))
    return _any


def _any(value: Any) -> Any:
    return value


def _union(args: tuple[Any, ...]) -> Convert:
    options = [_converter(a) for a in args if a is not type(None)]
    nullable = type(None) in args

    def convert(value: Any) -> Any:
        if value is None and nullable:
            return None
        for option in options:
            try:
                return option(value)
            except RecordError as exc:
                error = exc
        raise error if len(options) == 1 else RecordError(f"unexpected {_show(value)}")

    return convert


def _sequence(kind: type, item: Convert) -> Convert:
    def convert(value: Any) -> Any:
        if not isinstance(value, list):
            raise RecordError(f"expected a list, got {_show(value)}")
        out = []
        for i, v in enumerate(value):
            try:
                out.append(item(v))
            except RecordError as exc:
                raise exc.within(f"[{i}]") from None
        return out if kind is list else tuple(out)

    return convert


def _mapping(int_keys: bool, item: Convert) -> Convert:
    def convert(value: Any) -> Any:
        if not isinstance(value, dict):
            raise RecordError(f"expected an object, got {_show(value)}")
        out = {}
        for k, v in value.items():
            try:
                out[_int_key(k) if int_keys else k] = item(v)
            except RecordError as exc:
                raise exc.within(str(k)) from None
        return out

    return convert


def _int_key(key: str) -> int:
    try:
        return int(key)
    except ValueError:
        raise RecordError(f"expected a whole number as the key, got {_show(key)}") from None
