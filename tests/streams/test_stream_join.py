"""The label join of ``driftline run`` (streams/stream_join.py), against replay's join.

Replay reads every label first and each prediction takes its label as it is decoded
(streams/label_join.py, tested in test_label_join.py / test_replay_labels.py). The streaming
join must count the same pairs in the same windows whatever the order labels and predictions
arrive in, as long as they arrive before the windows close; account for every label
(read = pairs + unmatched + dropped + waiting); let go of what can no longer pair; stay
within its caps; and round-trip through a snapshot.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import orjson
import pytest
from driftline.schemas.config import load_config
from driftline.streams.cli import main
from driftline.streams.label_join import LabelStore
from driftline.streams.replay import load_monitors
from driftline.streams.stream_join import StreamJoin
from driftline.streams.windows import PartitionWindows, WindowSpec
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline import synth

N = 3000                                   # 100 events/s: 30 s of event time
SPEC_OPEN = WindowSpec(10_000, 5_000, 10**9)   # hopping windows that stay open to the end


@pytest.fixture(scope="module")
def monitor(tmp_path_factory):
    d = tmp_path_factory.mktemp("join")
    rng = np.random.default_rng(3)
    synth.write_lines(d / "training.jsonl", synth.training_rows(rng, 5000))
    (d / "driftline.yaml").write_text(synth.config_yaml("reference.json").replace(
        "source: {predictions: predictions}", "source: {predictions: predictions, labels: labels}"))
    assert main(["reference", "build", "--config", str(d / "driftline.yaml"), "--monitor", "fraud",
                 "--input", str(d / "training.jsonl"), "--out", str(d / "reference.json")]) == 0
    (m,) = load_monitors(load_config(d / "driftline.yaml"), label_topics=True)
    assert m.label_decoder is not None
    return m


@pytest.fixture(scope="module")
def stream():
    events = synth.events(np.random.default_rng(8), N, versions=("v1", "v2"))
    return events, synth.label_events(events)


def replay_windows(m, spec, events, labels) -> PartitionWindows:
    """Replay's join: all labels first, then the predictions take theirs."""
    store = LabelStore(10**6, m.label_decoder.label_dtype)
    store.add(m.label_decoder.decode(labels))
    w = PartitionWindows(spec, m.layout)
    batch = store.attach(m.decoder.decode(events))
    _, unplaced = w.add_rows(batch)
    store.settle(batch.columns, unplaced)
    return w


def new_join(m, spec, max_labels=10**6, max_predictions=10**6) -> StreamJoin:
    return StreamJoin(spec, m.label_decoder.label_dtype, max_labels, max_predictions)


def accounted(join: StreamJoin) -> int:
    c = join.counts
    return c.pairs + c.unmatched + sum(c.dropped.values()) + join.pending_labels


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(0, N), max_size=12), order=st.lists(st.booleans(), min_size=26, max_size=26))
def test_any_interleaving_counts_the_pairs_of_replay(monitor, stream, cuts, order):
    events, labels = stream
    bounds = sorted({0, N, *cuts})
    chunks = [(events[a:b], labels[a:b]) for a, b in pairwise(bounds)]
    w = PartitionWindows(SPEC_OPEN, monitor.layout)
    join = new_join(monitor, SPEC_OPEN)
    # each chunk's labels come before or after its predictions (labels of a later chunk may
    # even come before predictions of an earlier one)
    pending_labels = []
    for i, (ev, lab) in enumerate(chunks):
        if order[i % len(order)]:
            join.add_labels(monitor.label_decoder.decode(lab), w)
        else:
            pending_labels.append(lab)
        join.add_predictions(monitor.decoder.decode(ev), w)
    for lab in pending_labels:
        join.add_labels(monitor.label_decoder.decode(lab), w)
    want = replay_windows(monitor, SPEC_OPEN, events, labels)
    assert sorted(w.open) == sorted(want.open)
    for start, by_version in want.open.items():
        for version, sketch in by_version.items():
            assert w.open[start][version] == sketch, (start, version)
    assert join.counts.pairs == N and join.counts.read == N
    assert join.pending_labels == 0 and join.pending_predictions == 0 and accounted(join) == N


def test_labels_after_their_windows_closed_leave_as_unmatched(monitor, stream):
    events, labels = stream
    spec = WindowSpec(10_000, 10_000, 0)
    w = PartitionWindows(spec, monitor.layout)
    join = new_join(monitor, spec)
    join.add_predictions(monitor.decoder.decode(events), w)
    partials = w.close_ready()
    join.on_close(w.closed_through, w.watermark)
    assert [p.window_start for p in partials] == sorted(p.window_start for p in partials) and len(partials) == 2
    # the predictions of closed windows no longer wait; the last window's (still open) do
    assert join.pending_predictions == N - 2000
    join.add_labels(monitor.label_decoder.decode(labels), w)
    assert join.counts.pairs == N - 2000 and join.pending_labels == 2000
    # the waiting labels (timestamped LABEL_DELAY after their prediction) could only pair with
    # late predictions once the watermark passes their time plus the window size
    join.on_close(w.closed_through, w.watermark)
    assert join.pending_labels == 2000
    first = 10_000 * (w.watermark // 10_000) - 20_000 + round(synth.LABEL_DELAY * 1000) + 10_000   # e0's
    w.close_ready(watermark=first + 4_999)       # half of the first closed window's labels
    join.on_close(w.closed_through, w.watermark)
    assert join.pending_labels == 1500 and join.counts.unmatched == 500
    w.close_ready(watermark=first + 20_000)
    join.on_close(w.closed_through, w.watermark)
    assert join.pending_labels == 0 and join.counts.unmatched == 2000
    assert accounted(join) == N == join.counts.read
    got = join.take_counts()
    assert got is not None and got.unmatched == 2000 and join.take_counts() is None


def test_duplicates_and_labels_without_a_timestamp(monitor, stream):
    events, labels = stream
    w = PartitionWindows(SPEC_OPEN, monitor.layout)
    join = new_join(monitor, SPEC_OPEN)
    first = orjson.loads(labels[0])
    flipped = orjson.dumps({"event_id": first["event_id"], "label": 1 - first["label"]})
    stranger = b'{"event_id": "nobody", "label": 1}'
    join.add_labels(monitor.label_decoder.decode([labels[0], flipped, stranger]), w)
    assert join.counts.duplicate == 1 and join.pending_labels == 2
    join.add_predictions(monitor.decoder.decode(events[:10]), w)
    assert join.counts.pairs == 1 and join.pending_labels == 1
    # the flipped (last) label is the one that counted
    want = PartitionWindows(SPEC_OPEN, monitor.layout)
    replay_store = LabelStore(10, monitor.label_decoder.label_dtype)
    replay_store.add(monitor.label_decoder.decode([labels[0], flipped]))
    b = replay_store.attach(monitor.decoder.decode(events[:10]))
    want.add_rows(b)
    start = max(want.open)
    assert w.open[start]["v1"] == want.open[start]["v1"]
    # a label without a timestamp never expires by time ...
    w.close_ready(watermark=10**12)
    join.on_close(w.closed_through, w.watermark)
    assert join.pending_labels == 1 and accounted(join) == join.counts.read == 3


def test_caps_evict_the_oldest_and_count_them(monitor, stream):
    events, labels = stream
    w = PartitionWindows(SPEC_OPEN, monitor.layout)
    join = new_join(monitor, SPEC_OPEN, max_labels=100, max_predictions=500)
    join.add_labels(monitor.label_decoder.decode(labels[2000:2300]), w)
    assert join.pending_labels == 100 and join.counts.unmatched == 200
    assert accounted(join) == join.counts.read == 300
    join.add_predictions(monitor.decoder.decode(events[:1000]), w)
    assert join.pending_predictions == 500 and join.evicted_predictions == 500
    assert list(join.predictions) == [f"e{i}" for i in range(500, 1000)]   # the newest stay
    # the newest 500 still wait and pair; the evicted ones' labels wait in vain
    join.add_labels(monitor.label_decoder.decode(labels[:1000]), w)
    assert join.counts.pairs == 500 and join.pending_predictions == 0
    assert set(join.labels.items()[0]) >= {f"e{i}" for i in range(400, 500)}


def test_a_snapshot_round_trips_mid_stream(monitor, stream):
    events, labels = stream
    spec = WindowSpec(10_000, 10_000, 2_000)

    def feed(join, w, parts):
        for ev, lab in parts:
            join.add_labels(monitor.label_decoder.decode(lab), w)
            join.add_predictions(monitor.decoder.decode(ev), w)
            w.close_ready()
            join.on_close(w.closed_through, w.watermark)

    # labels lag their predictions by 300 events (3 s)
    parts = [(events[a:a + 500], labels[max(0, a - 300):a + 200]) for a in range(0, N, 500)]
    w1, j1 = PartitionWindows(spec, monitor.layout), new_join(monitor, spec)
    feed(j1, w1, parts)
    w2, j2 = PartitionWindows(spec, monitor.layout), new_join(monitor, spec)
    feed(j2, w2, parts[:3])
    state = orjson.loads(orjson.dumps(j2.to_state()))
    assert j2.pending_predictions and state["predictions"]["ids"]
    j3 = monitor.new_join(state)
    assert j3.to_state() == j2.to_state()
    feed(j3, w2, parts[3:])
    assert j3.to_state() == j1.to_state()
    assert w2.open == w1.open and j3.counts == j1.counts



def test_a_repeated_prediction_leaves_the_label_to_the_first(monitor, stream):
    events, labels = stream
    first = orjson.loads(events[3])
    again = orjson.dumps({**first, "model_version": "v9", "prediction": {"score": 0.01, "label": 0}})
    w = PartitionWindows(SPEC_OPEN, monitor.layout)
    join = new_join(monitor, SPEC_OPEN)
    join.add_predictions(monitor.decoder.decode([*events[:5], again]), w)
    join.add_predictions(monitor.decoder.decode([again]), w)
    assert join.pending_predictions == 5
    join.add_labels(monitor.label_decoder.decode([labels[3]]), w)
    sketches = {v: s for by_version in w.open.values() for v, s in by_version.items()}
    assert sketches[first["model_version"]].performance.count == 1
    assert sketches["v9"].performance.count == 0
    # the prediction that took the label waits no more; its repeats never waited
    w.close_ready(watermark=10**13)
    join.on_close(w.closed_through, w.watermark)
    assert join.pending_predictions == 0


def test_a_repeated_id_in_a_later_window_keeps_waiting_and_restores_alike(monitor, stream):
    events, labels = stream
    spec = WindowSpec(10_000, 10_000, 0)
    x = orjson.loads(events[3])
    again = orjson.dumps({**x, "timestamp": "2026-11-25T10:00:15.000Z"})   # the next window
    relabel = orjson.dumps({"event_id": x["event_id"], "label": 0})       # no timestamp

    def run(restore_at: int | None) -> StreamJoin:
        w, join = PartitionWindows(spec, monitor.layout), new_join(monitor, spec)

        def close() -> None:
            w.close_ready()
            join.on_close(w.closed_through, w.watermark)

        # (the steps see the restored join: they read ``join`` when they run)
        steps = [
            lambda: join.add_predictions(monitor.decoder.decode(events[:10]), w),
            lambda: join.add_labels(monitor.label_decoder.decode([labels[3]]), w),   # pairs x
            lambda: join.add_predictions(monitor.decoder.decode([again]), w),        # x waits again
            lambda: join.add_predictions(monitor.decoder.decode(events[1100:1200]), w),  # closes 10:00:00
            close,
            lambda: join.add_labels(monitor.label_decoder.decode([relabel]), w),      # pairs x again
        ]
        for i, step in enumerate(steps):
            if i == restore_at:
                join = monitor.new_join(orjson.loads(orjson.dumps(join.to_state())))
            step()
        return join

    straight = run(None)
    assert straight.counts.pairs == 2 and straight.pending_labels == 0
    for at in range(1, 6):
        assert run(at).to_state() == straight.to_state(), at


def test_a_label_without_a_time_replacing_one_with_a_time_does_not_expire(monitor, stream):
    _, labels = stream
    w = PartitionWindows(SPEC_OPEN, monitor.layout)
    join = new_join(monitor, SPEC_OPEN)
    first = orjson.loads(labels[0])
    untimed = orjson.dumps({"event_id": first["event_id"], "label": first["label"]})
    join.add_labels(monitor.label_decoder.decode([labels[0]]), w)
    join.add_labels(monitor.label_decoder.decode([untimed]), w)
    assert join.counts.duplicate == 1 and join.expiry == {}
    w.close_ready(watermark=10**13)
    join.on_close(w.closed_through, w.watermark)
    assert join.pending_labels == 1 and join.counts.unmatched == 0


def test_a_label_after_its_null_prediction_is_dropped_as_in_replay(monitor):
    """A prediction with a null value that comes before its label: the label met its
    prediction, so it is dropped as null_prediction (replay's count), not unmatched."""
    spec = WindowSpec(10_000, 10_000, 0)
    event = orjson.dumps({"event_id": "n", "timestamp": 100.0, "model_version": "v1",
                          "features": {}, "prediction": {"score": None}})
    later = orjson.dumps({"event_id": "z", "timestamp": 130.0, "model_version": "v1",
                          "features": {}, "prediction": {"score": 0.4}})
    label = orjson.dumps({"event_id": "n", "label": 1, "timestamp": 100.0})
    replayed = LabelStore(10, monitor.label_decoder.label_dtype)
    replayed.add(monitor.label_decoder.decode([label]))
    batch = replayed.attach(monitor.decoder.decode([event]))
    _, unplaced = PartitionWindows(spec, monitor.layout).add_rows(batch)
    replayed.settle(batch.columns, unplaced)
    w = PartitionWindows(spec, monitor.layout)
    join = new_join(monitor, spec)
    join.add_predictions(monitor.decoder.decode([event]), w)
    join.add_labels(monitor.label_decoder.decode([label]), w)
    join.add_predictions(monitor.decoder.decode([later]), w)
    join.close(w)
    assert (join.counts.null_prediction, join.counts.unmatched) == (replayed.counts.null_prediction, 0) == (1, 0)
    assert join.counts.pairs == 0 and accounted(join) == 1


def test_a_waiting_null_prediction_round_trips_through_a_snapshot(monitor):
    spec = WindowSpec(10_000, 10_000, 0)
    event = orjson.dumps({"event_id": "n", "timestamp": 100.0, "model_version": "v1",
                          "features": {}, "prediction": {"score": None}})
    w = PartitionWindows(spec, monitor.layout)
    join = new_join(monitor, spec)
    join.add_predictions(monitor.decoder.decode([event]), w)
    state = orjson.loads(orjson.dumps(join.to_state()))      # as the checkpoint saves it
    j2 = StreamJoin.from_state(state, spec, monitor.label_decoder.label_dtype, 10**6, 10**6)
    j2.add_labels(monitor.label_decoder.decode([b'{"event_id": "n", "label": 0}']), w)
    assert (j2.counts.null_prediction, j2.counts.pairs, j2.pending_labels) == (1, 0, 0)
