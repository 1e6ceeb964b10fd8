"""``driftline replay``: the whole pipeline over a file, in process, with the very classes the
Kafka workers use (one logical partition; every window closes at end of input)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

from driftline.schemas.config import Config

from .exceptions import InputError
from .monitor import MonitorRuntime
from .pipeline import InProcessPipeline, PipelineStats
from .reference_io import read_reference
from .sinks import OutputSink


def _chunks(path: Path, size: int, max_bytes: int) -> Iterator[list[bytes]]:
    """Batches of at most ``size`` lines and about ``max_bytes`` bytes (at least one line)."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    with fh:
        while lines := fh.readlines(max_bytes):
            for start in range(0, len(lines), size):
                yield lines[start:start + size]


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


def replay(config: Config, events: Path, sink: OutputSink, only: str | None = None) -> PipelineStats:
    """Replay ``events`` (JSON lines) through every monitor (or only ``only``).

    Dead letters carry the 0-based line number as their offset.
    """
    pipeline = InProcessPipeline(load_monitors(config, only), sink, skip_blank=True)
    # Batches create many short-lived containers without cycles; the cyclic GC would rescan
    # them for nothing, so it is paused while replaying.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        line = 0
        for chunk in _chunks(events, config.limits.batch_size, config.limits.batch_bytes):
            pipeline.feed(chunk, offsets=range(line, line + len(chunk)))
            line += len(chunk)
        pipeline.close()
    finally:
        if gc_was_enabled:
            gc.enable()
    return pipeline.stats
