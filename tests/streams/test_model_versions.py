"""Bounded model versions per window (``limits.max_model_versions``).

Tier 1 (``PartitionWindows``) gives at most ``cap`` versions of a window a sketch of their own
and adds the events of later ones to the None sketch (the events without a version), keeping
their names; tier 2 (``merge.pool_versions``) pools a version that any partition pooled, then
keeps the ``cap`` versions with the most events. Whatever the spread over partitions:

- the all-versions total is the total without a cap (no event lost or counted twice);
- every version that keeps a sketch of its own has all of its events (its report is never
  missing a partition's share), and at most ``cap`` do;
- ``pooled_versions`` counts the versions without a sketch of their own.

Every test event carries its own index as its value (one fine bin per index), so equal
sketches hold exactly the same events.
"""

from __future__ import annotations

import numpy as np
from driftline.detectors.categorical_sketch import CategoricalLayout
from driftline.detectors.numeric_sketch import NumericLayout
from driftline.detectors.window_sketch import ColumnBatch, MonitorLayout, WindowSketch
from driftline.streams.merge import MergedWindow, WindowMerger, pool_versions
from driftline.streams.records import DecodedBatch
from driftline.streams.state_codec import (
    partial_from_dict,
    partial_to_dict,
    windows_from_dict,
    windows_to_dict,
)
from driftline.streams.windows import PartitionWindows, WindowSpec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MAX_EVENTS = 40
LAYOUT = MonitorLayout(
    NumericLayout.from_edges(("x",), (np.arange(MAX_EVENTS - 1) + 0.5,)),
    CategoricalLayout.from_categories((), ()),
    None,
)
SPEC = WindowSpec(60_000, 60_000, 0)
BASE_MS = 1_764_064_800_000


def batch(ids: list[int], versions: list[str | None]) -> DecodedBatch:
    n = len(ids)
    return DecodedBatch(ColumnBatch(np.array(ids, dtype=np.float64).reshape(n, 1), (), None),
                        np.full(n, BASE_MS / 1000.0), np.array(versions, dtype=object), ())


def sketch(ids: list[int]) -> WindowSketch:
    s = WindowSketch(LAYOUT)
    s.update(batch(ids, [None] * len(ids)).columns)
    return s


def merged(events: list[tuple[str | None, int]], cap: int | None, partitions: int = 3) -> MergedWindow:
    """Event i = (version, partition): tier 1 per partition, then tier 2, one window."""
    tier1 = {p: PartitionWindows(SPEC, LAYOUT, max_versions=cap) for p in range(partitions)}
    for p, w in tier1.items():
        ids = [i for i, (_, q) in enumerate(events) if q == p]
        if ids:
            w.add(batch(ids, [events[i][0] for i in ids]))
    merger = WindowMerger(SPEC.size_ms, frozenset(tier1), max_versions=cap)
    out = []
    for p, w in tier1.items():
        out += merger.add(p, w.close_all(), None)
    out += merger.flush()
    assert len(out) == 1
    return out[0]


def total(w: MergedWindow) -> WindowSketch:
    out = WindowSketch(LAYOUT)
    for s in w.sketches.values():
        out = out.merge(s)
    return out


VERSIONS = st.sampled_from([None, "a", "b", "c", "d", "e", "f"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(VERSIONS, st.integers(0, 2)), min_size=1, max_size=MAX_EVENTS), st.integers(1, 4))
def test_a_capped_window_loses_no_event_and_keeps_only_whole_versions(events, cap) -> None:
    capped, free = merged(events, cap), merged(events, None)
    assert free.pooled_versions == 0
    assert total(capped) == total(free)
    own = [v for v in capped.sketches if v is not None]
    assert len(own) <= cap
    for v in own:
        assert capped.sketches[v] == free.sketches[v], v
    named = {v for v, _ in events if v is not None}
    assert capped.pooled_versions == len(named) - len(own)
    if len(named) <= cap:
        assert capped.sketches.keys() == free.sketches.keys()


def test_tier_1_pools_the_versions_after_the_first_cap_it_saw() -> None:
    w = PartitionWindows(SPEC, LAYOUT, max_versions=2)
    w.add(batch([0, 1, 2, 3, 4, 5], ["a", None, "b", "c", "a", "d"]))
    (p,) = w.close_all()
    assert set(p.sketches) == {"a", "b", None}
    assert p.sketches["a"] == sketch([0, 4]) and p.sketches[None] == sketch([1, 3, 5])
    assert p.pooled == {"c", "d"}


def test_tier_2_keeps_the_versions_with_most_events_then_by_name() -> None:
    sketches = {"a": sketch([0]), "b": sketch([1, 2]), "c": sketch([3]), "d": sketch([4, 5]), None: sketch([6])}
    out, n = pool_versions(sketches, set(), 3)
    assert n == 1 and set(out) == {"b", "d", "a", None}      # c ties a, after it by name
    assert out[None] == sketch([3, 6])
    assert sketches[None] == sketch([6])                      # the input is not changed


def test_a_version_one_partition_pooled_is_pooled_where_another_kept_it() -> None:
    # partition 0 sees a, b, c (c pooled there); partition 1 sees only c: its report would
    # miss partition 0's event of c, so c has none
    w = merged([("a", 0), ("b", 0), ("c", 0), ("c", 1)], cap=2, partitions=2)
    assert set(w.sketches) == {"a", "b", None} and w.pooled_versions == 1
    assert w.sketches[None] == sketch([2, 3])


def test_pooled_names_survive_snapshots_and_partials() -> None:
    w = PartitionWindows(SPEC, LAYOUT, max_versions=1)
    w.add(batch([0, 1], ["a", "b"]))
    back = windows_from_dict(windows_to_dict(w), SPEC, LAYOUT, max_versions=1)
    assert back.pooled == {BASE_MS: {"b"}} and back.max_versions == 1
    back.add(batch([2], ["c"]))                              # the cap holds after a restore
    (p,) = back.close_all()
    assert set(p.sketches) == {"a", None} and p.pooled == {"b", "c"}
    assert partial_from_dict(partial_to_dict(p), LAYOUT) == p
