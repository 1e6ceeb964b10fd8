"""Tier 2 of DESIGN 2: merge the partial sketches of a window from every source partition.

A window is complete when each expected partition has either sent its partial for it or
reported (through ``closed_through``) that it has closed every window ending by then without
one, so sparse and idle partitions never hold the others back. Completed windows are
released in start order, because alert hysteresis reads windows in order. A partial that was
already merged is ignored: replays of the internal topic after a crash change nothing.

An idle partition (silent past ``idle_timeout``, nothing left to read) is not waited for,
but only for windows that end by its *horizon*: the newest ``closed_through`` of the other
partitions when its *previous* claim arrived. It repeats its claim every second while it
stays idle, so a claim confirms that the partition was still idle, with nothing left to
read, about a second after the others had closed those windows: time enough to fetch events
of theirs that were already written. Without that bound, partitions that went quiet together
and then get a burst would see the first of them to close a window release it before the
others' events for it were read. A window waits at most about two claims for a partition
that never gets an event.

A partial for a window already released is a duplicate when that partition's partial for it
was merged (a replay of the internal topic after a crash); otherwise it is a *late
partial*: not merged (the window was judged), its events counted in ``late_events``, never
dropped in silence. Windows are remembered for that over the last ``_MAX_MERGED`` releases;
a partial for an older one is counted as late too (a replay only repeats recent ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from driftline.detectors.window_sketch import WindowSketch

from .label_join import JoinCounts
from .windows import Partial, PooledVersions

# Released windows whose merged partitions are remembered, to tell a duplicate partial (a
# replay of the internal topic repeats those of the last checkpoint interval or so) from a
# late one. Older windows count as late: visible, never a silent loss.
_MAX_MERGED = 1024


@dataclass
class MergedWindow:
    window_start: int
    window_end: int
    sketches: dict[str | None, WindowSketch]
    late: int
    invalid: int
    joined: JoinCounts | None = None   # labels no pair took, reported with the window (run)
    # what each partition that pooled model versions pooled (their events are in its None
    # sketch), with the versions it kept: for pool_versions, when the window is judged
    pooled: list[tuple[PooledVersions, frozenset[str | None]]] = field(default_factory=list)
    # decoded events the partitions read while they met ``late`` and ``invalid`` (None: unknown)
    arrived: int | None = None


@dataclass
class WindowMerger:
    size_ms: int
    partitions: frozenset[int]
    pending: dict[int, dict[int, Partial]] = field(default_factory=dict)   # start -> partition -> partial
    closed_through: dict[int, int] = field(default_factory=dict)          # partition -> ms
    released_through: int | None = None                                   # newest start released
    duplicates: int = 0
    # partitions silent past idle_timeout -> the window starts they still have open
    idle: dict[int, set[int]] = field(default_factory=dict)
    # ... their horizon (ms; None: none yet): windows ending later wait for them; and what the
    # others had closed at their latest claim, the horizon their next claim brings
    idle_horizon: dict[int, int | None] = field(default_factory=dict)
    idle_seen: dict[int, int | None] = field(default_factory=dict)
    # start of each recently released window -> the partitions whose partials it merged
    merged_from: dict[int, frozenset[int]] = field(default_factory=dict)
    late_events: int = 0    # events of late partials (once per window they were in), never merged
    # what late partials counted (their dead letters, late events, and their own events, now
    # late): reported with the next window judged, so the window reports and the pipeline
    # alert see them
    carried_late: int = 0
    carried_invalid: int = 0
    carried_arrived: int | None = 0     # ... and the events read meanwhile (None: unknown)
    # label counts (unmatched, dropped) of late partials: reported with the next window judged
    carried: JoinCounts | None = None

    def set_idle(self, partition: int, open_starts: set[int] | None) -> list[MergedWindow]:
        """A silent partition holds back only the windows it still has open (it closes those
        itself as its watermark advances with wall-clock time) and those ending after its
        horizon; ``None`` = active again."""
        if open_starts is None:
            for state in (self.idle, self.idle_horizon, self.idle_seen):
                state.pop(partition, None)
        else:
            self.idle[partition] = set(open_starts)
            self.idle_horizon[partition] = self.idle_seen.get(partition)
            others = [t for p, t in self.closed_through.items() if p != partition]
            self.idle_seen[partition] = max(others, default=None)
        return self._release()

    def add(self, partition: int, partials: list[Partial], closed_through: int | None) -> list[MergedWindow]:
        for p in partials:
            if self.released_through is not None and p.window_start <= self.released_through:
                merged = self.merged_from.get(p.window_start)
                if merged is not None and partition in merged:
                    self.duplicates += 1
                else:   # its window was judged without it: late, counted (its p.late already was)
                    events = sum(s.events for s in p.sketches.values())
                    self.late_events += events
                    self.carried_late += p.late + events
                    self.carried_invalid += p.invalid
                    self.carried_arrived = (None if self.carried_arrived is None or p.arrived is None
                                            else self.carried_arrived + p.arrived)
                    if p.joined is not None:   # what became of labels is not lost with it
                        self.carried = p.joined if self.carried is None else self.carried.plus(p.joined)
                    if merged is not None:   # a repeat of this partial is a duplicate
                        self.merged_from[p.window_start] = merged | {partition}
                continue
            window = self.pending.setdefault(p.window_start, {})
            if partition in window:
                self.duplicates += 1
                continue
            window[partition] = p
        if closed_through is not None:
            self.closed_through[partition] = max(self.closed_through.get(partition, closed_through),
                                                 closed_through)
        return self._release()

    def set_partitions(self, partitions: frozenset[int]) -> list[MergedWindow]:
        """The source topic grew (or shrank): judge completeness against the new set."""
        self.partitions = partitions
        return self._release()

    def _complete(self, start: int) -> bool:
        end = start + self.size_ms
        got = self.pending[start]
        return all(p in got or self.closed_through.get(p, end - 1) >= end or self._exempt(p, start, end)
                   for p in self.partitions)

    def _exempt(self, p: int, start: int, end: int) -> bool:
        """Idle ``p`` is let off this window: it has no window open that starts at or before it
        (its partial for an earlier window would come after a later one was judged, and
        windows are judged in order), and the window ends by its horizon."""
        horizon = self.idle_horizon.get(p)
        return (p in self.idle and all(s > start for s in self.idle[p])
                and horizon is not None and end <= horizon)

    def _release(self) -> list[MergedWindow]:
        out = []
        for start in sorted(self.pending):
            if not self._complete(start):
                break
            out.append(self._merge(start, self.pending.pop(start)))
            self.released_through = start
        return out

    def flush(self) -> list[MergedWindow]:
        """Release everything pending (end of a replay)."""
        out = [self._merge(s, self.pending.pop(s)) for s in sorted(self.pending)]
        if out:
            self.released_through = out[-1].window_start
        return out

    def _merge(self, start: int, parts: dict[int, Partial]) -> MergedWindow:
        sketches: dict[str | None, WindowSketch] = {}
        pooled: list[tuple[PooledVersions, frozenset[str | None]]] = []
        late, invalid, arrived = self.carried_late, self.carried_invalid, self.carried_arrived
        self.carried_late = self.carried_invalid = self.carried_arrived = 0
        joined, self.carried = self.carried, None
        self.merged_from[start] = frozenset(parts)
        while len(self.merged_from) > _MAX_MERGED:
            del self.merged_from[min(self.merged_from)]
        for partition in sorted(parts):   # a fixed order; the merge is exact anyway
            p = parts[partition]
            late += p.late
            invalid += p.invalid
            arrived = None if arrived is None or p.arrived is None else arrived + p.arrived
            if p.joined is not None:
                joined = p.joined if joined is None else joined.plus(p.joined)
            if p.pooled is not None:
                pooled.append((p.pooled, frozenset(p.sketches)))
            _merge_into(sketches, p.sketches.items())
        return MergedWindow(start, start + self.size_ms, sketches, late, invalid, joined, pooled, arrived)


def pool_versions(sketches: dict[str | None, WindowSketch],
                  pooled: list[tuple[PooledVersions, frozenset[str | None]]],
                  cap: int | None, prefer: frozenset[str] = frozenset()) -> tuple[dict[str | None, WindowSketch], int]:
    """A window's sketches with at most ``cap`` model versions of their own, and how many
    events were pooled. ``pooled``: what each partition that pooled versions pooled, with the
    versions it kept. A version some partition pooled is pooled here too (and, when that
    partition pooled more names than it kept, every version it did not keep), so a version's
    report is never missing a partition's events; of the others, the ``cap`` with the most
    events (then by name) stay, those in ``prefer`` (versions with alert state) first. The
    pooled ones join the None sketch (the events without a version): they count in the
    all-versions report only."""
    named = [v for v in sketches if v is not None]
    out_of_it: set[str | None] = set()
    for p, kept in pooled:
        out_of_it |= p.names
        if p.overflow:
            out_of_it |= set(named) - kept
    own = [v for v in named if v not in out_of_it]
    if cap is not None and len(own) > cap:
        own.sort(key=lambda v: (v not in prefer, -sketches[v].events, v))
        del own[cap:]
    moving = sorted(set(named) - set(own))
    events = sum(p.events for p, _ in pooled)
    if not moving:
        return sketches, events
    out = {v: s for v, s in sketches.items() if v is None or v in own}
    _merge_into(out, ((None, sketches[v]) for v in moving))
    return out, events + sum(sketches[v].events for v in moving)


def _merge_into(sketches: dict[str | None, WindowSketch], items) -> None:
    """Merge each ``(version, sketch)`` into ``sketches`` (merge never mutates its operands)."""
    for version, s in items:
        sketches[version] = sketches[version].merge(s) if version in sketches else s
