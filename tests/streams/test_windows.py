"""Event-time windows of tier 1 (streams/windows.py): WindowSpec.starts and PartitionWindows.

The model the tests check against (module docstring of windows.py and DESIGN 3.2):
- an event belongs to every window ``[s, s + size)`` (s a multiple of slide) containing its time;
- the watermark an event sees on arrival is the largest event time before it minus grace;
- an event is late when one of its windows had already ended by that watermark: it is counted
  in ``late`` and added only to its windows that are still open;
- the result does not depend on how the same event sequence was cut into batches.

Every test event carries its own index as its numeric value, and the layout has one fine bin
per index, so a sketch's bin counts say exactly which events it holds.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict

import numpy as np
import pytest
from driftline.detectors.categorical_sketch import CategoricalLayout
from driftline.detectors.numeric_sketch import NumericLayout
from driftline.detectors.window_sketch import ColumnBatch, MonitorLayout
from driftline.streams.records import DecodedBatch
from driftline.streams.windows import Partial, PartitionWindows, WindowSpec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MAX_EVENTS = 40
LAYOUT = MonitorLayout(
    NumericLayout.from_edges(("x",), (np.arange(MAX_EVENTS - 1) + 0.5,)),
    CategoricalLayout.from_categories((), ()),
    None,
)
BASE_MS = 1_764_064_800_000          # 2025-11-25T10:00:00Z
UNIT_MS = 250                        # event times are multiples of 250 ms: exact as float seconds
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def batch(ids: list[int], t_ms: list[int], versions: list[str | None]) -> DecodedBatch:
    n = len(ids)
    return DecodedBatch(
        ColumnBatch(np.array(ids, dtype=np.float64).reshape(n, 1), (), None),
        np.array(t_ms, dtype=np.int64) / 1000.0,
        np.array(versions, dtype=object),
        (),
    )


# -- model ------------------------------------------------------------------------------------


def windows_of(t: int, spec: WindowSpec) -> list[int]:
    """Starts s (multiples of slide) with s <= t < s + size, by brute force."""
    first = (t - spec.size_ms) // spec.slide_ms * spec.slide_ms
    return [s for s in range(first, t + 1, spec.slide_ms) if s <= t < s + spec.size_ms]


def model(spec: WindowSpec, times: list[int], versions: list[str | None]):
    """Expected window contents {(start, version): Counter(ids)} and the late flags."""
    contents: dict[tuple[int, str | None], Counter] = defaultdict(Counter)
    late = []
    max_seen = None
    for i, (t, v) in enumerate(zip(times, versions, strict=True)):
        wm = None if max_seen is None else max_seen - spec.grace_ms
        is_late = False
        for s in windows_of(t, spec):
            if wm is not None and s + spec.size_ms <= wm:
                is_late = True
            else:
                contents[(s, v)][i] += 1
        late.append(is_late)
        max_seen = t if max_seen is None else max(max_seen, t)
    return contents, late


def partial_contents(partials: list[Partial]) -> dict[tuple[int, str | None], Counter]:
    out: dict[tuple[int, str | None], Counter] = {}
    for p in partials:
        for v, sketch in p.sketches.items():
            key = (p.window_start, v)
            assert key not in out, f"window {key} emitted twice"
            counts = sketch.numeric.bin_counts(0)
            assert sketch.events == int(counts.sum())
            out[key] = Counter({i: int(c) for i, c in enumerate(counts.tolist()) if c})
    return out


def run(spec: WindowSpec, times: list[int], versions: list[str | None], cuts: list[int],
        close_between: bool = True) -> tuple[list[Partial], int, PartitionWindows]:
    """Feed the events in batches cut at ``cuts``; close_ready after each, close_all at the end."""
    pw = PartitionWindows(spec, LAYOUT)
    partials: list[Partial] = []
    late = 0
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(times))), len(times)]
    for a, b in itertools.pairwise(bounds):
        late += pw.add(batch(list(range(a, b)), times[a:b], versions[a:b]))
        if close_between:
            partials += pw.close_ready()
    partials += pw.close_all()
    return partials, late, pw


# -- strategies -------------------------------------------------------------------------------


@st.composite
def specs(draw) -> WindowSpec:
    slide = draw(st.sampled_from([250, 500, 1000, 1500, 2000]))
    k = draw(st.integers(1, 4))
    grace = draw(st.sampled_from([0, 250, 1000, 3000]))
    return WindowSpec(slide * k, slide, grace)


@st.composite
def streams(draw, max_events: int = MAX_EVENTS, ordered: bool = False):
    n = draw(st.integers(0, max_events))
    # mostly moving forward, with jumps back of various sizes (late and within-grace events)
    steps = draw(st.lists(st.integers(-20 if not ordered else 0, 12), min_size=n, max_size=n))
    t, times = 0, []
    for s in steps:
        t = max(0, t + s)
        times.append(BASE_MS + t * UNIT_MS)
    versions = draw(st.lists(st.sampled_from([None, "v1", "v2"]), min_size=n, max_size=n))
    cuts = draw(st.lists(st.integers(0, max(n, 1)), max_size=6))
    return times, versions, cuts


# -- WindowSpec -------------------------------------------------------------------------------


@SETTINGS
@given(specs(), st.lists(st.integers(-10**13, 10**13), min_size=1, max_size=30))
def test_starts_are_exactly_the_containing_windows(spec: WindowSpec, times: list[int]) -> None:
    starts = spec.starts(np.array(times, dtype=np.int64))
    assert starts.shape == (len(times), spec.per_event)
    for row, t in zip(starts.tolist(), times, strict=True):
        assert sorted(row) == windows_of(t, spec)
        assert row == sorted(row, reverse=True)       # newest first


def test_window_spec_validation() -> None:
    assert WindowSpec.from_seconds(300, 60, 30) == WindowSpec(300_000, 60_000, 30_000)
    assert WindowSpec(300_000, 60_000, 0).per_event == 5
    with pytest.raises(ValueError):
        WindowSpec(300_000, 70_000, 0)          # size not a multiple of slide
    with pytest.raises(ValueError):
        WindowSpec(300_000, 0, 0)


def test_window_spec_rejects_empty_windows() -> None:
    # "window size must be a positive multiple of the slide": size 0 would put events nowhere
    with pytest.raises(ValueError):
        WindowSpec(0, 1000, 0)


# -- PartitionWindows -------------------------------------------------------------------------


@SETTINGS
@given(specs(), streams())
def test_events_land_in_exactly_their_open_windows(spec: WindowSpec, stream) -> None:
    times, versions, cuts = stream
    partials, late, pw = run(spec, times, versions, cuts)
    expected, late_flags = model(spec, times, versions)
    assert partial_contents(partials) == dict(expected)
    assert late == sum(late_flags)
    assert sum(p.late for p in partials) + pw.late == sum(late_flags)
    # partials leave in start order, each start once
    starts = [p.window_start for p in partials]
    assert starts == sorted(set(starts))
    assert pw.open == {}


@SETTINGS
@given(specs(), streams(ordered=True))
def test_hopping_windows_count_every_event_k_times(spec: WindowSpec, stream) -> None:
    times, versions, cuts = stream
    partials, late, _ = run(spec, times, versions, cuts)
    assert late == 0
    total = sum(s.events for p in partials for s in p.sketches.values())
    assert total == spec.per_event * len(times)
    per_event = Counter()
    for c in partial_contents(partials).values():
        per_event.update(c)
    assert all(per_event[i] == spec.per_event for i in range(len(times)))


@SETTINGS
@given(specs(), streams(), st.lists(st.integers(0, MAX_EVENTS), max_size=8))
def test_window_contents_do_not_depend_on_batching(spec: WindowSpec, stream, other_cuts) -> None:
    times, versions, cuts = stream
    a, late_a, _ = run(spec, times, versions, cuts)
    b, late_b, _ = run(spec, times, versions, other_cuts)
    c, late_c, _ = run(spec, times, versions, [], close_between=False)
    assert late_a == late_b == late_c
    for other in (b, c):
        assert [p.window_start for p in a] == [p.window_start for p in other]
        for pa, pb in zip(a, other, strict=True):
            assert {v: s.to_state() for v, s in pa.sketches.items()} == \
                   {v: s.to_state() for v, s in pb.sketches.items()}
    assert sum(p.late for p in a) == sum(p.late for p in b) == sum(p.late for p in c)


@SETTINGS
@given(specs(), streams(), st.lists(st.integers(0, MAX_EVENTS), max_size=8))
def test_late_counts_per_partial_do_not_depend_on_batching(spec: WindowSpec, stream, other_cuts) -> None:
    """The brief: 'the sequence of emitted partials' to_state and late counts' is the same however
    the events are batched (tier 1 calls close_ready after every batch, as replay does)."""
    times, versions, cuts = stream
    a, _, _ = run(spec, times, versions, cuts)
    b, _, _ = run(spec, times, versions, other_cuts)
    assert [(p.window_start, p.late) for p in a] == [(p.window_start, p.late) for p in b]


def test_late_count_per_window_example() -> None:
    """The smallest case of the property above: tumbling 1 s windows, no grace.

    events (arrival order): t=0.0 s, t=2.0 s, t=0.5 s (late: window [0, 1 s) ended at the
    watermark 2.0 s). The late event is reported with the first window that closes after it
    arrived, the one whose end (3 s) is past the watermark it saw (2 s), however the events
    were batched.
    """
    spec = WindowSpec(1000, 1000, 0)
    times = [BASE_MS, BASE_MS + 2000, BASE_MS + 500]
    one, _, _ = run(spec, times, [None] * 3, [])
    two, _, _ = run(spec, times, [None] * 3, [2])
    assert [(p.window_start - BASE_MS, p.late) for p in one] == [(0, 0), (2000, 1)]
    assert [(p.window_start - BASE_MS, p.late) for p in two] == [(p.window_start - BASE_MS, p.late) for p in one]


def test_late_event_is_counted_and_not_added_to_a_closed_window() -> None:
    spec = WindowSpec(60_000, 60_000, 5_000)
    pw = PartitionWindows(spec, LAYOUT)
    assert pw.add(batch([0, 1], [BASE_MS + 1_000, BASE_MS + 70_000], [None, None])) == 0
    first = pw.close_ready()                     # watermark 65 s: window [0, 60 s) closes
    assert [p.window_start for p in first] == [BASE_MS]
    assert pw.watermark == BASE_MS + 65_000
    assert pw.add(batch([2], [BASE_MS + 30_000], [None])) == 1
    assert pw.late == 1
    assert BASE_MS not in pw.open                # never re-opened
    rest = pw.close_all()
    assert [p.window_start for p in rest] == [BASE_MS + 60_000]
    assert rest[0].late == 1
    assert rest[0].sketches[None].numeric.bin_counts(0)[:3].tolist() == [0, 1, 0]


def test_out_of_order_within_grace_lands_in_its_window() -> None:
    spec = WindowSpec(60_000, 60_000, 10_000)
    pw = PartitionWindows(spec, LAYOUT)
    # 62 s arrives before 55 s: the watermark is 52 s < 60 s, so window [0, 60 s) is still open
    late = pw.add(batch([0, 1, 2], [BASE_MS + 10_000, BASE_MS + 62_000, BASE_MS + 55_000], ["v1"] * 3))
    assert late == 0
    assert pw.close_ready() == []
    pw.add(batch([3], [BASE_MS + 135_000], ["v1"]))
    out = pw.close_ready()                        # watermark 125 s closes windows 0 and 60 s
    assert [p.window_start - BASE_MS for p in out] == [0, 60_000]
    assert out[0].sketches["v1"].numeric.bin_counts(0)[:4].tolist() == [1, 0, 1, 0]
    assert out[1].sketches["v1"].numeric.bin_counts(0)[:4].tolist() == [0, 1, 0, 0]
    assert all(p.late == 0 for p in out)


def test_hopping_late_event_still_counts_in_its_open_windows() -> None:
    spec = WindowSpec(3000, 1000, 0)               # every event in 3 windows
    pw = PartitionWindows(spec, LAYOUT)
    pw.add(batch([0], [BASE_MS + 5_500], [None]))  # watermark 5.5 s
    assert pw.add(batch([1], [BASE_MS + 3_200], [None])) == 1
    # event 1 is in [1,4), [2,5), [3,6): the first two ended by 5.5 s, the third is open
    got = {p.window_start - BASE_MS: p.sketches[None].numeric.bin_counts(0)[:2].tolist() for p in pw.close_all()}
    assert got == {3000: [1, 1], 4000: [1, 0], 5000: [1, 0]}


def test_versions_get_their_own_sketches() -> None:
    spec = WindowSpec(1000, 1000, 0)
    pw = PartitionWindows(spec, LAYOUT)
    pw.add(batch([0, 1, 2, 3], [BASE_MS, BASE_MS + 1, BASE_MS + 2, BASE_MS + 3], [None, "v1", "v2", "v1"]))
    (p,) = pw.close_all()
    assert {v: s.events for v, s in p.sketches.items()} == {None: 1, "v1": 2, "v2": 1}


def test_millisecond_timestamps_on_a_window_boundary() -> None:
    """An event stamped exactly at a window start belongs to that window.

    Epoch seconds with millisecond precision are not exact in binary: 1.001 s is stored as
    1.00099999...; PartitionWindows computes floor(seconds * 1000) and gets 1000 ms, so the
    event at 1.001 s lands in the window that ENDS at 1.001 s. About 0.6% of millisecond
    timestamps are hit in many ranges (small epochs, 2004, after 2038; none measured in
    2023-2027), and it matters where a window edge is not a whole second (a 1 ms slide here;
    100 ms or 250 ms slides in practice).
    """
    spec = WindowSpec(1, 1, 0)
    wrong = []
    for ms in (1001, 1003, 4350, 1_089_762_689_215, 1_764_064_800_123, 2_149_079_795_490):
        pw = PartitionWindows(spec, LAYOUT)
        pw.add(DecodedBatch(ColumnBatch(np.zeros((1, 1)), (), None), np.array([ms / 1000.0]),
                            np.array(["v"], dtype=object), ()))
        got = list(pw.open)
        if got != [ms]:
            wrong.append((ms, got))
    assert wrong == [], f"(event ms, window starts it landed in): {wrong}"


def test_close_ready_with_an_advanced_watermark() -> None:
    """Idle partitions: the caller passes a watermark ahead of the partition's own."""
    spec = WindowSpec(60_000, 60_000, 0)
    pw = PartitionWindows(spec, LAYOUT)
    pw.add(batch([0], [BASE_MS + 1_000], [None]))
    assert pw.close_ready() == []
    out = pw.close_ready(watermark=BASE_MS + 60_000)
    assert [p.window_start for p in out] == [BASE_MS]
    assert pw.closed_through == BASE_MS + 60_000
    # later events are judged against the advanced watermark
    assert pw.add(batch([1], [BASE_MS + 59_000], [None])) == 1


def test_invalid_events_are_reported_with_the_next_partial() -> None:
    from driftline.streams.records import DeadLetter, RawRecord

    spec = WindowSpec(1000, 1000, 0)
    pw = PartitionWindows(spec, LAYOUT)
    dead = (DeadLetter(RawRecord(b"x"), "invalid_json", ""),) * 2
    b = batch([0], [BASE_MS], [None])
    pw.add(DecodedBatch(b.columns, b.timestamps, b.versions, dead))
    (p,) = pw.close_all()
    assert p.invalid == 2 and pw.invalid == 0
