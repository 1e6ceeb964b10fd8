"""NumericSketch against a by-definition oracle: each value's fine bin is
``np.searchsorted(edges, v, side="left")`` (``edges[b-1] < v <= edges[b]``), NaN is a null, and
the outer bins' values feed the tail means."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from driftline.detectors.numeric_sketch import NumericLayout, NumericSketch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EDGES = (np.array([-1.0, 0.0, 0.0 + 1e-12, 1.0, 2.0]), np.array([0.5]), np.array([], dtype=np.float64),
         np.linspace(-3.0, 3.0, 199))
LAYOUT = NumericLayout.from_edges(("a", "b", "c", "d"), EDGES)
K = len(EDGES)

values = st.one_of(
    st.sampled_from([math.nan, -1.0, 0.0, -0.0, 1e-12, 0.5, 1.0, 2.0, 3.0, -3.0]),
    st.floats(allow_nan=True, allow_infinity=False),
    st.floats(min_value=-3.5, max_value=3.5),
    st.sampled_from(EDGES[3].tolist()),                  # exactly on an edge of "d"
)
blocks = st.lists(st.lists(values, min_size=K, max_size=K), min_size=1, max_size=60).map(
    lambda r: np.array(r, dtype=np.float64))


def oracle(x: np.ndarray, j: int) -> tuple[list[int], list[float]]:
    edges = EDGES[j]
    col = x[:, j][~np.isnan(x[:, j])]
    where = np.array([np.searchsorted(edges, v, side="left") for v in col], dtype=np.int64)
    counts = np.bincount(where, minlength=edges.size + 1).tolist()
    means = []
    for b in (0, edges.size):
        tail = col[where == b]
        if tail.size == 0:
            means.append(math.nan)
        else:   # the correctly rounded sum, then one division (as the sketch reads it)
            total = sum(map(Fraction, tail.tolist()), Fraction(0))
            means.append(exact_float(total) / tail.size)
    return counts, means


def exact_float(total: Fraction) -> float:
    try:
        return float(total)
    except OverflowError:      # beyond float64: the sketch's sum is infinite too
        return math.inf if total > 0 else -math.inf


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks)
def test_bins_and_tails_match_the_definition(x: np.ndarray) -> None:
    s = NumericSketch(LAYOUT)
    s.update(x)
    for j in range(K):
        counts, means = oracle(x, j)
        assert s.bin_counts(j).tolist() == counts
        got = s.tail_means(j)
        for g, want in zip(got, means, strict=True):
            assert (math.isnan(g) and math.isnan(want)) or g == want
    assert s.counts.tolist() == [int((~np.isnan(x[:, j])).sum()) for j in range(K)]


def test_update_leaves_its_input_alone() -> None:
    one = NumericLayout.from_edges(("p",), (np.array([0.5]),))
    for layout, x in ((one, np.array([[0.9], [0.1], [0.7]])), (LAYOUT, np.arange(12.0)[::-1].reshape(3, 4))):
        before = x.copy()
        NumericSketch(layout).update(x)
        assert np.array_equal(x, before)


def test_merge_state_does_not_depend_on_the_order_of_signed_zeros() -> None:
    layout = NumericLayout.from_edges(("x",), (np.array([0.5]),))
    pos, neg = NumericSketch(layout), NumericSketch(layout)
    pos.update(np.array([[0.0]]))
    neg.update(np.array([[-0.0]]))
    assert pos.merge(neg).to_state() == neg.merge(pos).to_state()
    assert str(neg.minimum[0]) == str(neg.maximum[0]) == "0.0"


def test_a_feature_without_edges_is_one_bin_holding_both_tails() -> None:
    s = NumericSketch(LAYOUT)
    s.update(np.array([[0.0, 0.0, 4.0, 0.0], [0.0, 0.0, -2.0, 0.0], [0.0, 0.0, math.nan, 0.0]]))
    assert s.bin_counts(2).tolist() == [2]
    assert s.tail_means(2) == (1.0, 1.0)


def test_infinities_are_refused() -> None:
    s = NumericSketch(LAYOUT)
    with pytest.raises(ValueError, match="finite"):
        s.update(np.array([[0.0, 0.0, math.inf, 0.0]]))


BOUNDED = NumericLayout.from_edges(("a", "b", "c", "d"), EDGES, lower=(-1.0, None, 0.0, -2.5),
                                   upper=(2.0, 0.25, None, 2.5))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks, st.integers(min_value=1, max_value=59))
def test_counters_extremes_and_moments_match_numpy(x: np.ndarray, cut: int) -> None:
    s = NumericSketch(BOUNDED)
    s.update(x[:cut])            # two updates: the running min / max and counters carry over
    s.update(x[cut:])
    nan = np.isnan(x)
    assert s.nulls.tolist() == nan.sum(axis=0).tolist()
    outside = (x < BOUNDED.lower) | (x > BOUNDED.upper)
    assert s.out_of_range.tolist() == outside.sum(axis=0).tolist()
    assert np.array_equal(s.minimum, np.where(nan, np.inf, x).min(axis=0))     # +inf: no values
    assert np.array_equal(s.maximum, np.where(nan, -np.inf, x).max(axis=0))
    means, stds = s.mean_std()
    for j in range(K):
        col = [Fraction(v) for v in x[:, j].tolist() if not math.isnan(v)]
        if not col:
            assert math.isnan(means[j])
            continue
        assert means[j] == exact_float(sum(col, Fraction(0)) / len(col))
        if len(col) >= 2:
            n, total = len(col), sum(col, Fraction(0))
            var = (n * sum(v * v for v in col) - total * total) / (n * (n - 1))
            if math.isfinite(exact_float(var)):
                assert stds[j] == math.sqrt(exact_float(var))
            else:    # a variance beyond float range, its root within: scaled by 2**1200 first
                assert stds[j] == pytest.approx(math.ldexp(math.sqrt(exact_float(var / 2**1200)), 600), rel=1e-15)
