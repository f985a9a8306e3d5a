"""Options declared on dataclass fields: flags, defaults, ranges and the round trip back to the config."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bertkit.errors import ConfigError
from bertkit.options import add_options, check_options, from_args, option


@dataclass
class Inner:
    lr: float = option(1e-4, "peak learning rate", low=0.0, low_open=True)
    betas: tuple[float, float] = option((0.9, 0.999), "Adam betas")
    max_steps: int | None = option(None, "optimizer steps", low=1)
    schedule: str = option("linear", "schedule", choices=("linear", "cosine"))
    resume: bool = option(False, "continue from the last checkpoint")
    group_by_length: bool = option(True, "group batches by length")

    def __post_init__(self) -> None:
        check_options(self)


@dataclass
class Outer:
    model: str = option(help="model directory")
    labels: list[str] = option(factory=lambda: ["label"], help="label columns",
                               parse=lambda s: s.split(","), flag="--label-column")
    train: Inner = option(factory=lambda: Inner(lr=5e-5))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(exit_on_error=False)
    add_options(p, Outer)
    return p


def test_nested_defaults_come_from_the_outer_instance() -> None:
    cfg = from_args(Outer, _parser().parse_args(["--model", "m"]))
    assert cfg == Outer(model="m", train=Inner(lr=5e-5))


def test_flags_round_trip() -> None:
    args = _parser().parse_args(["--model", "m", "--lr", "0.5", "--betas", "0.8", "0.95", "--max-steps", "7",
                                 "--schedule", "cosine", "--resume", "--no-group-by-length",
                                 "--label-column", "a,b"])
    cfg = from_args(Outer, args)
    assert cfg.labels == ["a", "b"]
    assert cfg.train == Inner(lr=0.5, betas=(0.8, 0.95), max_steps=7, schedule="cosine", resume=True,
                              group_by_length=False)


def test_help_shows_defaults() -> None:
    text = _parser().format_help()
    assert "(default: 5e-05)" in text and "(default: 0.9 0.999)" in text
    assert "--no-group-by-length" in text


@pytest.mark.parametrize("argv", [["--lr", "nan"], ["--lr", "0"], ["--lr", "-1"], ["--lr", "inf"],
                                  ["--max-steps", "0"], ["--schedule", "step"], ["--lr", "abc"]])
def test_bad_numbers_fail_at_the_boundary(argv: list[str]) -> None:
    with pytest.raises(argparse.ArgumentError):
        _parser().parse_args(["--model", "m", *argv])


def test_python_callers_get_the_same_checks() -> None:
    with pytest.raises(ConfigError, match="lr must be > 0.0"):
        Inner(lr=0.0)
    with pytest.raises(ConfigError, match="schedule must be one of"):
        Inner(schedule="step")


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_range_check_accepts_exactly_the_finite_positive_floats(x: float) -> None:
    ok = x == x and abs(x) != float("inf") and x > 0
    if ok:
        assert Inner(lr=x).lr == x
    else:
        with pytest.raises(ConfigError):
            Inner(lr=x)


@dataclass
class ThreeState:
    lowercase: bool | None = option(None, "lowercase; default: decided by the algorithm")


@pytest.mark.parametrize(("argv", "expected"),
                         [([], None), (["--lowercase"], True), (["--no-lowercase"], False)])
def test_optional_bool_has_three_states(argv: list[str], expected: bool | None) -> None:
    p = argparse.ArgumentParser()
    add_options(p, ThreeState)
    assert from_args(ThreeState, p.parse_args(argv)).lowercase is expected


@dataclass
class Fraction:
    rate: float = option(0.15, "a fraction in (0, 1)", low=0.0, low_open=True, high=1.0, high_open=True)

    def __post_init__(self) -> None:
        check_options(self)


@pytest.mark.parametrize("value", [0.0, 1.0, 1.5, -0.1])
def test_open_bounds_exclude_their_ends(value: float) -> None:
    with pytest.raises(ConfigError, match=r"rate must be (>|<) "):
        Fraction(rate=value)
    assert Fraction(rate=0.999).rate == 0.999
