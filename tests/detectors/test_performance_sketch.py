"""PerformanceSketch (detectors/performance_sketch.py): merge laws and state, for each task.

- sketch(A).merge(sketch(B)) == sketch(A + B), exactly, in any order and grouping;
- merge never mutates its operands; several updates == one update;
- to_state -> orjson -> from_state gives an equal sketch;
- pairs missing a prediction or a label are skipped; counts add up to the pairs given;
- different layouts do not merge (ValueError); a WindowSketch carries the sketch through merge
  and snapshots, and refuses to merge with a sketch without labels.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import orjson
import pytest
from driftline.detectors.categorical_sketch import CategoricalLayout
from driftline.detectors.numeric_sketch import NumericLayout
from driftline.detectors.performance_sketch import (
    MAX_CLASSES,
    PerformanceLayout,
    PerformanceSketch,
)
from driftline.detectors.window_sketch import ColumnBatch, MonitorLayout, WindowSketch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BINARY = PerformanceLayout.binary(threshold=0.5, bins=10)
CLASSES = PerformanceLayout.classification(["cat", "dog", "1"])
REGRESSION = PerformanceLayout.regression()
LAYOUTS = {"binary": BINARY, "classification": CLASSES, "regression": REGRESSION}

scores = st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 0.5, 1.0, 0.1, 0.45, math.nan]),
                   st.floats(-2.0, 3.0))            # outside [0, 1]: clipped into the end bins
binary_labels = st.sampled_from([0.0, 1.0, math.nan])
class_values = st.one_of(st.none(), st.sampled_from(["cat", "dog", "1", "bird", "", "Cat"]),
                         st.text(max_size=3))
reg_values = st.one_of(st.floats(allow_nan=True, allow_infinity=False),
                       st.floats(-100.0, 100.0), st.sampled_from([0.0, -0.0, 1e300, -1e300, 0.1]))


def pairs(task: str, max_size: int = 40):
    if task == "binary":
        item = st.tuples(scores, binary_labels)
    elif task == "classification":
        item = st.tuples(class_values, class_values)
    else:
        item = st.tuples(reg_values, reg_values)
    return st.lists(item, max_size=max_size)


def arrays(task: str, rows: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
    dtype = object if task == "classification" else np.float64
    pred = np.array([r[0] for r in rows], dtype=dtype)
    y = np.array([r[1] for r in rows], dtype=dtype)
    return pred, y


def fill(sketch, *parts):
    """``sketch`` updated with each part: a ColumnBatch, or (predictions, labels) arrays."""
    for part in parts:
        if isinstance(part, ColumnBatch):
            sketch.update(part)
        else:
            sketch.update(*part)
    return sketch


def sketch_of(task: str, *parts: list[tuple]) -> PerformanceSketch:
    return fill(PerformanceSketch(LAYOUTS[task]), *(arrays(task, rows) for rows in parts))


def exact_float(total: Fraction) -> float:
    try:
        return float(total)
    except OverflowError:
        return math.inf if total > 0 else -math.inf


def roundtrip(state: dict) -> dict:
    return orjson.loads(orjson.dumps(state))


@SETTINGS
@given(st.sampled_from(sorted(LAYOUTS)), st.data())
def test_merge_equals_the_sketch_of_all_pairs(task: str, data) -> None:
    a, b, c = (data.draw(pairs(task)) for _ in range(3))
    sa, sb, sc = sketch_of(task, a), sketch_of(task, b), sketch_of(task, c)
    before = sa.to_state(), sb.to_state()
    merged = sa.merge(sb)
    assert (sa.to_state(), sb.to_state()) == before          # operands unchanged
    whole = sketch_of(task, a + b)
    assert merged == whole
    assert merged.to_state() == whole.to_state()
    assert merged == sb.merge(sa)
    assert merged == sketch_of(task, a, b)                    # two updates == one
    assert sa.merge(sb).merge(sc) == sa.merge(sb.merge(sc)) == sketch_of(task, a + b + c)
    assert sa.merge(PerformanceSketch(LAYOUTS[task])) == sa
    back = PerformanceSketch.from_state(LAYOUTS[task], roundtrip(merged.to_state()))
    assert back == merged
    assert back.to_state() == merged.to_state()


def _present(task: str, rows: list[tuple]) -> list[tuple]:
    if task == "classification":
        return [r for r in rows if r[0] is not None and r[1] is not None]
    keep = [r for r in rows if not (math.isnan(r[0]) or math.isnan(r[1]))]
    if task == "regression":
        keep = [r for r in keep if math.isfinite(r[0] - r[1])]
    return keep


@SETTINGS
@given(st.sampled_from(sorted(LAYOUTS)), st.data())
def test_counts_by_definition(task: str, data) -> None:
    rows = data.draw(pairs(task))
    s = sketch_of(task, rows)
    used = _present(task, rows)
    assert s.count == len(used)
    if task == "binary":
        hats = [int(p >= 0.5) for p, _ in used]
        assert s.correct == sum(h == int(y) for h, (_, y) in zip(hats, used, strict=True))
        assert s.confusion.sum() == s.histogram.sum() == len(used)
        assert s.histogram[1].sum() == sum(int(y) for _, y in used)
        assert s.confusion[1, 1] == sum(h == 1 and y == 1 for h, (_, y) in zip(hats, used, strict=True))
    elif task == "classification":
        assert s.correct == sum(p == y for p, y in used) == np.trace(s.confusion)
        assert s.confusion.sum() + s.other_mismatch == len(used)
        named = ("cat", "dog", "1")
        assert s.confusion[0].sum() == sum(y == "cat" for _, y in used)
        assert s.confusion[-1].sum() + s.other_mismatch == sum(y not in named for _, y in used)
        assert s.other_mismatch == sum(p != y and p not in named and y not in named for p, y in used)
    else:
        assert s.correct == 0
        errors = [Fraction(p - y) for p, y in used]
        assert s.sums()[0] == exact_float(sum(errors, Fraction(0)))        # correctly rounded
        assert s.sums()[1] == exact_float(sum((abs(e) for e in errors), Fraction(0)))


def test_binary_bins_and_clipping_by_hand() -> None:
    s = PerformanceSketch(BINARY)
    s.update(np.array([-0.5, 0.0, 0.05, 0.1, 0.999, 1.0, 7.0]), np.array([0, 0, 0, 1, 1, 1, 1.0]))
    assert s.histogram.tolist() == [[3, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0, 0, 0, 3]]
    assert s.confusion.tolist() == [[3, 0], [1, 3]]          # 0.1 < 0.5 predicts 0
    assert s.correct == 6 and s.count == 7


def test_binary_rejects_labels_other_than_0_and_1() -> None:
    with pytest.raises(ValueError, match="0 or 1"):
        PerformanceSketch(BINARY).update(np.array([0.2]), np.array([2.0]))


def test_classification_folds_rare_classes_into_other() -> None:
    many = [f"c{i:03d}" for i in range(MAX_CLASSES + 20)]
    layout = PerformanceLayout.classification(many)
    assert layout.classes == tuple(many[:MAX_CLASSES]) and layout.k == MAX_CLASSES + 1
    s = PerformanceSketch(layout)
    # two different classes beyond the cap: both fold into "other", yet the pair is wrong:
    # off the diagonal (other_mismatch); the same class beyond the cap is right, on it
    s.update(np.array(["c060", "c061", "c000"], dtype=object), np.array(["c061", "c061", "c000"], dtype=object))
    assert s.correct == 2 == np.trace(s.confusion)
    assert s.confusion[-1, -1] == 1 and s.other_mismatch == 1 and s.confusion[0, 0] == 1


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="2 predictions but 1 labels"):
        PerformanceSketch(REGRESSION).update(np.array([1.0, 2.0]), np.array([1.0]))


@pytest.mark.parametrize(("a", "b"), [
    (BINARY, PerformanceLayout.binary(threshold=0.6, bins=10)),
    (BINARY, PerformanceLayout.binary(threshold=0.5, bins=20)),
    (BINARY, REGRESSION),
    (CLASSES, PerformanceLayout.classification(["cat", "dog"])),
    (CLASSES, PerformanceLayout.classification(["dog", "cat", "1"])),
    (CLASSES, BINARY),
])
def test_different_layouts_do_not_merge(a: PerformanceLayout, b: PerformanceLayout) -> None:
    with pytest.raises(ValueError):
        PerformanceSketch(a).merge(PerformanceSketch(b))
    with pytest.raises(ValueError):
        PerformanceSketch(b).merge(PerformanceSketch(a))


@pytest.mark.parametrize(("a", "b"), [(BINARY, REGRESSION), (BINARY, PerformanceLayout.binary(bins=20)),
                                      (CLASSES, PerformanceLayout.classification(["cat"])), (CLASSES, BINARY)])
def test_state_of_another_shape_is_rejected(a: PerformanceLayout, b: PerformanceLayout) -> None:
    # a state does not name its layout (as every sketch's): what differs in shape is caught
    with pytest.raises(ValueError, match="snapshot"):
        PerformanceSketch.from_state(b, PerformanceSketch(a).to_state())


def test_equal_layouts_built_apart_merge() -> None:
    a = sketch_of("classification", [("cat", "cat")])
    b = PerformanceSketch(PerformanceLayout.classification(["cat", "dog", "1"]))
    b.update(np.array(["dog"], dtype=object), np.array(["cat"], dtype=object))
    assert a.merge(b).count == 2


@pytest.mark.parametrize("bad", [
    lambda: PerformanceLayout("ranking"),
    lambda: PerformanceLayout.binary(threshold=1.5),
    lambda: PerformanceLayout.binary(bins=0),
    lambda: PerformanceLayout.classification(["a", "a"]),
])
def test_bad_layouts(bad) -> None:
    with pytest.raises(ValueError):
        bad()


# -- inside a WindowSketch --------------------------------------------------------------------

NUM = NumericLayout.from_edges(("x",), (np.array([0.0]),))
CAT = CategoricalLayout.from_categories((), ())
PRED = NumericLayout.from_edges(("prediction",), (np.array([0.5]),))
WITH_LABELS = MonitorLayout(NUM, CAT, PRED, BINARY)


@st.composite
def labelled_batches(draw) -> ColumnBatch:
    rows = draw(pairs("binary", max_size=30))
    pred, y = arrays("binary", rows)
    return ColumnBatch(np.zeros((len(rows), 1)), (), pred, y)


def window_of(layout: MonitorLayout, *parts: ColumnBatch) -> WindowSketch:
    return fill(WindowSketch(layout), *parts)


@SETTINGS
@given(labelled_batches(), labelled_batches())
def test_window_sketch_merges_and_snapshots_its_performance(a: ColumnBatch, b: ColumnBatch) -> None:
    sa, sb = window_of(WITH_LABELS, a), window_of(WITH_LABELS, b)
    merged = sa.merge(sb)
    assert merged == window_of(WITH_LABELS, a, b)
    assert merged.performance == sa.performance.merge(sb.performance)
    assert merged.performance.count == sa.performance.count + sb.performance.count
    back = WindowSketch.from_state(WITH_LABELS, roundtrip(merged.to_state()))
    assert back == merged
    # row selection keeps the labels aligned with the predictions
    rows = np.arange(len(a))[::2]
    assert window_of(WITH_LABELS, a.take(rows)).performance == sketch_of(
        "binary", list(zip(a.prediction[rows].tolist(), a.labels[rows].tolist(), strict=True)))


def test_a_snapshot_from_before_labels_were_joined_restores() -> None:
    # a window snapshot taken without labels restores under a layout that joins them: no
    # pairs yet, the rest as it was
    batch = ColumnBatch(np.array([[0.2], [0.7]]), (), np.array([0.9, 0.1]))
    old = window_of(MonitorLayout(NUM, CAT, PRED), batch)
    back = WindowSketch.from_state(WITH_LABELS, roundtrip(old.to_state()))
    assert back.performance == PerformanceSketch(BINARY) and back.events == 2
    assert back.numeric == old.numeric and back.prediction == old.prediction
    assert back.merge(window_of(WITH_LABELS, batch)).events == 4


def test_window_sketch_with_and_without_labels() -> None:
    without = MonitorLayout(NUM, CAT, PRED)
    batch = ColumnBatch(np.zeros((2, 1)), (), np.array([0.9, 0.1]), np.array([1.0, 1.0]))
    plain = window_of(without, batch)
    assert plain.performance is None
    assert "performance" not in plain.to_state()              # snapshots without labels unchanged
    labelled = window_of(WITH_LABELS, batch)
    assert labelled.performance.count == 2 and labelled.performance.correct == 1
    assert labelled != window_of(WITH_LABELS)                   # pairs count in equality
    with pytest.raises(ValueError, match="labels"):
        plain.merge(labelled)
    with pytest.raises(ValueError, match="labels"):
        labelled.merge(plain)
    # a batch without joined labels adds no pairs
    unlabelled = window_of(WITH_LABELS, ColumnBatch(np.zeros((2, 1)), (), np.array([0.9, 0.1])))
    assert unlabelled.performance.count == 0 and unlabelled.events == 2


def test_a_layout_built_directly_keeps_its_classes_apart() -> None:
    # the dataclass constructor derives the class lookup as the factory does: nothing folds
    # into "other" but the classes beyond the layout's
    direct = PerformanceLayout("classification", classes=("cat", "dog"))
    assert direct.lookup == {"cat": 0, "dog": 1} == PerformanceLayout.classification(["cat", "dog"]).lookup
    s = PerformanceSketch(direct)
    s.update(np.array(["cat", "dog", "cow"], dtype=object), np.array(["cat", "cat", "cow"], dtype=object))
    assert s.confusion.tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 1]]
    with pytest.raises(ValueError, match="distinct"):
        PerformanceLayout("classification", classes=("cat", "cat"))
