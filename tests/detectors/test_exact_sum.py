"""ExactSums' integers against Python's exact arithmetic, on the floats that stress them:
subnormals, the largest finite floats, signed zeros, cancellation, and many values per group."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from driftline.detectors.exact_sum import ExactSums
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SUM_UNIT, SQ_UNIT = 1126, 2252      # sums are whole numbers of 2**-1126, squares of 2**-2252
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TINY, HUGE = 5e-324, 1.7976931348623157e308
EXTREMES = [0.0, -0.0, TINY, -TINY, 2.2250738585072014e-308, -2.225073858507201e-308, HUGE, -HUGE,
            1.0, -1.0, 0.1, 1e-300, 1e300, math.nan]
values = st.one_of(st.sampled_from(EXTREMES), st.floats(allow_nan=True, allow_infinity=False,
                                                        allow_subnormal=True))


def exact_units(column: list[float]) -> tuple[int, int]:
    """The sum and the sum of squares, as whole numbers of 2**-1126 and 2**-2252."""
    col = [Fraction(v) for v in column if not math.isnan(v)]
    total = sum(col, Fraction(0)) * (1 << SUM_UNIT)
    squares = sum((v * v for v in col), Fraction(0)) * (1 << SQ_UNIT)
    assert total.denominator == 1 and squares.denominator == 1
    return int(total), int(squares)


@SETTINGS
@given(st.lists(st.lists(values, min_size=2, max_size=2), max_size=50))
def test_integer_sums_are_exact(rows: list[list[float]]) -> None:
    x = np.array(rows, dtype=np.float64).reshape(-1, 2)
    s = ExactSums(2)
    s.update(x)
    for j in range(2):
        total, squares = exact_units(x[:, j].tolist())
        assert s.integer_sums()[j] == total
        assert s.integer_squares()[j] == squares


def test_cancellation_to_zero_is_the_empty_state() -> None:
    s = ExactSums(1)
    s.update(np.array([[HUGE], [TINY], [-HUGE], [-TINY], [0.1], [-0.1]]))
    assert s.integer_sums() == [0]
    assert s.sums().tolist() == [0.0]
    t = ExactSums(1)
    t.update(np.array([[-0.0], [0.0]]))
    assert s.integer_sums() == t.integer_sums() == ExactSums(1).integer_sums() == [0]


def test_many_values_of_one_exponent() -> None:
    # 2**20 copies of the largest float: one (column, exponent) group far beyond 2**53
    x = np.full((1 << 20, 1), HUGE)
    s = ExactSums(1)
    s.update(x)
    assert s.integer_sums() == [exact_units([HUGE])[0] << 20]
    assert s.sums().tolist() == [math.inf]           # beyond float64: infinity, honestly
    assert s.mean_std(np.array([1 << 20]))[0].tolist() == [HUGE]


def test_largest_squares_fit_and_round_trip() -> None:
    s = ExactSums(2)
    s.update(np.array([[HUGE, -TINY], [-HUGE, TINY]]))
    back = ExactSums.from_state(s.to_state())
    assert back == s
    assert back.integer_squares() == [2 * exact_units([HUGE])[1], 2 * exact_units([TINY])[1]]


def test_negative_snapshot_values_round_trip() -> None:
    s = ExactSums(3)
    s.update(np.array([[-1.5, -1e-310, 2.0], [-2.0, 0.0, -3.0]]))
    state = s.to_state()
    assert state["sum"][0].startswith("-")
    assert ExactSums.from_state(state) == s
