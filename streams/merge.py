"""Tier 2 of DESIGN 2: merge the partial sketches of a window from every source partition.

A window is complete when each expected partition has either sent its partial for it or
reported (through ``closed_through``) that it has closed every window ending by then without
one, so sparse and idle partitions never hold the others back. Completed windows are
released in start order, because alert hysteresis reads windows in order. A partial that was
already merged is ignored: replays of the internal topic after a crash change nothing.

An idle partition (silent past ``idle_timeout``, nothing left to read) is not waited for,
but only for windows that end by its *horizon*: the newest ``closed_through`` of the other
partitions when its claim arrived (it repeats the claim while it stays idle, and each claim
moves the horizon). Without that bound, partitions that went quiet together and then get a
burst would see the first of them to close a window release it before the others' events
for it were read. A partial that still arrives for a window released without its partition
is a *late partial*: not merged (the window was judged), its events counted in
``late_events``, never dropped in silence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from driftline.detectors.window_sketch import WindowSketch

from .windows import Partial

# Windows remembered as released without an idle partition (its partial, if it still comes,
# is late, not a duplicate). A partition's own watermark makes its events for much older
# windows late at tier 1 already, so a bounded history of recent windows is enough.
_MAX_EXEMPTED = 1024


@dataclass
class MergedWindow:
    window_start: int
    window_end: int
    sketches: dict[str | None, WindowSketch]
    late: int
    invalid: int


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
    # ... and their horizon (ms; None: nothing closed elsewhere yet): windows ending later wait
    idle_horizon: dict[int, int | None] = field(default_factory=dict)
    # window start -> partitions it was released without (idle): their partials are late
    exempted: dict[int, set[int]] = field(default_factory=dict)
    late_events: int = 0    # events (and late counts) of late partials, never merged

    def set_idle(self, partition: int, open_starts: set[int] | None) -> list[MergedWindow]:
        """A silent partition holds back only the windows it still has open (it closes those
        itself as its watermark advances with wall-clock time) and those ending after its
        horizon; ``None`` = active again."""
        if open_starts is None:
            self.idle.pop(partition, None)
            self.idle_horizon.pop(partition, None)
        else:
            self.idle[partition] = set(open_starts)
            others = [t for p, t in self.closed_through.items() if p != partition]
            self.idle_horizon[partition] = max(others, default=None)
        return self._release()

    def add(self, partition: int, partials: list[Partial], closed_through: int | None) -> list[MergedWindow]:
        for p in partials:
            if self.released_through is not None and p.window_start <= self.released_through:
                without = self.exempted.get(p.window_start)
                if without is not None and partition in without:
                    without.discard(partition)
                    self.late_events += sum(s.events for s in p.sketches.values()) + p.late
                else:
                    self.duplicates += 1
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
        horizon = self.idle_horizon.get(p)
        return p in self.idle and start not in self.idle[p] and horizon is not None and end <= horizon

    def _release(self) -> list[MergedWindow]:
        out = []
        for start in sorted(self.pending):
            if not self._complete(start):
                break
            parts = self.pending.pop(start)
            end = start + self.size_ms
            without = {p for p in self.partitions
                       if p not in parts and self.closed_through.get(p, end - 1) < end}
            if without:
                self.exempted[start] = without
                while len(self.exempted) > _MAX_EXEMPTED:
                    del self.exempted[min(self.exempted)]
            out.append(self._merge(start, parts))
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
        late = invalid = 0
        for partition in sorted(parts):   # a fixed order; the merge is exact anyway
            p = parts[partition]
            late += p.late
            invalid += p.invalid
            for version, s in p.sketches.items():
                sketches[version] = sketches[version].merge(s) if version in sketches else s
        return MergedWindow(start, start + self.size_ms, sketches, late, invalid)
