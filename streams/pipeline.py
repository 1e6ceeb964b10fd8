"""The whole path of DESIGN 2 in one process, for any source that hands over batches of raw
event bytes: the file replay, and Faust apps through ``streams.faust_adapter``.

Each partition of the source gets its own tier-1 window state; tier 2 merges them per window.
Monitors that join labels get theirs through ``feed_labels`` (before the predictions, in
replay); each valid prediction takes its label from the join store as it is decoded. Monitors
that read labels alike (same fields, task and size limit) share the decoding of each batch;
each keeps its own join store, since each monitor's predictions take their labels out of it.

With ``streaming_labels`` (the Faust adapter) labels and predictions may come in any order,
per partition, and join as in ``driftline run`` (``streams.stream_join``: a prediction waits
for its label while its windows are open); at :meth:`InProcessPipeline.close` the labels still
waiting are unmatched, reported with the last window like replay's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .batching import byte_slices
from .label_decode import LabelBatch, LabelSpec
from .label_join import JoinCounts
from .merge import MergedWindow, WindowMerger
from .monitor import MonitorRuntime
from .records import DeadLetter
from .sinks import OutputSink
from .stream_join import StreamJoin
from .timefmt import event_ms
from .windows import Partial, PartitionWindows


@dataclass
class PipelineStats:
    events: int = 0
    invalid: int = 0
    late: int = 0                # late events, summed over the monitors (each has its windows)
    late_by: dict[str, int] = field(default_factory=dict)      # ... and per monitor
    windows: int = 0
    alerts: int = 0
    label_events: int = 0        # label events read (once, however many monitors join them)
    # per monitor that joins labels: what became of them (label_join.JoinCounts)
    labels: dict[str, JoinCounts] = field(default_factory=dict)
    judged: dict[str, int] = field(default_factory=dict)       # windows judged, per monitor
    # per monitor: windows whose events had no value (not null) of any feature or the prediction
    empty: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)          # for the end-of-run summary
    first_dead: DeadLetter | None = None                        # an example for the summary


class InProcessPipeline:
    def __init__(self, monitors: list[MonitorRuntime], sink: OutputSink,
                 partitions: Sequence[int] = (0,), skip_blank: bool = False,
                 streaming_labels: bool = False) -> None:
        self.skip_blank = skip_blank
        self.monitors = monitors
        self.sink = sink
        self.stats = PipelineStats()
        parts = frozenset(partitions)
        self._windows: list[dict[int, PartitionWindows]] = [
            {p: m.new_partition() for p in parts} for m in monitors]
        self._mergers = [m.new_merger(parts) for m in monitors]
        # streaming_labels: the label join of each partition, per monitor that joins labels
        self._joins: list[dict[int, StreamJoin]] = [
            {p: m.new_join() for p in parts} if streaming_labels and m.label_decoder is not None else {}
            for m in monitors]
        # per monitor: each partition's newest event time (ms) when it last moved, and the
        # partitions whose watermark ``advance_idle`` moved on since
        self._newest: list[dict[int, int]] = [{} for _ in monitors]
        self._idle: list[set[int]] = [set() for _ in monitors]

    def feed(self, values: Sequence[bytes], partition: int = 0, topic: str | None = None,
             offsets: Sequence[int] | None = None, record_ms: Sequence[int | None] | None = None) -> bool:
        """Process one batch of raw events read from ``partition`` (in arrival order);
        ``record_ms``: their Kafka records' times in ms, when known (``limits.max_future``).
        Returns whether the partition's event time moved (for some monitor): only such events
        keep a partition from being idle (see :meth:`advance_idle`)."""
        limit = self.monitors[0].limits.batch_bytes if self.monitors else 0
        moved = False
        for part in byte_slices(values, limit):
            moved |= self._feed(values[part], partition, topic, None if offsets is None else offsets[part],
                                None if record_ms is None else record_ms[part])
        return moved

    def advance_idle(self, partition: int, silent: float) -> None:
        """``partition``'s event time has not moved for ``silent`` seconds of the caller's
        clock. For each monitor whose ``window.idle_timeout`` that is, as in ``driftline run``:
        the partition's watermark moves on from its newest event by that time, closing its
        windows, and tier 2 stops waiting for it (``WindowMerger.set_idle``). Call it again
        about every second while the partition stays silent; events that move its event time
        make it active again, and those older than the moved watermark are late."""
        for i, (m, windows, merger, joins) in enumerate(zip(self.monitors, self._windows, self._mergers,
                                                            self._joins, strict=True)):
            if silent < m.cfg.window.idle_timeout:
                continue
            w = windows[partition]
            partials = []
            base = self._newest[i].get(partition)
            if base is not None:
                watermark = base + round(silent * 1000) - m.window_spec.grace_ms
                partials = joins[partition].close(w, watermark) if joins else w.close_ready(watermark)
            self._idle[i].add(partition)
            merged = self._merge(m, merger, partition, partials, w.closed_through)
            self._judge(m, merged + merger.set_idle(partition, set(w.open)))
            if joins:
                self.stats.labels[m.cfg.name] = _total(joins.values())

    def _merge(self, m: MonitorRuntime, merger: WindowMerger, partition: int, partials: list[Partial],
               closed_through: int | None) -> list[MergedWindow]:
        """``merger.add``, counting as late the events of partials whose window was judged
        without them (their partition had been idle)."""
        before = merger.late_events
        merged = merger.add(partition, partials, closed_through)
        self._late(m, merger.late_events - before)
        return merged

    def _late(self, m: MonitorRuntime, n: int) -> None:
        if n:
            self.stats.late += n
            by = self.stats.late_by
            by[m.cfg.name] = by.get(m.cfg.name, 0) + n

    def feed_labels(self, values: Sequence[bytes], partition: int = 0, topic: str | None = None,
                    offsets: Sequence[int] | None = None) -> None:
        """Add a batch of raw label events to the join store of every monitor that joins labels."""
        decoded: dict[LabelSpec, LabelBatch] = {}
        for m, windows, joins in zip(self.monitors, self._windows, self._joins, strict=True):
            if m.label_decoder is None or m.labels is None:
                continue
            if joins and partition not in joins:
                raise ValueError(f"labels from partition {partition}, but the monitor has partitions "
                                 f"{sorted(joins)}: the labels topic must have the predictions topic's partitions")
            batch = decoded.get(m.label_decoder.spec)
            if batch is None:
                batch = decoded[m.label_decoder.spec] = m.label_decoder.decode(
                    values, topic, partition, offsets, self.skip_blank)
                if len(decoded) == 1:           # label events read: once, whoever decodes them
                    self.stats.label_events += len(batch) + len(batch.dead)
            self.sink.dead(m.cfg.name, batch.dead)
            if joins:
                joins[partition].add_labels(batch, windows[partition])
                self.stats.labels[m.cfg.name] = _total(joins.values())
            else:
                m.labels.add(batch)
                self.stats.labels[m.cfg.name] = m.labels.counts

    def _feed(self, values: Sequence[bytes], partition: int, topic: str | None,
              offsets: Sequence[int] | None, record_ms: Sequence[int | None] | None) -> bool:
        read: int | None = None            # events in the batch (blank lines are none)
        invalid: set[int] = set()          # rows some monitor could not use
        moved_any = False
        for i, (m, windows, merger, joins) in enumerate(zip(self.monitors, self._windows, self._mergers,
                                                            self._joins, strict=True)):
            batch = m.decoder.decode(values, topic, partition, offsets, self.skip_blank, record_ms)
            moved = self._moved(i, partition, batch.timestamps)
            moved_any |= moved
            read = len(batch) + len(batch.dead) if read is None else read
            if batch.dead:
                self.stats.first_dead = self.stats.first_dead or batch.dead[0]
                invalid.update(range(len(batch.dead)) if batch.dead_rows is None else batch.dead_rows.tolist())
            self.sink.dead(m.cfg.name, batch.dead)
            w = windows[partition]
            if joins:
                join = joins[partition]
                self._late(m, join.add_predictions(batch, w))
                partials = join.close(w)
                self.stats.labels[m.cfg.name] = _total(joins.values())
            elif m.labels is None:
                self._late(m, w.add(batch))
                partials = w.close_ready()
            else:
                batch = m.labels.attach(batch)
                late, unplaced = w.add_rows(batch)
                m.labels.settle(batch.columns, unplaced)
                self._late(m, late)
                partials = w.close_ready()
            merged = self._merge(m, merger, partition, partials, w.closed_through)
            if partition in self._idle[i]:
                if moved:   # active again
                    self._idle[i].discard(partition)
                    merged += merger.set_idle(partition, None)
                else:       # still idle: a claim with the windows it has open now (an old
                    # event may have opened one), as run's progress message of such a batch is
                    merged += merger.set_idle(partition, set(w.open))
            self._judge(m, merged)
        self.stats.events += read or 0
        self.stats.invalid += len(invalid)
        return moved_any

    def _moved(self, i: int, partition: int, timestamps: np.ndarray) -> bool:
        """Whether a batch's valid events move the partition's newest event time for monitor
        ``i`` (an idle advance of its watermark does not count)."""
        if not len(timestamps):
            return False
        newest = int(event_ms(timestamps).max())
        base = self._newest[i].get(partition)
        if base is not None and newest <= base:
            return False
        self._newest[i][partition] = newest
        return True

    def close(self) -> None:
        """End of input: every open window closes and is judged; labels still waiting for their
        prediction are unmatched, and the join's counts (unmatched, dropped) are reported with
        the last window."""
        for m, windows, merger, joins in zip(self.monitors, self._windows, self._mergers, self._joins,
                                             strict=True):
            merged = []
            for p, w in sorted(windows.items()):
                merged += self._merge(m, merger, p, w.close_all(), w.closed_through)
            if joins:
                for join in joins.values():
                    join.labels.take_unmatched()
                self.stats.labels[m.cfg.name] = _total(joins.values())
                left = [c for c in (j.take_counts() for j in joins.values()) if c is not None]
                self._judge(m, merged + merger.flush(), _total(left) if left else None)
                continue
            if m.labels is not None:
                m.labels.take_unmatched()
            self._judge(m, merged + merger.flush(), None if m.labels is None else m.labels.counts)

    def _judge(self, m: MonitorRuntime, merged: list[MergedWindow], joined: JoinCounts | None = None) -> None:
        for i, window in enumerate(merged):
            counts = window.joined                      # streaming labels: with their window
            if joined is not None and i == len(merged) - 1:
                counts = joined if counts is None else counts.plus(joined)
            out = m.judge_window(window, counts)
            self.sink.reports(out.reports)
            self.sink.alerts(out.alerts)
            self.sink.retrain(out.retrain)
            self.stats.windows += 1
            self.stats.judged[m.cfg.name] = self.stats.judged.get(m.cfg.name, 0) + 1
            self.stats.alerts += len(out.alerts)
            j = out.judgement
            if j is not None and not any(r.count for r in (*j.features, *filter(None, [j.prediction]))):
                self.stats.empty[m.cfg.name] = self.stats.empty.get(m.cfg.name, 0) + 1


def _total(joins) -> JoinCounts:
    """The counts of several joins (StreamJoin or JoinCounts) added up."""
    total = JoinCounts()
    for j in joins:
        total = total.plus(j if isinstance(j, JoinCounts) else j.counts)
    return total
