"""Bounded model versions per window (``limits.max_model_versions``, the cap).

Tier 1 (``PartitionWindows``) gives ``TIER1_SLOTS_PER_VERSION`` times the cap versions of a
window a sketch of their own, weighed in order of arrival, and adds the events of later ones
to the None sketch (the events without a version), keeping their names (up to
``MAX_POOLED_NAMES``) and their number of events; tier 2 (``merge.pool_versions``) pools a
version that any partition pooled (or, past that partition's name limit, did not keep), then
keeps the ``cap`` versions with the most events (those with alert state first) when the window
is judged. Whatever the spread over partitions and
batches:

- the all-versions total is the total without a cap (no event lost or counted twice);
- every version that keeps a sketch of its own has all of its events (its report is never
  missing a partition's share), and at most ``cap`` do;
- ``pooled_events`` counts the events of the others;
- how a partition's events were cut into batches changes nothing.

Every test event carries its own index as its value (one fine bin per index), so equal
sketches hold exactly the same events.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from unittest.mock import patch

import numpy as np
from driftline.detectors.categorical_sketch import CategoricalLayout
from driftline.detectors.hysteresis import Hysteresis
from driftline.detectors.numeric_sketch import NumericLayout
from driftline.detectors.window_sketch import ColumnBatch, MonitorLayout, WindowSketch
from driftline.schemas.config import load_config
from driftline.streams import windows
from driftline.streams.merge import MergedWindow, WindowMerger, pool_versions
from driftline.streams.records import DecodedBatch
from driftline.streams.reference_io import build_profile, write_reference
from driftline.streams.replay import load_monitors
from driftline.streams.state_codec import (
    partial_from_dict,
    partial_to_dict,
    windows_from_dict,
    windows_to_dict,
)
from driftline.streams.windows import (
    TIER1_SLOTS_PER_VERSION,
    PartitionWindows,
    PooledVersions,
    WindowSpec,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline import synth

MAX_EVENTS = 60
LAYOUT = MonitorLayout(
    NumericLayout.from_edges(("x",), (np.arange(MAX_EVENTS - 1) + 0.5,)),
    CategoricalLayout.from_categories((), ()),
    None,
)
SPEC = WindowSpec(60_000, 60_000, 0)
BASE_MS = 1_764_064_800_000
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def batch(ids: list[int], versions: list[str | None], t_ms: list[int] | None = None) -> DecodedBatch:
    n = len(ids)
    times = np.full(n, BASE_MS) if t_ms is None else np.array(t_ms)
    return DecodedBatch(ColumnBatch(np.array(ids, dtype=np.float64).reshape(n, 1), (), None),
                        times / 1000.0, np.array(versions, dtype=object), ())


def sketch(ids: list[int]) -> WindowSketch:
    s = WindowSketch(LAYOUT)
    s.update(batch(ids, [None] * len(ids)).columns)
    return s


@dataclass
class Judged:
    """A window as judging sees it: its sketches after pooling, and the events pooled."""

    sketches: dict[str | None, WindowSketch]
    pooled_events: int


def merged(events: list[tuple[str | None, int]], cap: int | None, partitions: int = 3) -> Judged:
    """Event i = (version, partition): tier 1 per partition, tier 2, then pooling, one window."""
    tier1 = {p: PartitionWindows(SPEC, LAYOUT, max_versions=cap) for p in range(partitions)}
    for p, w in tier1.items():
        ids = [i for i, (_, q) in enumerate(events) if q == p]
        if ids:
            w.add(batch(ids, [events[i][0] for i in ids]))
    merger = WindowMerger(SPEC.size_ms, frozenset(tier1))
    out = []
    for p, w in tier1.items():
        out += merger.add(p, w.close_all(), None)
    out += merger.flush()
    assert len(out) == 1
    return Judged(*pool_versions(out[0].sketches, out[0].pooled, cap))


def total(w: Judged) -> WindowSketch:
    out = WindowSketch(LAYOUT)
    for s in w.sketches.values():
        out = out.merge(s)
    return out


VERSIONS = st.sampled_from([None, *"abcdefghijkl"])


@SETTINGS
@given(st.lists(st.tuples(VERSIONS, st.integers(0, 2)), min_size=1, max_size=MAX_EVENTS),
       st.integers(1, 3), st.integers(0, 3))
def test_a_capped_window_loses_no_event_and_keeps_only_whole_versions(events, cap, names) -> None:
    with patch.object(windows, "MAX_POOLED_NAMES", names):
        capped = merged(events, cap)
    free = merged(events, None)
    assert free.pooled_events == 0
    assert total(capped) == total(free)
    own = [v for v in capped.sketches if v is not None]
    assert len(own) <= cap
    for v in own:
        assert capped.sketches[v] == free.sketches[v], v
    assert capped.pooled_events == sum(s.events for v, s in free.sketches.items() if v is not None and v not in own)
    if len({v for v, _ in events if v is not None}) <= cap:
        assert capped.sketches.keys() == free.sketches.keys()


@SETTINGS
@given(st.lists(VERSIONS, min_size=1, max_size=MAX_EVENTS), st.lists(st.integers(0, MAX_EVENTS), max_size=4),
       st.lists(st.integers(0, 1), min_size=MAX_EVENTS, max_size=MAX_EVENTS))
def test_batches_do_not_change_what_is_pooled(versions, cuts, window) -> None:
    """Two windows (events in time order), the stream cut anywhere: the same partials."""
    n = len(versions)
    times = sorted(BASE_MS + SPEC.size_ms * w for w in window[:n])

    def partials(bounds: list[int]):
        w = PartitionWindows(SPEC, LAYOUT, max_versions=1)
        for a, b in pairwise(bounds):
            if b > a:
                w.add(batch(list(range(a, b)), versions[a:b], times[a:b]))
        return w.close_all()

    assert partials(sorted({0, n, *(min(c, n) for c in cuts)})) == partials([0, n])


def test_tier_1_pools_the_versions_after_its_slots_are_taken() -> None:
    others = [f"v{i}" for i in range(1, TIER1_SLOTS_PER_VERSION)]      # with x, every slot
    k = len(others)
    w = PartitionWindows(SPEC, LAYOUT, max_versions=1)
    w.add(batch(list(range(k + 5)), ["x", None, *others, "y", "x", "z"]))
    (p,) = w.close_all()
    assert set(p.sketches) == {"x", *others, None}
    assert p.sketches["x"] == sketch([0, k + 3]) and p.sketches[None] == sketch([1, k + 2, k + 4])
    assert p.pooled == PooledVersions(frozenset({"y", "z"}), events=2)


def test_tier_2_keeps_the_versions_with_most_events_then_by_name() -> None:
    sketches = {"a": sketch([0]), "b": sketch([1, 2]), "c": sketch([3]), "d": sketch([4, 5]), None: sketch([6])}
    out, events = pool_versions(sketches, [], 3)
    assert events == 1 and set(out) == {"b", "d", "a", None}      # c ties a, after it by name
    assert out[None] == sketch([3, 6])
    assert sketches[None] == sketch([6])                          # the input is not changed


def test_versions_with_alert_state_keep_their_report_first() -> None:
    sketches = {"a": sketch([0]), "b": sketch([1, 2]), "c": sketch([3]), None: sketch([6])}
    out, events = pool_versions(sketches, [], 2, prefer=frozenset({"c"}))
    assert set(out) == {"c", "b", None} and events == 1


def test_a_version_one_partition_pooled_is_pooled_where_another_kept_it() -> None:
    slots = [f"v{i}" for i in range(TIER1_SLOTS_PER_VERSION)]
    # partition 0 fills its slots, then pools c; partition 1 keeps c: c's report would miss
    # partition 0's event, so c has none
    events = [(v, 0) for v in slots] + [("c", 0), ("c", 1), ("c", 1)]
    w = merged(events, cap=1, partitions=2)
    assert set(w.sketches) == {"v0", None} and w.pooled_events == len(slots) - 1 + 3
    assert w.sketches[None] == sketch(list(range(1, len(events))))


def test_past_its_name_limit_a_partition_lets_only_its_own_versions_stay() -> None:
    slots = [f"v{i}" for i in range(TIER1_SLOTS_PER_VERSION)]
    events = [(v, 0) for v in slots] + [("p", 0), ("q", 0)] + [("z", 1)] * 5
    with patch.object(windows, "MAX_POOLED_NAMES", 1):
        w = merged(events, cap=1, partitions=2)
        assert merged(events[:-5] + [("v3", 1)] * 5, cap=1, partitions=2).sketches.keys() == {"v3", None}
    # z, the biggest version, might be among the names partition 0 could not keep
    assert set(w.sketches) == {"v0", None}


def test_pooled_versions_survive_snapshots_and_partials() -> None:
    w = PartitionWindows(SPEC, LAYOUT, max_versions=1)
    slots = [f"v{i}" for i in range(TIER1_SLOTS_PER_VERSION)]
    w.add(batch(list(range(len(slots) + 1)), [*slots, "b"]))
    back = windows_from_dict(windows_to_dict(w), SPEC, LAYOUT, max_versions=1)
    assert back.pooled == {BASE_MS: PooledVersions(frozenset({"b"}), 1)} and back.max_versions == 1
    back.add(batch([10, 11], ["c", "b"]))                      # the cap holds after a restore
    (p,) = back.close_all()
    assert set(p.sketches) == {*slots, None} and p.pooled == PooledVersions(frozenset({"b", "c"}), 3)
    assert partial_from_dict(partial_to_dict(p), LAYOUT) == p


def test_judging_keeps_the_report_of_a_version_with_alert_state(tmp_path) -> None:
    """A monitor with per-version alerts: of three versions over a cap of two, the smallest
    keeps its report when its alert is under way (else the alert could not go on)."""
    rng = np.random.default_rng(1)
    synth.write_lines(tmp_path / "training.jsonl", synth.training_rows(rng, 2000))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(synth.config_yaml("reference.json").replace("    window:", "    alerts: {per_version: true}\n    window:")
                   + "limits: {max_model_versions: 2}\n")
    config = load_config(cfg)
    write_reference(build_profile(config.monitors[0], tmp_path / "training.jsonl"), tmp_path / "reference.json")
    (m,) = load_monitors(load_config(cfg))
    assert m.cfg.alerts.per_version
    columns = m.decoder.decode(synth.events(rng, 300, rate=100.0)).columns
    sizes = {"champion": range(0, 150), "canary": range(150, 280), "shadow": range(280, 300)}

    def window() -> MergedWindow:
        sketches = {}
        for v, rows in sizes.items():
            sketches[v] = WindowSketch(m.layout)
            sketches[v].update(columns.take(np.array(rows)))
        return MergedWindow(BASE_MS, BASE_MS + 10_000, sketches, 0, 0)

    reported = {r["model_version"] for r in m.judge_window(window()).reports}
    assert reported == {None, "champion", "canary"}
    m.alerts.states[("shadow", "data_drift", "n00_normal")] = Hysteresis(1, 1)   # its episode under way
    reported = {r["model_version"] for r in m.judge_window(window()).reports}
    assert reported == {None, "champion", "shadow"}
