"""``driftline replay``: the whole pipeline over a file, in process, with the very classes the
Kafka workers use (one logical partition; every window closes at end of input)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from driftline.schemas.config import Config

from .exceptions import InputError
from .monitor import MonitorRuntime
from .reference_io import read_reference
from .sinks import OutputSink

_PARTITION = 0


@dataclass
class ReplayStats:
    events: int = 0
    invalid: int = 0
    late: int = 0
    windows: int = 0
    alerts: int = 0


def _chunks(path: Path, size: int) -> Iterator[list[bytes]]:
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    with fh:
        while chunk := list(islice(fh, size)):
            yield chunk


def load_monitors(config: Config, only: str | None = None) -> list[MonitorRuntime]:
    monitors = []
    for m in config.monitors:
        if only is not None and m.name != only:
            continue
        if m.reference_path is None:
            raise InputError(f"monitor {m.name!r} has no reference.path; build one with `driftline reference build`")
        monitors.append(MonitorRuntime(m, read_reference(m.reference_path), config.limits,
                                       source=str(m.reference_path)))
    if only is not None and not monitors:
        raise InputError(f"no monitor named {only!r} in the config")
    return monitors


def replay(config: Config, events: Path, sink: OutputSink, only: str | None = None) -> ReplayStats:
    monitors = load_monitors(config, only)
    stats = ReplayStats()
    windows = [m.new_partition() for m in monitors]
    mergers = [m.new_merger(frozenset({_PARTITION})) for m in monitors]
    # The batch creates many short-lived containers; the cyclic GC would rescan them for
    # nothing (they hold no cycles), so it is paused while replaying.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        line = 0
        for chunk in _chunks(events, config.limits.batch_size):
            offsets = range(line, line + len(chunk))
            line += len(chunk)
            for i, (m, w, merger) in enumerate(zip(monitors, windows, mergers, strict=True)):
                batch = m.decoder.decode(chunk, None, None, offsets)
                if i == 0:
                    stats.events += len(chunk)
                stats.invalid += len(batch.dead)
                sink.dead(m.cfg.name, batch.dead)
                stats.late += w.add(batch)
                for merged in merger.add(_PARTITION, w.close_ready(), w.closed_through):
                    _emit(m, merged, sink, stats)
        for m, w, merger in zip(monitors, windows, mergers, strict=True):
            merger.add(_PARTITION, w.close_all(), w.closed_through)
            for merged in merger.flush():
                _emit(m, merged, sink, stats)
    finally:
        if gc_was_enabled:
            gc.enable()
    return stats


def _emit(m: MonitorRuntime, merged, sink: OutputSink, stats: ReplayStats) -> None:
    out = m.judge_window(merged)
    sink.reports(out.reports)
    sink.alerts(out.alerts)
    sink.retrain(out.retrain)
    stats.windows += 1
    stats.alerts += len(out.alerts)
