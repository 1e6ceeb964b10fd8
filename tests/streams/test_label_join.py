"""LabelStore (streams/label_join.py): the bounded join of labels to predictions by event id."""

from __future__ import annotations

import math

import numpy as np
import pytest
from driftline.detectors.window_sketch import ColumnBatch
from driftline.streams.exceptions import InputError
from driftline.streams.label_decode import LabelBatch
from driftline.streams.label_join import LabelCapError, LabelStore
from driftline.streams.records import DecodedBatch
from hypothesis import given, settings
from hypothesis import strategies as st


def labels(ids: list, values: list, dtype=np.float64) -> LabelBatch:
    return LabelBatch(list(ids), np.array(values, dtype=dtype), np.full(len(ids), np.nan), ())


def predictions(ids: list) -> DecodedBatch:
    n = len(ids)
    return DecodedBatch(ColumnBatch(np.zeros((n, 0)), (), np.linspace(0, 1, n)), np.zeros(n),
                        np.array([None] * n, dtype=object), (), event_ids=list(ids))


def test_the_last_duplicate_wins_and_a_label_joins_once() -> None:
    store = LabelStore(cap=100, dtype=np.float64)
    store.add(labels(["a", "b"], [1.0, 0.0]))
    store.add(labels(["a"], [0.0]))                 # a later label of "a" replaces the first
    out = store.attach(predictions(["a", "c", "a", "b"]))
    got = out.columns.labels.tolist()
    assert got[0] == 0.0 and got[3] == 0.0
    assert math.isnan(got[1]) and math.isnan(got[2])   # no label; "a" already joined
    assert store.pending == 0 and store.take_unmatched() == 0
    np.testing.assert_array_equal(out.columns.prediction, predictions(["a", "c", "a", "b"]).columns.prediction)


def test_ids_are_compared_as_text_and_class_labels_stay_objects() -> None:
    store = LabelStore(cap=100, dtype=object)
    store.add(labels([7, "8"], ["cat", "dog"], dtype=object))
    out = store.attach(predictions(["7", 8, 9]))
    assert out.columns.labels.tolist() == ["cat", "dog", None]
    assert out.columns.labels.dtype == object


def test_unmatched_labels_are_counted_and_cleared() -> None:
    store = LabelStore(cap=100, dtype=np.float64)
    store.add(labels(["a", "b", "c"], [1, 1, 0]))
    store.attach(predictions(["b"]))
    assert store.pending == 2
    assert store.take_unmatched() == 2
    assert store.pending == 0


def test_the_cap_is_an_error_naming_the_key() -> None:
    store = LabelStore(cap=3, dtype=np.float64, source="labels.jsonl")
    store.add(labels(["a", "b", "a"], [1, 1, 0]))    # duplicates do not count twice
    store.add(labels(["c"], [1]))
    with pytest.raises(LabelCapError) as info:
        store.add(labels(["d"], [1]))
    assert isinstance(info.value, InputError)
    message = str(info.value)
    assert message.startswith("limits.max_pending_labels: more than 3 labels of labels.jsonl")
    assert "\n" not in message


def test_a_batch_without_event_ids_cannot_be_joined() -> None:
    batch = predictions(["a"])
    batch = DecodedBatch(batch.columns, batch.timestamps, batch.versions, ())
    with pytest.raises(ValueError, match="event ids"):
        LabelStore(cap=1, dtype=np.float64).attach(batch)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", 1, 2]), st.sampled_from([0.0, 1.0]))),
       st.lists(st.sampled_from(["a", "b", "c", "d", "1", 2])))
def test_join_matches_a_plain_dictionary(label_rows: list, prediction_ids: list) -> None:
    store = LabelStore(cap=100, dtype=np.float64)
    store.add(labels([r[0] for r in label_rows], [r[1] for r in label_rows]))
    expected = {str(k): v for k, v in label_rows}        # last one wins
    joined = store.attach(predictions(prediction_ids)).columns.labels.tolist()
    for pid, got in zip(prediction_ids, joined, strict=True):
        want = expected.pop(str(pid), None)
        assert (math.isnan(got) if want is None else got == want)
    assert store.take_unmatched() == len(expected)


def test_doctests_of_the_label_modules() -> None:
    import doctest

    from driftline.streams import label_decode, label_join

    for module in (label_decode, label_join):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


@pytest.mark.parametrize("dtype", [np.float64, object])
def test_settle_accounts_for_every_label(dtype) -> None:
    store = LabelStore(cap=100, dtype=dtype)
    one = 1.0 if dtype is np.float64 else "cat"
    store.add(labels(["a", "b", "c", "d", "a", "x"], [one] * 6, dtype))      # "a" twice
    batch = predictions(["a", "b", "c", "d", "e"])
    missing = np.nan if dtype is np.float64 else None
    values = np.array([one, missing, one, one, one], dtype=dtype)          # b has no prediction
    batch = DecodedBatch(ColumnBatch(np.zeros((5, 0)), (), values), batch.timestamps, batch.versions, (),
                         event_ids=batch.event_ids)
    out = store.attach(batch)
    store.settle(out.columns, np.array([False, False, True, False, False]))   # c reached no window
    store.take_unmatched()                                                     # x
    c = store.counts
    assert (c.read, c.pairs, c.unmatched, c.dropped) == (
        6, 2, 1, {"late": 1, "null_prediction": 1, "duplicate": 1})
    assert c.read == c.pairs + c.unmatched + sum(c.dropped.values())
