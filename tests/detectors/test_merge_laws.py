"""Merge laws of the window sketches (DESIGN 2: "merging is exact and order-free").

For NumericSketch, CategoricalSketch, WindowSketch and ExactSums:
- sketch(A).merge(sketch(B)) == sketch(A + B), exactly;
- merge is commutative and associative, and never mutates its operands;
- to_state -> orjson -> from_state gives an equal sketch (and the same state);
- merging sketches built on different layouts raises ValueError.
ExactSums' sums are the correctly rounded true sums (== math.fsum where fsum does not overflow).
"""

from __future__ import annotations

import contextlib
import math
from fractions import Fraction

import numpy as np
import orjson
import pytest
from driftline.detectors.categorical_sketch import (
    MAX_NEW_NAMES,
    CategoricalLayout,
    CategoricalSketch,
)
from driftline.detectors.exact_sum import ExactSums
from driftline.detectors.numeric_sketch import NumericLayout, NumericSketch
from driftline.detectors.window_sketch import ColumnBatch, MonitorLayout, WindowSketch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SPECIAL = [math.nan, 0.0, -0.0, 1e300, -1e300, 1e-300, -1e-300, 5e-324, -5e-324,
           1.7976931348623157e308, -1.7976931348623157e308, 2.2250738585072014e-308, 0.1, 0.2, 0.3,
           1.0, -1.0, 0.5, 1e16, 1.0000000000000002]

floats = st.one_of(
    st.sampled_from(SPECIAL),
    st.floats(allow_nan=True, allow_infinity=False),
    st.floats(min_value=-3.0, max_value=3.0),              # lands inside the bins
    st.integers(-5, 5).map(float),                        # duplicates, values on the edges
)


def rows(k: int, min_size: int = 0, max_size: int = 40):
    return st.lists(st.lists(floats, min_size=k, max_size=k), min_size=min_size, max_size=max_size).map(
        lambda r: np.array(r, dtype=np.float64).reshape(len(r), k))


def state_roundtrip(state: dict) -> dict:
    return orjson.loads(orjson.dumps(state))


# -- ExactSums --------------------------------------------------------------------------------


def sums_of(x: np.ndarray, k: int) -> ExactSums:
    s = ExactSums(k)
    s.update(x)
    return s


def exact_float(total: Fraction) -> float:
    try:
        return float(total)            # int / int: correctly rounded
    except OverflowError:
        return math.inf if total > 0 else -math.inf


@SETTINGS
@given(rows(2), rows(2))
def test_exact_sums_merge_equals_whole(a: np.ndarray, b: np.ndarray) -> None:
    sa, sb = sums_of(a, 2), sums_of(b, 2)
    before = sa.to_state(), sb.to_state()
    merged = sa.merge(sb)
    assert (sa.to_state(), sb.to_state()) == before
    assert merged == sums_of(np.concatenate([a, b]), 2)
    assert merged == sb.merge(sa)
    # several updates == one update
    split = ExactSums(2)
    split.update(a)
    split.update(b)
    assert split == merged


@SETTINGS
@given(rows(1), rows(1), rows(1))
def test_exact_sums_merge_is_associative(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
    sa, sb, sc = sums_of(a, 1), sums_of(b, 1), sums_of(c, 1)
    assert sa.merge(sb).merge(sc) == sa.merge(sb.merge(sc))


@SETTINGS
@given(rows(2, max_size=60))
def test_exact_sums_are_correctly_rounded(x: np.ndarray) -> None:
    s = sums_of(x, 2)
    for j in range(2):
        col = [v for v in x[:, j].tolist() if not math.isnan(v)]
        total = sum((Fraction(v) for v in col), Fraction(0))
        squares = sum((Fraction(v) ** 2 for v in col), Fraction(0))
        got = float(s.sums()[j])
        assert got == exact_float(total)
        with contextlib.suppress(OverflowError):   # fsum's intermediate overflow: Fraction decides
            assert got == math.fsum(col)
        assert float(s.sums_of_squares()[j]) == exact_float(squares)
        n = len(col)
        means, _ = s.mean_std(np.array([n, n]))
        if n:
            assert float(means[j]) == exact_float(total / n)


def test_exact_sums_beat_naive_float_addition() -> None:
    a, b = sums_of(np.array([[0.1], [0.2]]), 1), sums_of(np.array([[0.3], [math.nan]]), 1)
    assert a.merge(b).sums().tolist() == [0.6] == [math.fsum([0.1, 0.2, 0.3])]
    big = sums_of(np.array([[1e300], [1.0], [-1e300]]), 1)
    assert big.sums().tolist() == [1.0]


def test_exact_sums_many_rows_cross_the_pass_size() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(scale=1e10, size=(70_000, 1)) * rng.choice([1e-200, 1.0, 1e200], size=(70_000, 1))
    s = sums_of(x, 1)
    assert float(s.sums()[0]) == math.fsum(x[:, 0].tolist())
    halves = sums_of(x[:33_333], 1).merge(sums_of(x[33_333:], 1))
    assert halves == s


@SETTINGS
@given(rows(3))
def test_exact_sums_state_roundtrip(x: np.ndarray) -> None:
    s = sums_of(x, 3)
    back = ExactSums.from_state(state_roundtrip(s.to_state()))
    assert back == s
    assert back.to_state() == s.to_state()
    assert back.k == 3


def test_exact_sums_refuse_infinities() -> None:
    s = ExactSums(2)
    with pytest.raises(ValueError, match="finite"):
        s.update(np.array([[1.0, -math.inf]]))
    assert s == ExactSums(2)
    # all or nothing, even when the infinity sits in a later pass than the first
    many = np.ones((40_000, 1))
    many[-1, 0] = math.inf
    with pytest.raises(ValueError, match="finite"):
        s.update(np.hstack([many, many]))
    assert s == ExactSums(2)


def test_exact_sums_different_widths_do_not_merge() -> None:
    with pytest.raises(ValueError):
        ExactSums(2).merge(ExactSums(3))


# -- NumericSketch ----------------------------------------------------------------------------

NUM_LAYOUT = NumericLayout.from_edges(
    ("a", "b"), (np.array([-1.0, 0.0, 1.0, 2.0]), np.array([0.5])), lower=(-2.0, None), upper=(3.0, 0.0))
NUM_LAYOUT_COPY = NumericLayout.from_edges(
    ("a", "b"), (np.array([-1.0, 0.0, 1.0, 2.0]), np.array([0.5])), lower=(-2.0, None), upper=(3.0, 0.0))


def numeric_of(x: np.ndarray, layout: NumericLayout = NUM_LAYOUT) -> NumericSketch:
    s = NumericSketch(layout)
    s.update(x)
    return s


@SETTINGS
@given(rows(2), rows(2))
def test_numeric_merge_equals_whole(a: np.ndarray, b: np.ndarray) -> None:
    sa, sb = numeric_of(a), numeric_of(b)
    before = sa.to_state(), sb.to_state()
    merged = sa.merge(sb)
    assert (sa.to_state(), sb.to_state()) == before
    whole = numeric_of(np.concatenate([a, b]))
    assert merged == whole
    assert merged.to_state() == whole.to_state()
    assert merged == sb.merge(sa)
    # an equal layout built separately merges too
    assert numeric_of(a, NUM_LAYOUT_COPY).merge(sb) == whole
    # the parts are what they claim
    assert (merged.counts + merged.nulls).tolist() == [a.shape[0] + b.shape[0]] * 2
    assert merged.bin_counts(0).sum() == merged.counts[0]


@SETTINGS
@given(rows(2), rows(2), rows(2))
def test_numeric_merge_is_associative(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
    sa, sb, sc = numeric_of(a), numeric_of(b), numeric_of(c)
    assert sa.merge(sb).merge(sc) == sa.merge(sb.merge(sc)) == numeric_of(np.concatenate([a, b, c]))
    assert sa.merge(NumericSketch(NUM_LAYOUT)) == sa


@SETTINGS
@given(rows(2))
def test_numeric_state_roundtrip(x: np.ndarray) -> None:
    s = numeric_of(x)
    back = NumericSketch.from_state(NUM_LAYOUT, state_roundtrip(s.to_state()))
    assert back == s
    assert back.to_state() == s.to_state()


def test_numeric_counts_by_hand() -> None:
    s = numeric_of(np.array([[-1.0, math.nan], [-0.5, 0.5], [1e300, 0.6], [-1e300, -3.0], [2.0, 0.0]]))
    # bins of "a": (-inf,-1], (-1,0], (0,1], (1,2], (2,inf)
    assert s.bin_counts(0).tolist() == [2, 1, 0, 1, 1]
    assert s.bin_counts(1).tolist() == [3, 1]
    assert s.counts.tolist() == [5, 4]
    assert s.nulls.tolist() == [0, 1]
    assert s.out_of_range.tolist() == [2, 2]      # a: 1e300, -1e300; b: 0.5, 0.6 > 0
    assert s.minimum.tolist() == [-1e300, -3.0]
    assert s.maximum.tolist() == [1e300, 0.6]


@pytest.mark.parametrize("other", [
    NumericLayout.from_edges(("a", "b"), (np.array([-1.0, 0.0, 1.0, 2.5]), np.array([0.5]))),
    NumericLayout.from_edges(("a", "c"), (np.array([-1.0, 0.0, 1.0, 2.0]), np.array([0.5]))),
    NumericLayout.from_edges(("a", "b"), (np.array([-1.0, 0.0, 1.0, 2.0]), np.array([0.5])),
                             lower=(-2.0, None), upper=(4.0, 0.0)),
    NumericLayout.from_edges(("a",), (np.array([-1.0, 0.0, 1.0, 2.0]),)),
])
def test_numeric_different_layouts_do_not_merge(other: NumericLayout) -> None:
    with pytest.raises(ValueError):
        NumericSketch(NUM_LAYOUT).merge(NumericSketch(other))
    with pytest.raises(ValueError):
        NumericSketch(other).merge(NumericSketch(NUM_LAYOUT))


def test_numeric_state_of_other_layout_is_rejected() -> None:
    state = numeric_of(np.array([[0.0, 0.0]])).to_state()
    other = NumericLayout.from_edges(("a", "b"), (np.array([0.0]), np.array([0.5])))
    with pytest.raises(ValueError):
        NumericSketch.from_state(other, state)


# -- CategoricalSketch ------------------------------------------------------------------------

CATS = (("red", "green", "blue"), ("x",))
CAT_LAYOUT = CategoricalLayout.from_categories(("colour", "letter"), CATS)
names = st.text(alphabet=st.characters(codec="utf-8"), max_size=4)
cat_value = st.one_of(st.none(), st.sampled_from(["red", "green", "blue", "x", "y", "None", ""]), names)


def cat_columns(min_size: int = 0, max_size: int = 40):
    return st.lists(st.tuples(cat_value, cat_value), min_size=min_size, max_size=max_size).map(
        lambda r: [[v[0] for v in r], [v[1] for v in r]])


def many_unseen():
    """Columns holding more than MAX_NEW_NAMES distinct unseen names."""
    return st.lists(st.text(alphabet="abcdefghij", min_size=2, max_size=3), min_size=25, max_size=60,
                    unique=True).map(lambda vals: [vals, ["x"] * len(vals)])


def categorical_of(cols: list[list], layout: CategoricalLayout = CAT_LAYOUT) -> CategoricalSketch:
    s = CategoricalSketch(layout)
    s.update(cols)
    return s


def concat(a: list[list], b: list[list]) -> list[list]:
    return [x + y for x, y in zip(a, b, strict=True)]


@SETTINGS
@given(st.one_of(cat_columns(), many_unseen()), st.one_of(cat_columns(), many_unseen()))
def test_categorical_merge_equals_whole(a: list[list], b: list[list]) -> None:
    sa, sb = categorical_of(a), categorical_of(b)
    before = sa.to_state(), sb.to_state()
    merged = sa.merge(sb)
    assert (sa.to_state(), sb.to_state()) == before
    whole = categorical_of(concat(a, b))
    assert merged == whole
    assert merged.to_state() == whole.to_state()
    assert merged == sb.merge(sa)
    # every value is counted once, in the right place
    for j, cats in enumerate(CATS):
        values = a[j] + b[j]
        expected = [values.count(c) for c in cats] + [sum(v is not None and v not in cats for v in values)]
        assert merged.category_counts(j).tolist() == expected
        assert int(merged.nulls[j]) == sum(v is None for v in values)
        unseen = sorted({v for v in values if v is not None and v not in cats})
        assert merged.new_names(j) == tuple(unseen[:MAX_NEW_NAMES])


@SETTINGS
@given(cat_columns(), many_unseen(), cat_columns())
def test_categorical_merge_is_associative(a: list[list], b: list[list], c: list[list]) -> None:
    sa, sb, sc = categorical_of(a), categorical_of(b), categorical_of(c)
    assert sa.merge(sb).merge(sc) == sa.merge(sb.merge(sc)) == categorical_of(concat(concat(a, b), c))
    assert sa.merge(CategoricalSketch(CAT_LAYOUT)) == sa


@SETTINGS
@given(st.one_of(cat_columns(), many_unseen()))
def test_categorical_state_roundtrip(cols: list[list]) -> None:
    s = categorical_of(cols)
    back = CategoricalSketch.from_state(CAT_LAYOUT, state_roundtrip(s.to_state()))
    assert back == s
    assert back.to_state() == s.to_state()


def test_categorical_new_names_cap_is_order_free() -> None:
    unseen = [f"n{i:02d}" for i in range(50)]
    parts = [unseen[i::3] for i in range(3)]
    sketches = [categorical_of([p, [None] * len(p)]) for p in parts]
    merged = sketches[2].merge(sketches[0]).merge(sketches[1])
    assert merged.new_names(0) == tuple(unseen[:MAX_NEW_NAMES])
    assert merged.unseen.tolist() == [50, 0]
    assert merged.nulls.tolist() == [0, 50]


@pytest.mark.parametrize("other", [
    CategoricalLayout.from_categories(("colour", "letter"), (("red", "green"), ("x",))),
    CategoricalLayout.from_categories(("colour", "letter"), (("green", "red", "blue"), ("x",))),
    CategoricalLayout.from_categories(("colour", "other"), CATS),
    CategoricalLayout.from_categories(("colour",), CATS[:1]),
])
def test_categorical_different_layouts_do_not_merge(other: CategoricalLayout) -> None:
    with pytest.raises(ValueError):
        CategoricalSketch(CAT_LAYOUT).merge(CategoricalSketch(other))
    with pytest.raises(ValueError):
        CategoricalSketch(other).merge(CategoricalSketch(CAT_LAYOUT))


# -- WindowSketch -----------------------------------------------------------------------------

PRED_NUM = NumericLayout.from_edges(("prediction",), (np.array([0.25, 0.5, 0.75]),))
PRED_CAT = CategoricalLayout.from_categories(("prediction",), (("0", "1"),))
WIN_LAYOUT = MonitorLayout(NUM_LAYOUT, CAT_LAYOUT, PRED_NUM)
WIN_LAYOUT_CAT = MonitorLayout(NUM_LAYOUT, CAT_LAYOUT, PRED_CAT)


@st.composite
def batches(draw, categorical_prediction: bool = False) -> ColumnBatch:
    n = draw(st.integers(0, 30))
    numeric = draw(rows(2, n, n))
    cats = draw(st.lists(st.tuples(cat_value, cat_value), min_size=n, max_size=n))
    if categorical_prediction:
        pred = np.array(draw(st.lists(st.sampled_from(["0", "1", "2", None]), min_size=n, max_size=n)),
                        dtype=object)
    else:
        pred = np.array(draw(st.lists(floats, min_size=n, max_size=n)), dtype=np.float64)
    return ColumnBatch(numeric, (np.array([c[0] for c in cats], dtype=object),
                                 np.array([c[1] for c in cats], dtype=object)), pred)


def join(a: ColumnBatch, b: ColumnBatch) -> ColumnBatch:
    return ColumnBatch(np.concatenate([a.numeric, b.numeric]),
                       tuple(np.concatenate([x, y]) for x, y in zip(a.categorical, b.categorical, strict=True)),
                       np.concatenate([a.prediction, b.prediction]))


def window_of(layout: MonitorLayout, *parts: ColumnBatch) -> WindowSketch:
    s = WindowSketch(layout)
    for p in parts:
        s.update(p)
    return s


@SETTINGS
@given(st.booleans(), st.data())
def test_window_merge_laws(categorical_prediction: bool, data) -> None:
    layout = WIN_LAYOUT_CAT if categorical_prediction else WIN_LAYOUT
    a, b, c = (data.draw(batches(categorical_prediction)) for _ in range(3))
    sa, sb, sc = window_of(layout, a), window_of(layout, b), window_of(layout, c)
    before = sa.to_state(), sb.to_state()
    merged = sa.merge(sb)
    assert (sa.to_state(), sb.to_state()) == before
    whole = window_of(layout, join(a, b))
    assert merged == whole
    assert merged.to_state() == whole.to_state()
    assert merged == window_of(layout, a, b)
    assert merged == sb.merge(sa)
    assert merged.events == len(a) + len(b)
    assert sa.merge(sb).merge(sc) == sa.merge(sb.merge(sc)) == window_of(layout, join(join(a, b), c))
    back = WindowSketch.from_state(layout, state_roundtrip(merged.to_state()))
    assert back == merged
    assert back.to_state() == merged.to_state()


def test_window_sketch_without_prediction() -> None:
    layout = MonitorLayout(NUM_LAYOUT, CAT_LAYOUT, None)
    batch = ColumnBatch(np.array([[0.0, 1.0]]), (np.array(["red"], dtype=object),
                                                 np.array([None], dtype=object)), None)
    s = window_of(layout, batch)
    assert s.prediction is None
    assert s.merge(s) == window_of(layout, batch, batch)
    assert WindowSketch.from_state(layout, state_roundtrip(s.to_state())) == s


@pytest.mark.parametrize("other", [
    MonitorLayout(NumericLayout.from_edges(("a", "b"), (np.array([0.0]), np.array([0.5]))), CAT_LAYOUT, PRED_NUM),
    MonitorLayout(NUM_LAYOUT, CategoricalLayout.from_categories(("colour", "letter"), (("red",), ("x",))),
                  PRED_NUM),
    MonitorLayout(NUM_LAYOUT, CAT_LAYOUT, None),
    MonitorLayout(NUM_LAYOUT, CAT_LAYOUT, PRED_CAT),
    MonitorLayout(NUM_LAYOUT, CAT_LAYOUT, NumericLayout.from_edges(("prediction",), (np.array([0.5]),))),
], ids=["numeric-bins", "categories", "no-prediction", "categorical-prediction", "prediction-bins"])
def test_window_different_layouts_do_not_merge(other: MonitorLayout) -> None:
    with pytest.raises(ValueError):
        WindowSketch(WIN_LAYOUT).merge(WindowSketch(other))
    with pytest.raises(ValueError):
        WindowSketch(other).merge(WindowSketch(WIN_LAYOUT))
