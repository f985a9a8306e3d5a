"""Options declared once, on dataclass fields, and turned into CLI flags and checks from there.

A config field says its default, its help text and its valid range in one place:

    @dataclass
    class TrainConfig:
        lr: float = option(1e-4, "peak learning rate", low=0.0, low_open=True)
        schedule: str = option("linear", "learning-rate schedule", choices=("linear", "cosine"))

    def __post_init__(self):
        check_options(self)                   # the same range checks for Python callers

`add_options(parser, TrainConfig)` adds `--lr` and `--schedule` (help shows the default),
`from_args(TrainConfig, args)` builds the config back. A field whose default is a dataclass
instance (`train: TrainConfig = option(factory=lambda: TrainConfig(lr=5e-5))`) contributes its
fields too, with the defaults of that instance: that is how a command states its own defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from bertkit.errors import ConfigError

_MISSING = dataclasses.MISSING


def option(default: Any = _MISSING, help: str = "", *, factory: Callable[[], Any] | None = None,
           flag: str | None = None, aliases: Sequence[str] = (), choices: Sequence[Any] | None = None,
           low: float | None = None, high: float | None = None, low_open: bool = False,
           high_open: bool = False, metavar: str | None = None, parse: Callable[[str], Any] | None = None,
           cli: bool = True) -> Any:
    """A dataclass field with CLI metadata.

    flag: the CLI name (default `--field-name`; for a bool that defaults to True, `--no-field-name`;
    a `bool | None` that defaults to None gets both `--field-name` and `--no-field-name`).
    aliases: older or shorter spellings that still work. low/high: the valid closed range
    (low_open/high_open make a bound exclusive); floats must also be finite.
    parse: turns the CLI string into the value (e.g. a comma-separated list). cli=False: Python only.
    """
    meta = {"help": help, "flag": flag, "aliases": tuple(aliases), "choices": choices, "low": low,
            "high": high, "low_open": low_open, "high_open": high_open, "metavar": metavar, "parse": parse,
            "cli": cli}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def check_value(name: str, value: Any, meta: typing.Mapping[str, Any]) -> None:
    """Raise ConfigError when `value` is outside the field's declared choices or range."""
    if value is None:
        return
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number; got {value}")
    low, high = meta.get("low"), meta.get("high")
    if low is not None and (value <= low if meta.get("low_open") else value < low):
        raise ConfigError(f"{name} must be {'>' if meta.get('low_open') else '>='} {low}; got {value}")
    if high is not None and (value >= high if meta.get("high_open") else value > high):
        raise ConfigError(f"{name} must be {'<' if meta.get('high_open') else '<='} {high}; got {value}")


def check_options(obj: Any) -> None:
    """Check every field of the dataclass instance `obj` against its declared range and choices."""
    for f in dataclasses.fields(obj):
        check_value(f.name, getattr(obj, f.name), f.metadata)


def _unwrap_optional(tp: Any) -> Any:
    """`int | None` -> int; other types unchanged."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _default_of(f: dataclasses.Field, instance: Any) -> Any:
    if instance is not None:
        return getattr(instance, f.name)
    if f.default is not _MISSING:
        return f.default
    if f.default_factory is not _MISSING:
        return f.default_factory()
    return _MISSING


def _parser_for(name: str, tp: Any, meta: typing.Mapping[str, Any]) -> Callable[[str], Any]:
    """The argparse `type`: convert, then check the range, so bad numbers fail at the boundary."""
    convert = meta.get("parse") or tp

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except (TypeError, ValueError) as e:
            raise argparse.ArgumentTypeError(f"invalid value {text!r} ({e})") from None
        try:
            check_value(name, value, {**meta, "choices": None})
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return value

    parse.__name__ = getattr(convert, "__name__", "value")
    return parse


def _walk(cls: type, instance: Any = None) -> typing.Iterator[tuple[dataclasses.Field, Any, Any]]:
    """(field, resolved type, default) for every CLI field of `cls`, nested dataclasses flattened."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        default = _default_of(f, instance)
        if dataclasses.is_dataclass(default) and not isinstance(default, type):
            yield from _walk(type(default), default)
        elif f.metadata.get("cli", True):
            yield f, _unwrap_optional(hints[f.name]), default


def add_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type,
                exclude: Sequence[str] = ()) -> None:
    """Add one flag per field of the dataclass `cls` (and of its nested dataclass fields)."""
    for f, tp, default in _walk(cls):
        if f.name in exclude:
            continue
        meta = f.metadata
        help_text = meta.get("help", "")
        kwargs: dict[str, Any] = {"dest": f.name}
        if tp is bool and default is None:  # three states: --x / --no-x / unset (None)
            flag = (meta.get("flag") or f"--{f.name}").replace("_", "-")
            kwargs.update(action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif tp is bool:
            flag = meta.get("flag") or (f"--no-{f.name}" if default is True else f"--{f.name}")
            flag = flag.replace("_", "-")
            kwargs.update(action="store_false" if default is True else "store_true", default=default,
                          help=help_text)
        else:
            flag = (meta.get("flag") or f"--{f.name}").replace("_", "-")
            origin = typing.get_origin(tp)
            if origin is tuple and meta.get("parse") is None:
                kwargs.update(nargs=len(typing.get_args(tp)), type=_parser_for(f.name, typing.get_args(tp)[0],
                                                                                meta))
            else:
                kwargs["type"] = _parser_for(f.name, tp if origin is None else str, meta)
            if default is _MISSING:
                kwargs["required"] = True
                kwargs["help"] = help_text
            else:
                kwargs["default"] = default
                shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
                kwargs["help"] = help_text if default is None else f"{help_text} (default: {shown})".strip()
            if meta.get("choices") is not None:
                kwargs["choices"] = meta["choices"]
            if meta.get("metavar"):
                kwargs["metavar"] = meta["metavar"]
        parser.add_argument(flag, *meta.get("aliases", ()), **kwargs)


def from_args(cls: type, args: argparse.Namespace, instance: Any = None, **overrides: Any) -> Any:
    """Build `cls` from parsed args (fields absent from `args` keep their defaults).

    `overrides` set fields by name directly (for values the command computes itself).
    """
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in overrides:
            values[f.name] = overrides[f.name]
            continue
        default = _default_of(f, instance)
        if dataclasses.is_dataclass(default) and not isinstance(default, type):
            values[f.name] = from_args(type(default), args, default)
        elif hasattr(args, f.name):
            value = getattr(args, f.name)
            values[f.name] = tuple(value) if isinstance(default, tuple) and value is not None else value
        elif default is not _MISSING:
            values[f.name] = default
    return cls(**values)
