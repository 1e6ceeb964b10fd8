"""Snapshots of tier-1 and tier-2 state, and the partial messages between them, as JSON.

Everything here round-trips exactly: a worker that restores a snapshot continues as if it had
never stopped.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
from driftline.detectors.window_sketch import MonitorLayout, WindowSketch

from .label_join import JoinCounts
from .merge import WindowMerger
from .windows import Partial, PartitionWindows, PooledVersions, WindowSpec

_NONE = "\x00"   # JSON keys cannot be null: the "no model version" key


def _vkey(v: str | None) -> str:
    return _NONE if v is None else v


def _vval(k: str) -> str | None:
    return None if k == _NONE else k


def partial_to_dict(p: Partial) -> dict[str, Any]:
    d = {
        "window_start": p.window_start,
        "late": p.late,
        "invalid": p.invalid,
        "sketches": {_vkey(v): s.to_state() for v, s in p.sketches.items()},
    }
    if p.joined is not None:   # only with a label join: partials of other monitors are unchanged
        d["joined"] = dataclasses.asdict(p.joined)
    if p.pooled is not None:   # only beyond limits.max_model_versions
        d["pooled"] = _pooled_to_dict(p.pooled)
    if p.arrived is not None:
        d["arrived"] = p.arrived
    return d


def _pooled_to_dict(p: PooledVersions) -> dict[str, Any]:
    return {"names": sorted(p.names), "events": p.events, "overflow": p.overflow}


def _pooled_from_dict(d: dict[str, Any]) -> PooledVersions:
    return PooledVersions(set(d["names"]), int(d["events"]), bool(d["overflow"]))


def partial_from_dict(d: dict[str, Any], layout: MonitorLayout) -> Partial:
    return Partial(
        int(d["window_start"]),
        {_vval(v): WindowSketch.from_state(layout, s) for v, s in d["sketches"].items()},
        int(d["late"]),
        int(d["invalid"]),
        None if d.get("joined") is None else JoinCounts(**d["joined"]),
        None if d.get("pooled") is None else _pooled_from_dict(d["pooled"]),
        None if d.get("arrived") is None else int(d["arrived"]),
    )


def windows_to_dict(w: PartitionWindows) -> dict[str, Any]:
    return {
        "max_event_ms": w.max_event_ms,
        "closed_through": w.closed_through,
        "pending_late": sorted(w.pending_late.items()),
        "pending_invalid": sorted(w.pending_invalid.items()),
        # (left out while unknown: a restore of this snapshot knows it is)
        **({} if w.arrivals_partial else {"pending_arrived": sorted(w.pending_arrived.items())}),
        "open": [[start, {_vkey(v): s.to_state() for v, s in by_version.items()}]
                 for start, by_version in sorted(w.open.items())],
        "pooled": [[start, _pooled_to_dict(p)] for start, p in sorted(w.pooled.items())],
    }


def windows_from_dict(d: dict[str, Any], spec: WindowSpec, layout: MonitorLayout,
                      max_versions: int | None = None) -> PartitionWindows:
    """``max_versions``: the monitor's limits.max_model_versions (config, not state)."""
    w = PartitionWindows(spec, layout, max_versions=max_versions)
    w.pooled = {int(start): _pooled_from_dict(p) for start, p in d.get("pooled", [])}
    w.max_event_ms = d["max_event_ms"]
    w.closed_through = d["closed_through"]
    w.pending_late = _pending(d["pending_late"])
    w.pending_invalid = _pending(d["pending_invalid"])
    w.pending_arrived = _pending(d.get("pending_arrived", []))
    w.arrivals_partial = "pending_arrived" not in d
    w.open = {int(start): {_vval(v): WindowSketch.from_state(layout, s) for v, s in by_version.items()}
              for start, by_version in d["open"]}
    return w


def _pending(items: list) -> dict[int, int]:
    """[[watermark, count], ...]; a snapshot from before counts were kept has one watermark per
    event."""
    out: dict[int, int] = {}
    for item in items:
        w, c = (item, 1) if isinstance(item, int) else item
        out[int(w)] = out.get(int(w), 0) + int(c)
    return out


def merger_to_dict(m: WindowMerger) -> dict[str, Any]:
    return {
        "pending": [[start, [[p, partial_to_dict(x)] for p, x in sorted(parts.items())]]
                    for start, parts in sorted(m.pending.items())],
        "closed_through": [[p, t] for p, t in sorted(m.closed_through.items())],
        "idle": [[p, sorted(starts)] for p, starts in sorted(m.idle.items())],
        "idle_horizon": [[p, t] for p, t in sorted(m.idle_horizon.items())],
        "idle_seen": [[p, t] for p, t in sorted(m.idle_seen.items())],
        "merged_from": [[start, sorted(ps)] for start, ps in sorted(m.merged_from.items())],
        "released_through": m.released_through,
        "duplicates": m.duplicates,
        "late_events": m.late_events,
        "carried_late": m.carried_late,
        "carried_invalid": m.carried_invalid,
        "carried_arrived": m.carried_arrived,
        **({} if m.carried is None else {"carried": dataclasses.asdict(m.carried)}),
    }


def merger_from_dict(d: dict[str, Any], size_ms: int, partitions: frozenset[int],
                     layout: MonitorLayout) -> WindowMerger:
    m = WindowMerger(size_ms, partitions)
    m.pending = {int(start): {int(p): partial_from_dict(x, layout) for p, x in parts}
                 for start, parts in d["pending"]}
    m.closed_through = {int(p): int(t) for p, t in d["closed_through"]}
    m.idle = {int(p): set(starts) for p, starts in d["idle"]}
    # snapshots written before horizons existed: an idle partition waits for its next claims,
    # and a partial for a window released before the upgrade counts as late, not a duplicate
    m.idle_horizon = {int(p): t for p, t in d.get("idle_horizon", [])}
    m.idle_seen = {int(p): t for p, t in d.get("idle_seen", [])}
    m.merged_from = {int(start): frozenset(int(p) for p in ps) for start, ps in d.get("merged_from", [])}
    m.released_through = d["released_through"]
    m.duplicates = int(d["duplicates"])
    m.late_events = int(d.get("late_events", 0))
    m.carried_late = int(d.get("carried_late", 0))
    m.carried_invalid = int(d.get("carried_invalid", 0))
    arrived = d.get("carried_arrived", 0)    # (absent from snapshots older than it: none carried)
    m.carried_arrived = None if arrived is None else int(arrived)
    m.carried = None if d.get("carried") is None else JoinCounts(**d["carried"])
    return m


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def loads(raw: bytes) -> Any:
    return orjson.loads(raw)
