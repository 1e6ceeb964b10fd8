"""LabelDecoder (streams/label_decode.py): label event bytes -> event ids, labels, timestamps.

- valid labels decode per task (binary 0/1/true/false, class names with integers as text,
  finite numbers for regression), with or without a timestamp;
- each malformed label event becomes a dead letter with its reason, stage "decode_labels",
  its bytes and offset;
- whatever the bytes, decode() never raises, equals the careful path, and valid + dead ==
  input, event for event (blank lines excepted).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import orjson
import pytest
from driftline.streams.label_decode import LabelBatch, LabelDecoder, LabelSpec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MAX_BYTES = 500
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REASONS = {"too_large", "invalid_json", "non_finite", "not_an_object", "missing_field", "wrong_type",
           "bad_timestamp", "bad_label"}


def decoder(task: str, label_path: tuple[str, ...] = ("label",)) -> LabelDecoder:
    return LabelDecoder(LabelSpec(("event_id",), label_path, ("timestamp",), task, MAX_BYTES))


DECODERS = {task: decoder(task) for task in ("binary", "classification", "regression")}


def enc(obj) -> bytes:
    return orjson.dumps(obj)


def careful(task: str, values: list[bytes], **kw) -> LabelBatch:
    return DECODERS[task]._careful(values, kw.get("topic"), kw.get("partition"), kw.get("offsets"),
                                   kw.get("skip_blank", False))


def view(b: LabelBatch) -> dict:
    return {
        "event_ids": list(b.event_ids),
        "labels": [None if isinstance(v, float) and math.isnan(v) else v for v in b.labels.tolist()],
        "dtype": b.labels.dtype,
        "timestamps": [None if math.isnan(t) else t for t in b.timestamps.tolist()],
        "dead": [(d.record, d.reason, d.stage) for d in b.dead],
    }


def test_valid_labels_per_task() -> None:
    ten = datetime(2026, 11, 25, 10, tzinfo=UTC).timestamp()
    binary = DECODERS["binary"].decode([
        enc({"event_id": "a", "label": 1, "timestamp": "2026-11-25T10:00:00Z"}),
        enc({"event_id": 7, "label": False, "timestamp": ten + 1}),
        enc({"event_id": "c", "label": 0.0}),
        enc({"event_id": "d", "label": True, "extra": {"x": [1]}}),
    ])
    assert binary.dead == ()
    assert binary.event_ids == ["a", 7, "c", "d"]
    assert binary.labels.tolist() == [1.0, 0.0, 0.0, 1.0] and binary.labels.dtype == np.float64
    assert binary.timestamps[:2].tolist() == [ten, ten + 1] and np.isnan(binary.timestamps[2:]).all()
    classes = DECODERS["classification"].decode([enc({"event_id": "a", "label": "cat"}),
                                                 enc({"event_id": "b", "label": 3}),
                                                 enc({"event_id": "c", "label": 3.0}),    # a whole float
                                                 enc({"event_id": "d", "label": True})])
    assert classes.labels.tolist() == ["cat", "3", "3", "true"] and classes.labels.dtype == object
    reg = DECODERS["regression"].decode([enc({"event_id": "a", "label": -2.5}), enc({"event_id": "b", "label": 10})])
    assert reg.labels.tolist() == [-2.5, 10.0]


def test_nested_label_path() -> None:
    out = decoder("regression", ("truth", "value")).decode([enc({"event_id": "a", "truth": {"value": 4}})])
    assert out.labels.tolist() == [4.0] and out.dead == ()


def test_empty_batch() -> None:
    for task, d in DECODERS.items():
        out = d.decode([])
        assert len(out) == 0 and out.dead == () and out.labels.dtype == d.label_dtype, task


OK = {"event_id": "x", "label": 1, "timestamp": "2026-11-25T10:00:00Z"}

# (kind, task, bytes, reason); task "any": malformed whatever the task
MALFORMED = [
    ("garbage", "any", b"label: 1", "invalid_json"),
    ("truncated", "any", b'{"event_id": "x", "label": 1', "invalid_json"),
    ("array", "any", b"[1]", "not_an_object"),
    ("no-id", "any", enc({"label": 1}), "missing_field"),
    ("float-id", "any", enc({"event_id": 1.5, "label": 1}), "wrong_type"),
    ("no-label", "any", enc({"event_id": "x"}), "missing_field"),
    ("null-label", "regression", enc({"event_id": "x", "label": None}), "missing_field"),
    ("binary-two", "binary", enc({"event_id": "x", "label": 2}), "bad_label"),
    ("binary-half", "binary", enc({"event_id": "x", "label": 0.5}), "bad_label"),
    ("binary-text", "binary", enc({"event_id": "x", "label": "1"}), "wrong_type"),
    ("class-float", "classification", enc({"event_id": "x", "label": 1.5}), "wrong_type"),
    ("class-list", "classification", enc({"event_id": "x", "label": ["a"]}), "wrong_type"),
    ("regression-text", "regression", enc({"event_id": "x", "label": "2.5"}), "wrong_type"),
    ("regression-bool", "regression", enc({"event_id": "x", "label": False}), "wrong_type"),
    ("regression-nan", "regression", b'{"event_id": "x", "label": NaN}', "non_finite"),
    ("regression-huge", "regression", b'{"event_id": "x", "label": 1' + b"0" * 400 + b"}", "non_finite"),
    ("bad-timestamp", "any", enc({**OK, "timestamp": "noon"}), "bad_timestamp"),
    ("bool-timestamp", "any", enc({**OK, "timestamp": True}), "bad_timestamp"),
    ("oversize", "any", enc({**OK, "pad": "x" * MAX_BYTES}), "too_large"),
]


@pytest.mark.parametrize(("kind", "task", "raw", "reason"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_each_malformed_label_gets_its_reason(kind: str, task: str, raw: bytes, reason: str) -> None:
    d = DECODERS["binary" if task == "any" else task]
    good = [enc({"event_id": "ok1", "label": 1}), enc({"event_id": "ok2", "label": 0})]
    out = d.decode([good[0], raw, good[1]], topic=None, partition=0, offsets=[3, 4, 5])
    assert [(x.reason, x.record.value, x.record.offset, x.stage) for x in out.dead] == \
        [(reason, raw, 4, "decode_labels")]
    assert out.dead[0].detail
    assert out.event_ids == ["ok1", "ok2"]


def test_a_label_path_through_a_value_is_wrong_type() -> None:
    d = decoder("regression", ("truth", "value"))
    out = d.decode([enc({"event_id": "a", "truth": {"value": 1}}), enc({"event_id": "b", "truth": 5})])
    assert out.event_ids == ["a"]
    assert [(x.reason, x.detail) for x in out.dead] == [("wrong_type", "truth must be an object, got int")]


# -- any mix of valid, malformed and blank lines ------------------------------------------------

valid_label = {
    "binary": st.sampled_from([0, 1, True, False, 0.0, 1.0]),
    "classification": st.one_of(st.text(max_size=5), st.integers(-5, 5), st.integers(-5, 5).map(float),
                                st.booleans()),
    "regression": st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10**6, 10**6)),
}
stamps = st.one_of(st.none(), st.sampled_from(["2026-11-25T10:00:00Z", "2026-11-25T10:00:00.5+01:00",
                                               "2026-11-25 10:00:00"]), st.floats(0, 2e9))


@st.composite
def mixed(draw, task: str):
    items = []
    for i in range(draw(st.integers(0, 30))):
        choice = draw(st.integers(0, 9))
        if choice < 6:
            e = {"event_id": draw(st.one_of(st.text(max_size=4), st.integers(0, 99))) if i % 2 else f"e{i}",
                 "label": draw(valid_label[task])}
            ts = draw(stamps)
            if ts is not None:
                e["timestamp"] = ts
            items.append(("valid", enc(e), e))
        elif choice < 9:
            _, _, raw, reason = draw(st.sampled_from([m for m in MALFORMED if m[1] in (task, "any")]))
            items.append(("bad", raw, reason))
        else:
            items.append(("blank", draw(st.sampled_from([b"", b"  ", b"\n", b"\r\n"])), None))
    return items


@SETTINGS
@given(st.sampled_from(sorted(DECODERS)), st.data())
def test_mixed_batches_never_raise_and_account_for_every_label(task: str, data) -> None:
    items = data.draw(mixed(task))
    values = [raw for _, raw, _ in items]
    offsets = list(range(100, 100 + len(values)))
    out = DECODERS[task].decode(values, None, 0, offsets, skip_blank=True)
    bad = [(raw, reason, off) for (k, raw, reason), off in zip(items, offsets, strict=True) if k == "bad"]
    assert [(d.record.value, d.reason, d.record.offset) for d in out.dead] == bad
    assert all(d.stage == "decode_labels" and d.reason in REASONS for d in out.dead)
    good = [e for k, _, e in items if k == "valid"]
    assert len(out) + len(out.dead) == sum(k != "blank" for k, _, _ in items)
    assert out.event_ids == [e["event_id"] for e in good]
    expected = [_class_text(e["label"]) if task == "classification" else float(e["label"]) for e in good]
    assert out.labels.tolist() == expected
    # the fast path gives what the careful path gives
    assert view(out) == view(careful(task, values, offsets=offsets, partition=0, skip_blank=True))


def _class_text(label) -> str:
    """A class label as the decoder reads it: text as it is, booleans as true / false, numbers
    (whole) as their integer's text."""
    if type(label) is bool:
        return "true" if label else "false"
    return label if type(label) is str else str(int(label))


def test_the_dead_letter_schema_lists_every_reason_and_stage() -> None:
    """Those the decoders give (here and in tests/streams/test_decode.py), plus run's
    ``future_timestamp``: a consumer validating dead letters against the contract accepts all."""
    from driftline.schemas.validate import load_schema
    from driftline.streams.future_check import REASON
    from driftline.streams.label_decode import STAGE

    from tests.streams.test_decode import REASONS as EVENT_REASONS

    props = load_schema("dlq_record")["properties"]
    assert set(props["reason"]["enum"]) == REASONS | EVENT_REASONS | {REASON}
    assert set(props["stage"]["enum"]) == {"decode", STAGE}


def test_unknown_fields_are_ignored_even_where_orjson_refuses_them() -> None:
    """As in prediction events (decode.py reads such an event through its typed layout): a
    number beyond float range in a field driftline does not read; in the label it is one."""
    decoder = LabelDecoder(LabelSpec(("event_id",), ("label",), ("timestamp",), "binary"))
    out = decoder.decode([b'{"event_id": "a", "label": 1, "junk": 1e400}',
                          b'{"event_id": "b", "label": 1e400}',
                          b'{"event_id": "c", "label": 0, "timestamp": 1795600000, "x": {"y": [1e999]}}'])
    assert out.event_ids == ["a", "c"] and out.labels.tolist() == [1.0, 0.0]
    assert [d.reason for d in out.dead] == ["non_finite"]
    # paths that conflict have no typed layout: orjson's reading alone, as before
    clash = LabelDecoder(LabelSpec(("id",), ("id", "label"), ("ts",), "binary"))
    assert [d.reason for d in clash.decode([b'{"id": "a", "junk": 1e400}']).dead] == ["non_finite"]
