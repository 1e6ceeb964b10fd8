"""Per-partition state the Kafka worker owns: tier 1 per source partition, tier 2 per
partition of the internal partials topic."""

from __future__ import annotations

from dataclasses import dataclass, field

from .merge import WindowMerger
from .stream_join import StreamJoin
from .windows import PartitionWindows


@dataclass
class Tier1Partition:
    topic: str
    partition: int
    windows: dict[str, PartitionWindows]          # by monitor name
    next_offset: int | None = None                # first offset not yet in the state
    last_event_wall: float = 0.0                  # monotonic time event time last moved
    base_max_ms: dict[str, int | None] = field(default_factory=dict)  # newest event time, when it last moved
    idle: bool = False
    dirty: bool = False
    last_sent: dict[str, tuple] = field(default_factory=dict)          # progress last told to tier 2
    idle_claimed: dict[str, float] = field(default_factory=dict)       # monotonic time of the last idle claim
    # the label join of monitors that join labels (by monitor name), and the next offset of the
    # labels topic's partition of the same number, which this state reflects (by labels topic)
    joins: dict[str, StreamJoin] = field(default_factory=dict)
    label_offsets: dict[str, int] = field(default_factory=dict)
    outbox: list[dict] = field(default_factory=list)   # progress messages saved before they are sent
    # newest Kafka record time (ms) read from the partition, and from each labels partition
    # joined to it: a window closes only once the labels produced before its closing
    # prediction are read (the worker's _labels_behind), in a backlog as live
    record_ms: int | None = None
    label_record_ms: dict[str, int] = field(default_factory=dict)


@dataclass
class Tier2Partition:
    partition: int
    mergers: dict[str, WindowMerger] = field(default_factory=dict)    # by monitor name
    next_offset: int | None = None
    dirty: bool = False
    # monitors whose alert state this partition's snapshot restored (a merger may not exist yet)
    restored: set[str] = field(default_factory=set)
