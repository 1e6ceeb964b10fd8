"""Event-time windows (tumbling or hopping) with a per-partition watermark: tier 1 of DESIGN 2.

``PartitionWindows`` owns the open window sketches of one source partition. The watermark is
the largest event time seen minus ``grace``; a window closes, and its *partial* sketch leaves,
once the watermark passes its end. An event whose window had already closed when the event
arrived is *late*: it is counted, never silently dropped, and still added to any of its
windows that are open. Lateness is decided in event order from a running maximum, so the
result does not depend on how the stream was cut into batches.

A late or invalid event is reported with the first window that closes after it arrived (the
first window whose end is past the watermark the event saw), again independent of batching.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from driftline.detectors.window_sketch import MonitorLayout, WindowSketch

from .label_join import JoinCounts
from .records import DecodedBatch
from .timefmt import event_ms


@dataclass(frozen=True)
class WindowSpec:
    size_ms: int
    slide_ms: int
    grace_ms: int

    def __post_init__(self) -> None:
        if self.slide_ms <= 0 or self.size_ms <= 0 or self.size_ms % self.slide_ms:
            raise ValueError("window size must be a positive multiple of the slide")
        if self.grace_ms < 0:
            raise ValueError("grace must not be negative")

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


# Tier 1 gives this many times limits.max_model_versions versions of a window a sketch of their
# own (sketches are small next to the state an id per event would take), so that tier 2's
# choice by number of events, not one partition's order of arrival, decides which versions
# keep a report in all but pathological streams.
TIER1_SLOTS_PER_VERSION = 4
# Names of pooled versions kept per window and partition: tier 2 pools them everywhere, so a
# per-version report is whole. Beyond this many (an id as the version), only the fact is kept
# and tier 2 keeps no version that partition did not keep: the state stays bounded.
MAX_POOLED_NAMES = 1000


@dataclass
class PooledVersions:
    """What one partition pooled in one window: the names (at most ``MAX_POOLED_NAMES``;
    ``overflow``: there were more) and how many events they had. Grows while the window is
    open; a partial's is final."""

    names: set[str] = field(default_factory=set)
    events: int = 0
    overflow: bool = False

    def add(self, name: str, events: int) -> None:
        self.events += events
        if name not in self.names and not self.overflow:
            if len(self.names) < MAX_POOLED_NAMES:
                self.names.add(name)
            else:
                self.overflow = True


@dataclass
class Partial:
    """What one partition saw of one window: tier 1's output, tier 2's input."""

    window_start: int                      # ms since the epoch
    sketches: dict[str | None, WindowSketch]
    late: int = 0
    invalid: int = 0
    # run's label join: labels that made no pair (unmatched, dropped), reported with this window
    joined: JoinCounts | None = None
    # model versions beyond the partition's cap: their events are in the None sketch
    pooled: PooledVersions | None = None
    # decoded events read while ``late`` and ``invalid`` were (late ones included): what they
    # are a share of (None: unknown, the first partial after restoring an older snapshot)
    arrived: int | None = None


@dataclass
class PartitionWindows:
    """Tier-1 state of one source partition of one monitor."""

    spec: WindowSpec
    layout: MonitorLayout
    max_event_ms: int | None = None
    closed_through: int | None = None      # every window ending by here (ms) is closed
    open: dict[int, dict[str | None, WindowSketch]] = field(default_factory=dict)
    # watermark seen by late / invalid events not yet reported (attributed on close) -> how
    # many saw it: a partition's watermark only grows, so this stays small even when no window
    # closes for long (a far-future event, or a partition fed only invalid events)
    pending_late: dict[int, int] = field(default_factory=dict)
    pending_invalid: dict[int, int] = field(default_factory=dict)
    # ... and the same of every decoded event, the shares' denominator; ``arrivals_partial``:
    # restored from a snapshot that did not keep it, so the next partial's count is unknown
    pending_arrived: dict[int, int] = field(default_factory=dict)
    arrivals_partial: bool = False
    # limits.max_model_versions (None: no cap): TIER1_SLOTS_PER_VERSION times as many versions
    # of a window get a sketch of their own here; the events of later ones go to the None
    # sketch, and what they were to ``pooled``
    max_versions: int | None = None
    pooled: dict[int, PooledVersions] = field(default_factory=dict)

    @property
    def late(self) -> int:
        return sum(self.pending_late.values())

    @property
    def invalid(self) -> int:
        return sum(self.pending_invalid.values())

    @property
    def watermark(self) -> int | None:
        return None if self.max_event_ms is None else self.max_event_ms - self.spec.grace_ms

    def add(self, batch: DecodedBatch) -> int:
        """Add a decoded batch (events in arrival order); returns how many were late."""
        return self.add_rows(batch)[0]

    def add_rows(self, batch: DecodedBatch) -> tuple[int, np.ndarray]:
        """As :meth:`add`; also says which rows reached no window (late for every window
        they belong to), as a boolean mask over the batch's rows."""
        n = len(batch)
        t_ms = event_ms(batch.timestamps)
        # watermark each event saw on arrival: running max of the times before it, minus grace
        running = np.maximum.accumulate(np.concatenate(([self._max_or_min()], t_ms)))
        seen_wm = running[:-1] - self.spec.grace_ms
        if batch.dead:
            # an invalid event saw the watermark of the valid events before it in the batch
            rows = np.arange(n) if batch.rows is None else batch.rows
            dead_rows = np.full(len(batch.dead), n) if batch.dead_rows is None else batch.dead_rows
            before = np.searchsorted(rows, dead_rows, side="left")
            _count(self.pending_invalid, running[before] - self.spec.grace_ms, self.spec.slide_ms)
        if n == 0:
            return 0, np.zeros(0, dtype=bool)
        _count(self.pending_arrived, seen_wm, self.spec.slide_ms)
        starts = self.spec.starts(t_ms)
        ends = starts + self.spec.size_ms
        closed = ends <= seen_wm[:, None]
        if self.closed_through is not None:
            closed |= ends <= self.closed_through
        is_late = closed.any(axis=1)
        late = int(is_late.sum())
        if late:
            _count(self.pending_late, seen_wm[is_late], self.spec.slide_ms)
        self._update_sketches(batch, starts, ~closed)
        self.max_event_ms = int(running[-1])
        return late, closed.all(axis=1)

    def _max_or_min(self) -> int:
        return _NO_TIME if self.max_event_ms is None else self.max_event_ms

    def _update_sketches(self, batch: DecodedBatch, starts: np.ndarray, keep: np.ndarray) -> None:
        for start, version, rows in self._capped(_groups(batch.versions.tolist(), starts, keep)):
            self._sketch(start, version).update(batch.columns.take(rows))

    def _capped(self, groups: Iterator[tuple[int, str | None, np.ndarray]],
                count: bool = True) -> Iterator[tuple[int, str | None, np.ndarray]]:
        """``groups`` with the rows of the versions beyond the cap gathered into one None group
        per window, so that an id as the version costs one sketch update, not one per event.
        Each window's versions are weighed in order of arrival (of their first row), so which
        ones are pooled does not depend on how the stream was cut into batches. ``count``:
        the rows are events (not label pairs), counted in ``pooled``. (Lazy: each kept
        version's sketch exists before the next group is weighed.)"""
        if self.max_versions is None:
            yield from groups
            return
        pooled: dict[int, list[np.ndarray]] = {}
        for start, version, rows in sorted(groups, key=lambda g: (g[0], int(g[2][0]))):
            if self._pools(start, version):
                pooled.setdefault(start, []).append(rows)
                self.pooled.setdefault(start, PooledVersions()).add(version, rows.size if count else 0)
            else:
                yield start, version, rows
        for start, parts in pooled.items():
            yield start, None, np.concatenate(parts)

    def _pools(self, start: int, version: str | None) -> bool:
        """Whether ``version``'s events go to the None sketch of the window at ``start``: it
        has no sketch there and the window has all its sketches already."""
        if version is None or self.max_versions is None:
            return False
        window = self.open.get(start, {})
        return version not in window and len(window) - (None in window) >= self.max_versions * TIER1_SLOTS_PER_VERSION

    def _sketch(self, start: int, version: str | None) -> WindowSketch:
        """The sketch of ``version`` in the window at ``start``, made when missing (the groups
        come from ``_capped``, which has put the versions beyond the cap under None)."""
        window = self.open.setdefault(start, {})
        sketch = window.get(version)
        if sketch is None:
            sketch = window[version] = WindowSketch(self.layout)
        return sketch

    def add_pairs(self, t_ms: np.ndarray, versions: list, prediction: np.ndarray, labels: np.ndarray) -> int:
        """Count (prediction, label) pairs joined after their prediction was added (``t_ms``,
        ``versions``: the prediction's event time and model version) in the prediction's
        windows that are still open; returns how many pairs reached none (all closed)."""
        if len(t_ms) == 0:
            return 0
        starts = self.spec.starts(np.asarray(t_ms, dtype=np.int64))
        is_open = np.isin(starts, np.fromiter(self.open, dtype=np.int64, count=len(self.open)))
        for start, version, rows in self._capped(_groups(versions, starts, is_open), count=False):
            # (made when its prediction reached another window only: a hopping one)
            self._sketch(start, version).add_pairs(prediction[rows], labels[rows])
        return int(np.count_nonzero(~is_open.any(axis=1)))

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
        self.closed_through = newest if self.closed_through is None else max(self.closed_through, newest)
        if self.max_event_ms is None or wm > self.max_event_ms - self.spec.grace_ms:
            # advanced by idleness: later events are judged against the advanced watermark
            self.max_event_ms = wm + self.spec.grace_ms
        return out

    def close_all(self) -> list[Partial]:
        """Emit every open window (end of a replay); the last one takes what is still pending."""
        starts = sorted(self.open)
        out = [self._emit(s, take_all=(i == len(starts) - 1)) for i, s in enumerate(starts)]
        if out:
            end = out[-1].window_start + self.spec.size_ms
            self.closed_through = end if self.closed_through is None else max(self.closed_through, end)
        return out

    def _emit(self, start: int, take_all: bool = False) -> Partial:
        end = start + self.spec.size_ms
        late, self.pending_late = _split(self.pending_late, end, take_all)
        invalid, self.pending_invalid = _split(self.pending_invalid, end, take_all)
        arrived: int | None
        arrived, self.pending_arrived = _split(self.pending_arrived, end, take_all)
        if self.arrivals_partial:
            arrived, self.arrivals_partial = None, False
        return Partial(start, self.open.pop(start), late, invalid, pooled=self.pooled.pop(start, None),
                       arrived=arrived)


# "no event yet": far below any real time, yet safe from overflow when grace is subtracted
_NO_TIME = np.iinfo(np.int64).min // 2


def _groups(versions: list, starts: np.ndarray, keep: np.ndarray):
    """``(window start, version, rows)`` for the rows kept in each window, by window and
    version: ``starts`` is ``(n, per_event)``, ``keep`` says which of them each row reaches."""
    names = list(dict.fromkeys(versions))          # None is a key like any other
    index = {v: i for i, v in enumerate(names)}
    vcodes = np.fromiter(map(index.__getitem__, versions), dtype=np.int64, count=len(versions))
    k = starts.shape[1]
    rows = np.repeat(np.arange(len(versions)), k)[keep.ravel()]
    wstart = starts.ravel()[keep.ravel()]
    if rows.size == 0:
        return
    key_w, w_idx = np.unique(wstart, return_inverse=True)
    key = w_idx * len(names) + vcodes[rows]
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    bounds = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1], True])
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        g = int(sorted_key[a])
        yield int(key_w[g // len(names)]), names[g % len(names)], rows[order[a:b]]


def _count(pending: dict[int, int], watermarks: np.ndarray, step: int) -> None:
    """Count events by the watermark they saw, to the ``step`` (the slide) below it: window
    ends are whole slides, so a window's share (:func:`_split`) is the same, and a pending
    dict keeps a few entries, not one per distinct millisecond (it goes into every snapshot)."""
    values, counts = np.unique(watermarks // step, return_counts=True)
    for w, c in zip((values * step).tolist(), counts.tolist(), strict=True):
        pending[w] = pending.get(w, 0) + c


def _split(pending: dict[int, int], end: int, take_all: bool) -> tuple[int, dict[int, int]]:
    """How many pending events saw a watermark before ``end`` (they belong to this window's
    report), and the rest."""
    if take_all:
        return sum(pending.values()), {}
    keep = {w: c for w, c in pending.items() if w >= end}
    return sum(pending.values()) - sum(keep.values()), keep
