"""Tier 2 (streams/merge.py): WindowMerger merges the partials of a window from every partition.

- a window completes only when every partition has sent its partial for it or reported
  (closed_through) that it closed every window ending by then;
- completed windows leave in start order;
- a repeated partial (same partition, same window) is ignored, before or after release, and
  counted in ``duplicates``: replays of the internal topic change nothing;
- a partial for a window released without it is late: counted in ``late_events``, not merged;
- an idle partition is let off only the windows the others had closed at its previous claim.
"""

from __future__ import annotations

import numpy as np
import orjson
from driftline.detectors.categorical_sketch import CategoricalLayout
from driftline.detectors.numeric_sketch import NumericLayout
from driftline.detectors.window_sketch import ColumnBatch, MonitorLayout, WindowSketch
from driftline.streams.merge import _MAX_MERGED, MergedWindow, WindowMerger
from driftline.streams.windows import Partial
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

LAYOUT = MonitorLayout(
    NumericLayout.from_edges(("x",), (np.arange(15) + 0.5,)),
    CategoricalLayout.from_categories((), ()),
    None,
)
SIZE = 60_000
BASE = 1_764_064_800_000


def sketch(*values: float) -> WindowSketch:
    s = WindowSketch(LAYOUT)
    s.update(ColumnBatch(np.array(values, dtype=np.float64).reshape(-1, 1), (), None))
    return s


def partial(start: int, values: dict[str | None, tuple[float, ...]], late: int = 0, invalid: int = 0) -> Partial:
    return Partial(start, {v: sketch(*vals) for v, vals in values.items()}, late, invalid)


def starts(out: list[MergedWindow]) -> list[int]:
    return [m.window_start - BASE for m in out]


def test_window_completes_only_when_every_partition_reported_or_closed_past_it() -> None:
    m = WindowMerger(SIZE, frozenset({0, 1, 2}))
    assert m.add(0, [partial(BASE, {None: (1.0,)}, late=1)], BASE + SIZE) == []
    assert m.add(1, [partial(BASE, {None: (2.0, 3.0), "v1": (4.0,)}, invalid=2)], BASE + SIZE) == []
    # partition 2 has closed up to just before the end: not enough
    assert m.add(2, [], BASE + SIZE - 1) == []
    out = m.add(2, [], BASE + SIZE)              # closed through the window's end, no partial
    assert starts(out) == [0]
    (w,) = out
    assert (w.window_start, w.window_end, w.late, w.invalid) == (BASE, BASE + SIZE, 1, 2)
    assert w.sketches[None] == sketch(1.0, 2.0, 3.0)
    assert w.sketches["v1"] == sketch(4.0)
    assert m.pending == {}


def test_partition_that_never_reported_holds_the_window() -> None:
    m = WindowMerger(SIZE, frozenset({0, 1}))
    assert m.add(0, [partial(BASE, {None: (1.0,)})], BASE + 10 * SIZE) == []
    assert list(m.pending) == [BASE]
    out = m.add(1, [partial(BASE, {None: (2.0,)})], None)
    assert starts(out) == [0]
    assert out[0].sketches[None] == sketch(1.0, 2.0)


def test_pre_1970_window_also_waits_for_every_partition() -> None:
    """Event times are epoch numbers and may be negative. Partition 1 has not reported
    anything, yet the merger treats it as closed through -1 ms (its default), so a window
    ending before the epoch is released without it."""
    m = WindowMerger(SIZE, frozenset({0, 1}))
    start = -2 * SIZE
    out = m.add(0, [partial(start, {None: (1.0,)})], start + SIZE)
    assert out == [], "released before partition 1 reported"


def test_release_in_start_order() -> None:
    m = WindowMerger(SIZE, frozenset({0, 1}))
    # window 60 s is complete first (both partials), window 0 s waits for partition 1
    assert m.add(0, [partial(BASE, {None: (1.0,)}), partial(BASE + SIZE, {None: (2.0,)})], None) == []
    assert m.add(1, [partial(BASE + SIZE, {None: (3.0,)})], None) == []
    out = m.add(1, [], BASE + SIZE)              # partition 1 had nothing for window 0
    assert starts(out) == [0, SIZE]
    assert out[0].sketches[None] == sketch(1.0)
    assert out[1].sketches[None] == sketch(2.0, 3.0)


def test_duplicate_partial_is_ignored_before_release() -> None:
    m = WindowMerger(SIZE, frozenset({0, 1}))
    p = partial(BASE, {None: (1.0,)}, late=3, invalid=1)
    assert m.add(0, [p], None) == []
    assert m.add(0, [partial(BASE, {None: (1.0,)}, late=3, invalid=1)], None) == []
    assert m.duplicates == 1
    out = m.add(1, [partial(BASE, {None: (2.0,)})], None)
    assert out[0].sketches[None] == sketch(1.0, 2.0)
    assert (out[0].late, out[0].invalid) == (3, 1)


def test_duplicate_after_release_is_ignored_and_counted() -> None:
    m = WindowMerger(SIZE, frozenset({0}))
    assert starts(m.add(0, [partial(BASE, {None: (1.0,)})], BASE + SIZE)) == [0]
    assert m.add(0, [partial(BASE, {None: (1.0,)})], BASE + SIZE) == []
    assert m.duplicates == 1
    assert m.pending == {}
    # an older window arriving after a newer one was released is not released out of order:
    # it was never merged, so its events count as late (not as a duplicate)
    assert m.add(0, [partial(BASE - SIZE, {None: (5.0,)})], None) == []
    assert (m.duplicates, m.late_events) == (1, 1)
    assert m.pending == {}


def test_flush_releases_everything_pending_in_order() -> None:
    m = WindowMerger(SIZE, frozenset({0, 1}))
    m.add(0, [partial(BASE + SIZE, {None: (2.0,)}), partial(BASE + 3 * SIZE, {None: (3.0,)})], None)
    m.add(1, [partial(BASE, {None: (1.0,)})], None)
    out = m.flush()
    assert starts(out) == [0, SIZE, 3 * SIZE]
    assert m.pending == {}
    # window 60 s left with partition 0's partial only: partition 1's, coming now, is late
    assert m.add(1, [partial(BASE + SIZE, {None: (9.0,)})], None) == []
    assert (m.duplicates, m.late_events) == (0, 1)


def test_set_partitions_rejudges_completeness() -> None:
    m = WindowMerger(SIZE, frozenset({0, 1}))
    assert m.add(0, [partial(BASE, {None: (1.0,)})], BASE + SIZE) == []
    assert starts(m.set_partitions(frozenset({0}))) == [0]


# -- property: any delivery order, any duplicates -> the same windows, once each, in order ----


@st.composite
def deliveries(draw):
    n_parts = draw(st.integers(1, 4))
    n_windows = draw(st.integers(1, 6))
    # which partitions saw which windows, and what (values by version)
    seen = {}
    for p in range(n_parts):
        for w in range(n_windows):
            if draw(st.booleans()):
                values = {v: tuple(draw(st.lists(st.integers(0, 15).map(float), min_size=1, max_size=3)))
                          for v in draw(st.sets(st.sampled_from([None, "v1"]), min_size=1))}
                seen[(p, w)] = (values, draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    # each partition sends its partials in window order, in messages of a few partials, each
    # with the closed_through of that moment; messages of different partitions interleave
    streams = {}
    for p in range(n_parts):
        mine = [w for w in range(n_windows) if (p, w) in seen]
        msgs, i = [], 0
        while i < len(mine):
            k = draw(st.integers(1, 3))
            chunk = mine[i:i + k]
            i += k
            msgs.append((chunk, BASE + (chunk[-1] + 1) * SIZE))
        msgs.append(([], BASE + (n_windows + 1) * SIZE))         # finally closed past everything
        streams[p] = msgs
    order = []
    cursors = dict.fromkeys(streams, 0)
    while any(cursors[p] < len(streams[p]) for p in streams):
        p = draw(st.sampled_from(sorted(q for q in streams if cursors[q] < len(streams[q]))))
        msg = streams[p][cursors[p]]
        cursors[p] += 1
        order.append((p, msg))
        if draw(st.integers(0, 4)) == 0:       # redelivery of the same message
            order.append((p, msg))
    return n_parts, n_windows, seen, order


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deliveries())
def test_merger_model(case) -> None:
    n_parts, _n_windows, seen, order = case
    m = WindowMerger(SIZE, frozenset(range(n_parts)))
    released: list[MergedWindow] = []
    delivered: set[tuple[int, int]] = set()
    repeats = 0
    for p, (windows, closed) in order:
        for w in windows:
            repeats += (p, w) in delivered
            delivered.add((p, w))
        out = m.add(p, [partial(BASE + w * SIZE, *_args(seen[(p, w)])) for w in windows], closed)
        # everything released is complete: each partition sent it or closed past its end
        for mw in out:
            w = (mw.window_start - BASE) // SIZE
            for q in range(n_parts):
                assert (q, w) in delivered or m.closed_through.get(q, -1) >= mw.window_end
        released += out
    assert m.pending == {}
    expected_windows = sorted({w for (_, w) in seen})
    assert starts(released) == [w * SIZE for w in expected_windows]
    for mw in released:
        w = (mw.window_start - BASE) // SIZE
        parts = [seen[(p, w)] for p in range(n_parts) if (p, w) in seen]
        assert mw.late == sum(x[1] for x in parts)
        assert mw.invalid == sum(x[2] for x in parts)
        versions = {v for x in parts for v in x[0]}
        assert set(mw.sketches) == versions
        for v in versions:
            values = [val for x in parts if v in x[0] for val in x[0][v]]
            assert mw.sketches[v] == sketch(*values)
    assert m.duplicates == repeats


def _args(entry):
    values, late, invalid = entry
    return values, late, invalid


def test_idle_partition_holds_back_only_its_open_windows() -> None:
    m = WindowMerger(SIZE, frozenset({0, 1}))
    assert m.add(0, [partial(BASE, {None: (1.0,)}), partial(BASE + SIZE, {None: (2.0,)})], BASE + 2 * SIZE) == []
    # partition 1 is silent but still has window 60 s open: window 0 s may go (once a second
    # claim confirms the silence after the others closed it), 60 s waits
    assert m.set_idle(1, {BASE + SIZE}) == []
    assert starts(m.set_idle(1, {BASE + SIZE})) == [0]
    assert list(m.pending) == [BASE + SIZE]
    out = m.add(1, [partial(BASE + SIZE, {None: (3.0,)})], BASE + 2 * SIZE)
    assert starts(out) == [SIZE]
    assert out[0].sketches[None] == sketch(2.0, 3.0)
    # active again: it holds windows back as any partition does
    assert m.set_idle(1, None) == []
    assert m.add(0, [partial(BASE + 5 * SIZE, {None: (4.0,)})], BASE + 6 * SIZE) == []
    assert m.set_idle(1, set()) == []
    assert starts(m.set_idle(1, set())) == [5 * SIZE]


def test_an_idle_partition_with_an_earlier_window_open_holds_the_later_ones() -> None:
    """Partition 0 idles with window 0 s open (its only event), partition 1 closed 60 s: the
    later window must wait for partition 0 to close the earlier one, or that one would come
    after a later window was judged (late, and hysteresis would read windows out of order)."""
    m = WindowMerger(SIZE, frozenset({0, 1}))
    assert m.add(1, [partial(BASE + SIZE, {None: (2.0,)})], BASE + 2 * SIZE) == []
    assert m.set_idle(0, {BASE}) == [] and m.set_idle(0, {BASE}) == []
    out = m.add(0, [partial(BASE, {None: (1.0,)})], BASE + SIZE)   # its watermark moved past 60 s
    assert starts(out) == [0] and m.late_events == 0
    assert starts(m.set_idle(0, set())) == [SIZE]


def test_an_idle_claim_lets_off_only_windows_the_others_had_closed_when_it_came() -> None:
    """Partitions quiet together, then a burst: the first to close a window must not release
    it before the others' events for it are read (they went idle before it closed)."""
    m = WindowMerger(SIZE, frozenset({0, 1}))
    assert m.set_idle(0, set()) == [] and m.set_idle(1, set()) == []     # nothing ever closed
    assert m.add(0, [partial(BASE, {None: (1.0,)})], BASE + SIZE) == [], "released without partition 1"
    out = m.add(1, [partial(BASE, {None: (2.0,)})], BASE + SIZE)
    assert starts(out) == [0] and out[0].sketches[None] == sketch(1.0, 2.0)


def test_a_claim_lets_off_what_the_others_had_closed_at_the_claim_before() -> None:
    """A claim confirms, a second later, that the partition was still idle after the others
    closed a window: only then is that window let off (its events had time to be read)."""
    m = WindowMerger(SIZE, frozenset({0, 1}))
    assert m.set_idle(1, set()) == []
    assert m.add(0, [partial(BASE, {None: (1.0,)})], BASE + SIZE) == []
    assert m.set_idle(1, set()) == [], "let off by the claim that came right after the window closed"
    assert starts(m.set_idle(1, set())) == [0]
    assert m.merged_from == {BASE: frozenset({0})}
    # active again, then idle again: the horizon starts over
    assert m.set_idle(1, None) == [] and m.idle_horizon == {} and m.idle_seen == {}


def test_a_partial_for_a_window_judged_without_it_is_late_and_its_repeat_a_duplicate() -> None:
    m = WindowMerger(SIZE, frozenset({0, 1}))
    m.add(0, [partial(BASE, {None: (1.0,)}), partial(BASE + 2 * SIZE, {None: (1.0,)})], BASE + 3 * SIZE)
    m.set_idle(1, set())
    assert starts(m.set_idle(1, set())) == [0, 2 * SIZE]
    # its events arrive after all, for both windows and for the one between, which no
    # partition had events in (never pending): each counted as late (not its p.late: tier 1
    # counted those), never merged
    late = [partial(BASE + k * SIZE, {None: (5.0,), "v2": (6.0,)}, late=1) for k in range(3)]
    assert m.add(1, late, BASE + 3 * SIZE) == []
    assert (m.late_events, m.duplicates) == (6, 0)
    # the same partials again (a replay of the internal topic): duplicates where the window is
    # remembered, late again for the never-pending one (visible either way)
    assert m.add(1, late, BASE + 3 * SIZE) == []
    assert (m.late_events, m.duplicates) == (8, 2)
    # a partition whose partial was merged: its repeat is a duplicate
    m.add(0, [partial(BASE, {None: (1.0,)})], BASE + 3 * SIZE)
    assert (m.late_events, m.duplicates) == (8, 3)


def test_windows_released_long_ago_count_late_partials_as_late() -> None:
    m = WindowMerger(SIZE, frozenset({0}))
    for k in range(_MAX_MERGED + 5):
        m.add(0, [partial(BASE + k * SIZE, {None: (1.0,)})], BASE + (k + 1) * SIZE)
    assert len(m.merged_from) == _MAX_MERGED and BASE not in m.merged_from
    m.add(0, [partial(BASE, {None: (1.0,)})], None)          # forgotten window: late, not silent
    m.add(0, [partial(BASE + 10 * SIZE, {None: (1.0,)})], None)   # remembered: a duplicate
    assert (m.late_events, m.duplicates) == (1, 1)


def test_label_counts_of_a_late_partial_go_with_the_next_window_judged() -> None:
    from driftline.streams.label_join import JoinCounts
    from driftline.streams.state_codec import merger_from_dict, merger_to_dict

    m = WindowMerger(SIZE, frozenset({0, 1}))
    m.add(0, [partial(BASE, {None: (1.0,)})], BASE + SIZE)
    m.set_idle(1, set())
    assert starts(m.set_idle(1, set())) == [0]
    late = partial(BASE, {None: (5.0,)})
    late.joined = JoinCounts(unmatched=7, late=2)
    assert m.add(1, [late], BASE + SIZE) == []
    m = merger_from_dict(merger_to_dict(m), SIZE, frozenset({0, 1}), LAYOUT)   # kept in snapshots
    ontime = partial(BASE + SIZE, {None: (1.0,)})
    ontime.joined = JoinCounts(unmatched=1)
    (w,) = m.add(0, [ontime], BASE + 2 * SIZE) + m.add(1, [], BASE + 2 * SIZE)
    assert w.joined == JoinCounts(unmatched=8, late=2) and m.carried is None


def test_a_late_partials_dead_letters_and_late_events_are_reported_with_the_next_window() -> None:
    """Its window was judged without it: what it counted (40 dead letters, 7 late events, and
    its own event, late now) is not lost, but reported with the next window, where the
    pipeline alert judges it, and kept through a snapshot."""
    from driftline.streams import state_codec

    m = WindowMerger(SIZE, frozenset({0}))
    assert starts(m.add(0, [partial(BASE, {None: (1.0,)})], BASE + SIZE)) == [0]
    assert m.add(0, [partial(BASE - SIZE, {None: (5.0,)}, late=7, invalid=40)], None) == []
    m = state_codec.merger_from_dict(orjson.loads(orjson.dumps(state_codec.merger_to_dict(m))), SIZE,
                                     frozenset({0}), LAYOUT)
    (w,) = m.add(0, [partial(BASE + SIZE, {None: (1.0,)}, late=1, invalid=2)], BASE + 2 * SIZE)
    assert (w.late, w.invalid, m.late_events) == (1 + 7 + 1, 2 + 40, 1)
    (w,) = m.add(0, [partial(BASE + 2 * SIZE, {None: (1.0,)})], BASE + 3 * SIZE)
    assert (w.late, w.invalid) == (0, 0)
