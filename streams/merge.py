"""Tier 2 of DESIGN 2: merge the partial sketches of a window from every source partition.

A window is complete when each expected partition has either sent its partial for it or
reported (through ``closed_through``) that it has closed every window ending by then without
one, so sparse and idle partitions never hold the others back. Completed windows are
released in start order, because alert hysteresis reads windows in order. A partial that was
already merged, or that arrives for a window already released, is ignored: replays of the
internal topic after a crash change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from driftline.detectors.window_sketch import WindowSketch

from .windows import Partial


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

    def set_idle(self, partition: int, open_starts: set[int] | None) -> list[MergedWindow]:
        """A silent partition holds back only the windows it still has open (it closes those
        itself as its watermark advances with wall-clock time); ``None`` = active again."""
        if open_starts is None:
            self.idle.pop(partition, None)
        else:
            self.idle[partition] = set(open_starts)
        return self._release()

    def add(self, partition: int, partials: list[Partial], closed_through: int | None) -> list[MergedWindow]:
        for p in partials:
            if self.released_through is not None and p.window_start <= self.released_through:
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
        return all(p in got or self.closed_through.get(p, end - 1) >= end
                   or (p in self.idle and start not in self.idle[p])
                   for p in self.partitions)

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
        late = invalid = 0
        for partition in sorted(parts):   # a fixed order; the merge is exact anyway
            p = parts[partition]
            late += p.late
            invalid += p.invalid
            for version, s in p.sketches.items():
                sketches[version] = sketches[version].merge(s) if version in sketches else s
        return MergedWindow(start, start + self.size_ms, sketches, late, invalid)
