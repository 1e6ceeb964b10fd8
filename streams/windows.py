"""Event-time windows (tumbling or hopping) with a per-partition watermark: tier 1 of DESIGN 2.

``PartitionWindows`` owns the open window sketches of one source partition. The watermark is
the largest event time seen minus ``grace``; a window closes, and its *partial* sketch leaves,
once the watermark passes its end. An event whose window had already closed when the event
arrived is *late*: it is counted, never silently dropped, and still added to any of its
windows that are open. Lateness is decided in event order from a running maximum, so the
result does not depend on how the stream was cut into batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from driftline.detectors.window_sketch import MonitorLayout, WindowSketch

from .records import DecodedBatch

_NO_VERSION = "\x00"  # key of events without a model version (never a real version string)


@dataclass(frozen=True)
class WindowSpec:
    size_ms: int
    slide_ms: int
    grace_ms: int

    def __post_init__(self) -> None:
        if self.slide_ms <= 0 or self.size_ms % self.slide_ms:
            raise ValueError("window size must be a positive multiple of the slide")

    @classmethod
    def from_seconds(cls, size: float, slide: float, grace: float) -> WindowSpec:
        return cls(round(size * 1000), round(slide * 1000), round(grace * 1000))

    @property
    def per_event(self) -> int:
        """How many windows contain each event (size / slide)."""
        return self.size_ms // self.slide_ms

    def starts(self, t_ms: np.ndarray) -> np.ndarray:
        """``(n, per_event)`` starts of the windows that contain each time (newest first)."""
        last = (t_ms // self.slide_ms) * self.slide_ms
        return last[:, None] - np.arange(self.per_event, dtype=np.int64)[None, :] * self.slide_ms


@dataclass
class Partial:
    """What one partition saw of one window: tier 1's output, tier 2's input."""

    window_start: int                      # ms since the epoch
    sketches: dict[str | None, WindowSketch]
    late: int = 0
    invalid: int = 0


@dataclass
class PartitionWindows:
    """Tier-1 state of one source partition of one monitor."""

    spec: WindowSpec
    layout: MonitorLayout
    max_event_ms: int | None = None
    closed_through: int | None = None      # end (ms) of the newest window already emitted
    open: dict[int, dict[str, WindowSketch]] = field(default_factory=dict)
    late: int = 0                          # late events not yet reported
    invalid: int = 0                       # invalid events not yet reported

    @property
    def watermark(self) -> int | None:
        return None if self.max_event_ms is None else self.max_event_ms - self.spec.grace_ms

    def add(self, batch: DecodedBatch) -> int:
        """Add a decoded batch (events in arrival order); returns how many were late."""
        self.invalid += len(batch.dead)
        n = len(batch)
        if n == 0:
            return 0
        t_ms = np.floor(batch.timestamps * 1000.0).astype(np.int64)
        # watermark each event saw on arrival: running max of the times before it, minus grace
        before = np.maximum.accumulate(np.concatenate(([self._max_or_min()], t_ms)))[:-1]
        seen_wm = before - self.spec.grace_ms
        starts = self.spec.starts(t_ms)
        ends = starts + self.spec.size_ms
        closed = ends <= seen_wm[:, None]
        if self.closed_through is not None:
            closed |= ends <= self.closed_through
        late = int(closed.any(axis=1).sum())
        self.late += late
        self._update_sketches(batch, starts, ~closed)
        self.max_event_ms = int(max(self._max_or_min(), int(t_ms.max())))
        return late

    def _max_or_min(self) -> int:
        return np.iinfo(np.int64).min // 2 if self.max_event_ms is None else self.max_event_ms

    def _update_sketches(self, batch: DecodedBatch, starts: np.ndarray, keep: np.ndarray) -> None:
        versions = np.where(batch.versions == None, _NO_VERSION, batch.versions).astype(str)  # noqa: E711
        vnames, vcodes = np.unique(versions, return_inverse=True)
        k = self.spec.per_event
        rows = np.repeat(np.arange(len(batch)), k)[keep.ravel()]
        wstart = starts.ravel()[keep.ravel()]
        if rows.size == 0:
            return
        key_w, w_idx = np.unique(wstart, return_inverse=True)
        key = w_idx * len(vnames) + vcodes[rows]
        order = np.argsort(key, kind="stable")
        bounds = np.flatnonzero(np.r_[True, key[order][1:] != key[order][:-1], True])
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            sel = order[a:b]
            g = int(key[sel[0]])
            start, version = int(key_w[g // len(vnames)]), str(vnames[g % len(vnames)])
            window = self.open.setdefault(start, {})
            sketch = window.get(version)
            if sketch is None:
                sketch = window[version] = WindowSketch(self.layout)
            sketch.update(batch.columns.take(rows[sel]))

    def close_ready(self, watermark: int | None = None) -> list[Partial]:
        """Emit (and forget) every open window whose end the watermark has passed.

        ``watermark`` overrides the partition's own (used when idle partitions advance).
        """
        wm = self.watermark if watermark is None else watermark
        if wm is None:
            return []
        ready = sorted(s for s in self.open if s + self.spec.size_ms <= wm)
        out = [self._emit(s) for s in ready]
        newest = wm - (wm % self.spec.slide_ms)  # every window ending by here is now closed
        self.closed_through = max(self.closed_through or newest, newest)
        if wm > (self.max_event_ms or wm) - self.spec.grace_ms:
            # advanced by idleness: later events are judged against the advanced watermark
            self.max_event_ms = wm + self.spec.grace_ms
        return out

    def close_all(self) -> list[Partial]:
        """Emit every open window (end of a replay)."""
        out = [self._emit(s) for s in sorted(self.open)]
        if out:
            self.closed_through = max(self.closed_through or 0, out[-1].window_start + self.spec.size_ms)
        return out

    def _emit(self, start: int) -> Partial:
        sketches = {(None if v == _NO_VERSION else v): s for v, s in self.open.pop(start).items()}
        partial = Partial(start, sketches, self.late, self.invalid)
        self.late = self.invalid = 0
        return partial
