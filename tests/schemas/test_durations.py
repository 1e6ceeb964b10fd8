from __future__ import annotations

import math

import pytest
from driftline.schemas.config import parse_duration
from driftline.schemas.durations import MAX_DURATION_SECONDS, DurationRangeError, format_duration
from driftline.schemas.validate import load_schema
from hypothesis import assume, given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("2d", 172800.0),
        ("250ms", 0.25),
        (30, 30.0),
        (1.5, 1.5),
        (0, 0.0),
        ("0s", 0.0),
        ("1.5h", 5400.0),
        ("45", 45.0),
        (" 10 m ", 600.0),
    ],
)
def test_examples(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)
    assert isinstance(parse_duration(text), float)


@pytest.mark.parametrize(
    "bad",
    [
        -1,
        -0.5,
        "-5s",
        True,
        False,
        None,
        "",
        "5 minutes",
        "5M",
        "1h30m",
        "s",
        ".5s",
        "5x",
        "1e3s",
        "nan",
        "inf",
        float("nan"),
        float("inf"),
        [5],
        {"s": 5},
        10**400,
    ],
)
def test_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=10**9), st.sampled_from(sorted(UNITS)))
def test_integer_with_unit(n: int, unit: str) -> None:
    if n * UNITS[unit] > MAX_DURATION_SECONDS:
        with pytest.raises(DurationRangeError, match="longer than the limit of 3650d"):
            parse_duration(f"{n}{unit}")
    else:
        assert parse_duration(f"{n}{unit}") == pytest.approx(n * UNITS[unit])


@given(st.integers(min_value=0, max_value=int(MAX_DURATION_SECONDS * 1000)))
def test_bare_numbers_are_seconds(ms: int) -> None:
    assert parse_duration(ms / 1000) == ms / 1000


@pytest.mark.parametrize("bad", ["0.0001s", "0.5ms", "1.0005s", 0.0004, 2.5e-4])
def test_fractions_of_a_millisecond_are_rejected(bad: str | float) -> None:
    with pytest.raises(DurationRangeError, match="whole number of milliseconds"):
        parse_duration(bad)


@pytest.mark.parametrize("bad", ["3651d", "99999999999999d", 3650 * 86400 + 1, 1e12])
def test_more_than_ten_years_is_rejected(bad: str | float) -> None:
    with pytest.raises(DurationRangeError, match="3650d"):
        parse_duration(bad)


@given(st.floats(max_value=-1e-300) | st.integers(max_value=-1))
def test_negative_numbers_rejected(x: float) -> None:
    with pytest.raises(ValueError):
        parse_duration(x)


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(sorted(UNITS)))
def test_format_round_trips(n: int, unit: str) -> None:
    assume(n * UNITS[unit] <= MAX_DURATION_SECONDS)
    seconds = parse_duration(f"{n}{unit}")
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


_DURATION = Draft202012Validator(load_schema("config")["$defs"]["duration"])


@given(st.text(alphabet="0123456789.msdh -+eE\t", max_size=8) | st.text(max_size=8))
def test_schema_pattern_agrees_with_parser(text: str) -> None:
    try:
        value = parse_duration(text)
    except DurationRangeError:
        accepted = True    # the form is right; whole ms and the 3650d limit are the parser's alone
    except ValueError:
        accepted = False
    else:
        accepted = math.isfinite(value)
    assert _DURATION.is_valid(text) == accepted


@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers())
def test_schema_numbers_agree_with_parser(x: float) -> None:
    try:
        parse_duration(x)
    except DurationRangeError as exc:
        accepted = "milliseconds" in exc.reason   # the schema bounds numbers, not their fractions
    except ValueError:
        accepted = False
    else:
        accepted = True
    assert _DURATION.is_valid(x) == accepted
