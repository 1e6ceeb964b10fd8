"""Durations as written in configs: ``250ms``, ``30s``, ``5m``, ``1h``, ``2d`` or bare seconds."""

from __future__ import annotations

import math
import re

# Keep in step with $defs/duration in config.schema.json (tests check they agree).
DURATION_PATTERN = r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?\s*$"
_DURATION_RE = re.compile(DURATION_PATTERN)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
DURATION_HINT = "a duration like 30s, 5m, 1h (or a number of seconds)"
# Durations become whole milliseconds (event times are int64 ms); ten years is far above any
# window or timeout and keeps every sum of event time and duration well inside int64.
MAX_DURATION_SECONDS = 3650 * 86400.0


class DurationRangeError(ValueError):
    """A well-formed duration driftline cannot use; ``reason`` says why (after the value)."""

    def __init__(self, text: object, reason: str) -> None:
        super().__init__(f"{text!r} {reason}")
        self.reason = reason


def parse_duration(text: str | int | float) -> float:
    """Seconds in a duration; bare numbers (and numeric strings) are seconds.

    >>> parse_duration("5m"), parse_duration("250ms"), parse_duration(30), parse_duration("1.5h")
    (300.0, 0.25, 30.0, 5400.0)

    Raises ``ValueError`` for negatives, booleans, non-finite numbers, fractions of a
    millisecond, more than ten years and anything else.
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"{text!r} is not {DURATION_HINT}")
    if isinstance(text, str):
        match = _DURATION_RE.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r} is not {DURATION_HINT}")
        seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
    else:
        try:
            seconds = float(text)
        except OverflowError:
            raise ValueError(f"{text!r} is too large for a duration") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{text!r} is not {DURATION_HINT}")
    if seconds > MAX_DURATION_SECONDS:
        raise DurationRangeError(text, "is longer than the limit of 3650d")
    ms = seconds * 1000
    if abs(ms - round(ms)) > 1e-3:   # a microsecond: above float error at 3650d, below any fraction written
        raise DurationRangeError(text, "is not a whole number of milliseconds")
    return seconds


def format_duration(seconds: float) -> str:
    """Short human form used in error messages.

    >>> format_duration(300.0), format_duration(0.25), format_duration(90.0)
    ('5m', '250ms', '90s')
    """
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"
