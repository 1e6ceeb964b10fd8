"""Snapshots of tier-1 windows, partials and mergers (streams/state_codec.py) with labels joined:
through JSON and back, equal, and working on as the originals; a snapshot taken before labels
were joined restores with empty performance sketches."""

from __future__ import annotations

import numpy as np
from driftline.detectors.categorical_sketch import CategoricalLayout
from driftline.detectors.numeric_sketch import NumericLayout
from driftline.detectors.performance_sketch import PerformanceLayout
from driftline.detectors.window_sketch import ColumnBatch, MonitorLayout
from driftline.streams import state_codec
from driftline.streams.merge import WindowMerger
from driftline.streams.records import DecodedBatch
from driftline.streams.windows import PartitionWindows, WindowSpec

NUM = NumericLayout.from_edges(("x",), (np.array([0.0, 1.0]),))
CAT = CategoricalLayout.from_categories(("c",), (("a", "b"),))
PRED = NumericLayout.from_edges(("prediction",), (np.array([0.5]),))
LABELS = MonitorLayout(NUM, CAT, PRED, PerformanceLayout.binary())
PLAIN = MonitorLayout(NUM, CAT, PRED)
SPEC = WindowSpec(10_000, 5_000, 1_000)            # hopping: each event in two windows


def batch(t_s: list[float], labels: bool = True) -> DecodedBatch:
    n = len(t_s)
    rng = np.random.default_rng(n)
    columns = ColumnBatch(rng.normal(size=(n, 1)), (rng.choice(np.array(["a", "b", "z"], dtype=object), n),),
                          rng.random(n), rng.choice(np.array([0.0, 1.0, np.nan]), n) if labels else None)
    versions = np.array(["v1", None] * (n // 2) + ["v1"] * (n % 2), dtype=object)
    return DecodedBatch(columns, np.array(t_s), versions, ())


def wire(obj):
    return state_codec.loads(state_codec.dumps(obj))


def test_windows_and_partials_with_performance_round_trip() -> None:
    w = PartitionWindows(SPEC, LABELS)
    w.add(batch([1.0, 2.0, 6.0, 7.5, 12.0, 13.0]))
    assert any(s.performance.count for by_version in w.open.values() for s in by_version.values())
    back = state_codec.windows_from_dict(wire(state_codec.windows_to_dict(w)), SPEC, LABELS)
    assert back.open == w.open and back.closed_through == w.closed_through
    assert state_codec.windows_to_dict(back) == state_codec.windows_to_dict(w)
    # both go on alike: same partials out
    more = batch([20.0, 21.0])
    w.add(more)
    back.add(more)
    partials, restored = w.close_ready(), back.close_ready()
    assert partials and [p.sketches for p in partials] == [p.sketches for p in restored]
    for p in partials:
        again = state_codec.partial_from_dict(wire(state_codec.partial_to_dict(p)), LABELS)
        assert again.sketches == p.sketches and (again.late, again.invalid) == (p.late, p.invalid)
        assert all(s.performance is not None for s in again.sketches.values())


def test_a_merger_with_pending_partials_round_trips() -> None:
    w = PartitionWindows(SPEC, LABELS)
    w.add(batch([1.0, 2.0, 6.0, 14.0, 19.0]))
    m = WindowMerger(SPEC.size_ms, frozenset({0, 1}))
    assert m.add(0, w.close_ready(), w.closed_through) == []        # partition 1 not reported yet
    back = state_codec.merger_from_dict(wire(state_codec.merger_to_dict(m)), SPEC.size_ms,
                                        frozenset({0, 1}), LABELS)
    assert state_codec.merger_to_dict(back) == state_codec.merger_to_dict(m)


def test_a_merger_with_idle_claims_and_windows_released_without_a_partition_round_trips() -> None:
    w = PartitionWindows(SPEC, LABELS)
    w.add(batch([1.0, 2.0, 6.0, 14.0, 19.0]))
    partials = w.close_ready()
    m = WindowMerger(SPEC.size_ms, frozenset({0, 1}))
    assert m.add(0, partials, w.closed_through) == []
    last = partials[-1].window_start
    assert m.set_idle(1, {last}) == []         # partition 1 idle, one window still open there
    released = m.set_idle(1, {last})           # ... and still, a claim later
    assert released and m.merged_from and m.idle_horizon == m.idle_seen == {1: w.closed_through}
    assert m.add(1, [partials[0]], None) == [] and m.late_events > 0     # a late partial
    d = state_codec.merger_to_dict(m)
    back = state_codec.merger_from_dict(wire(d), SPEC.size_ms, frozenset({0, 1}), LABELS)
    assert state_codec.merger_to_dict(back) == d
    # both go on alike: the same partial again is a duplicate now, in the original and the copy
    for merger in (m, back):
        merger.add(1, [partials[0]], None)
    assert (back.duplicates, back.late_events) == (m.duplicates, m.late_events) == (1, d["late_events"])


def test_a_snapshot_from_before_labels_restores_with_empty_performance() -> None:
    w = PartitionWindows(SPEC, PLAIN)
    w.add(batch([1.0, 2.0, 6.0], labels=False))
    back = state_codec.windows_from_dict(wire(state_codec.windows_to_dict(w)), SPEC, LABELS)
    for start, by_version in back.open.items():
        for version, s in by_version.items():
            assert s.performance is not None and s.performance.count == 0
            assert s.events == w.open[start][version].events


def test_late_events_behind_a_far_future_watermark_keep_the_snapshot_small() -> None:
    # one event in the year 8000 moves the watermark there: every later event is late, and no
    # window closes to report them; they are counted by the watermark they saw, not one by one
    w = PartitionWindows(SPEC, PLAIN)
    w.add(batch([1.0, 192_000_000_000.0]))
    for _ in range(20):
        w.add(batch([float(t) for t in range(2, 1002)]))
    assert w.late == 20_000
    d = state_codec.windows_to_dict(w)
    assert len(d["pending_late"]) == 1 and len(state_codec.dumps(d)) < 20_000
    back = state_codec.windows_from_dict(wire(d), SPEC, PLAIN)
    assert back.late == 20_000
    assert sum(p.late for p in back.close_all()) == 20_000


def test_a_snapshot_with_one_pending_watermark_per_event_restores_its_counts() -> None:
    w = PartitionWindows(SPEC, PLAIN)
    w.add(batch([1.0, 30.0]))
    old = {**state_codec.windows_to_dict(w), "pending_late": [15_000, 15_000, 40_000], "pending_invalid": [3]}
    back = state_codec.windows_from_dict(wire(old), SPEC, PLAIN)
    assert (back.late, back.invalid) == (3, 1)
    assert back.pending_late == {15_000: 2, 40_000: 1}
