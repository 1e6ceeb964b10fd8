"""``driftline replay``: the whole pipeline over a file, in process, with the very classes the
Kafka workers use (one logical partition; every window closes at end of input).

With a labels file, the monitors that judge performance (those with a ``performance`` section)
join them: every label is read first into the join store of each such monitor (bounded by
``limits.max_pending_labels``); then each prediction takes its label as it is decoded, and the
pair counts in the prediction's windows. Labels left at the end are unmatched. The other
monitors replay their predictions alone."""

from __future__ import annotations

import gc
import gzip
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from driftline.schemas.config import Config

from .exceptions import InputError, UnknownMonitor
from .monitor import MonitorRuntime
from .pipeline import InProcessPipeline, PipelineStats
from .reference_io import read_reference
from .sinks import OutputSink

# What replay is sometimes handed instead of JSON lines, told by the file's first bytes. A
# gzip-compressed file is read through; these are refused with what they are.
_GZIP = b"\x1f\x8b"
_NOT_JSON_LINES = {b"PAR1": "a Parquet file", b"BZh": "bzip2-compressed", b"\xfd7zXZ\x00": "xz-compressed",
                   b"\x28\xb5\x2f\xfd": "zstd-compressed", b"PK\x03\x04": "a zip archive"}
# A byte order mark (some Windows tools write one) belongs to the file, not to its first event.
_BOM = b"\xef\xbb\xbf"


def _chunks(path: Path, size: int, max_bytes: int) -> Iterator[list[bytes]]:
    """Batches of at most ``size`` lines and about ``max_bytes`` bytes (at least one line);
    gzip-compressed files are read through, without a leading byte order mark."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    with raw:
        fh = _json_lines(path, raw)
        first = True
        try:
            while lines := fh.readlines(max_bytes):
                if first and lines[0].startswith(_BOM):
                    lines[0] = lines[0][len(_BOM):]
                first = False
                for start in range(0, len(lines), size):
                    yield lines[start:start + size]
        except (OSError, EOFError, zlib.error) as exc:      # a corrupt or truncated gzip stream
            raise InputError(f"{path}: cannot read it ({exc})") from None


def _json_lines(path: Path, raw: BinaryIO) -> BinaryIO:
    """``raw`` as a stream of JSON lines: itself, or what it decompresses to (gzip); an
    ``InputError`` naming what the file is when it cannot hold JSON lines."""
    head = raw.peek(8)[:8] if hasattr(raw, "peek") else b""
    if head.startswith(_GZIP):
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    for magic, what in _NOT_JSON_LINES.items():
        if head.startswith(magic):
            raise InputError(f"{path}: is {what}; replay reads JSON lines, one event per line (plain "
                             f"or gzip-compressed)")
    if path.suffix.lower() in (".csv", ".tsv") and not head.lstrip(_BOM).lstrip().startswith(b"{"):
        raise InputError(f"{path}: looks like a CSV table; replay reads JSON lines, one event per line "
                         f"(CSV is for `driftline reference build`)")
    return raw


def load_monitors(config: Config, only: str | None = None, labels: bool = False,
                  label_topics: bool = False) -> list[MonitorRuntime]:
    """The runtimes of the config's monitors (or only ``only``); ``labels``: those with a
    ``performance`` section join labels (the others do not); ``label_topics`` (run): those
    with a ``performance`` section and a labels topic do."""
    monitors = []
    for m in config.monitors:
        if only is not None and m.name != only:
            continue
        if m.reference_path is None:
            raise InputError(f"monitor {m.name!r} has no reference.path; build one with `driftline reference build`")
        monitors.append(MonitorRuntime(m, read_reference(m.reference_path), config.limits,
                                       source=str(m.reference_path),
                                       labels=m.performance is not None and (
                                           labels or (label_topics and m.labels_topic is not None))))
    if only is not None and not monitors:
        raise UnknownMonitor(only, config)
    return monitors


def _check_some_join(monitors: list[MonitorRuntime], labels: Path) -> None:
    if any(m.labels is not None for m in monitors):
        return
    which = (f"monitor {monitors[0].cfg.name!r} does not judge" if len(monitors) == 1
             else "no monitor judges")
    raise InputError(f"--labels {labels}: {which} performance on labels; add a `performance:` "
                     f"section (`performance: {{}}` for the defaults) to a monitor with a prediction")


def replay(config: Config, events: Path, sink: OutputSink, only: str | None = None,
           labels: Path | None = None) -> PipelineStats:
    """Replay ``events`` (JSON lines) through every monitor (or only ``only``), joining the
    label events of ``labels`` (JSON lines) when given.

    Dead letters carry the path of their file as their topic and the 0-based line number (in
    that file) as their offset, so a label's dead letter is told from a prediction's.
    """
    monitors = load_monitors(config, only, labels is not None)
    if labels is not None:
        _check_some_join(monitors, labels)
    pipeline = InProcessPipeline(monitors, sink, skip_blank=True)
    # Batches create many short-lived containers without cycles; the cyclic GC would rescan
    # them for nothing, so it is paused while replaying.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if labels is not None:
            _read(labels, config, pipeline.feed_labels)
        _read(events, config, pipeline.feed)
        pipeline.close()
    finally:
        if gc_was_enabled:
            gc.enable()
    stats = pipeline.stats
    if stats.events == 0:
        stats.warnings.append(f"{events} holds no events (only blank lines, or nothing): no window was judged")
    if stats.events and stats.invalid == stats.events and stats.first_dead is not None:
        first = stats.first_dead
        line = "" if first.record.offset is None else f" (line {first.record.offset + 1})"
        stats.warnings.append(f"every event ({stats.events}) went to the dead letters (dlq.jsonl), the "
                              f"first{line} as {first.reason}: {first.detail}")
    stats.warnings += filter(None, (m.pooling_warning() for m in monitors))
    for name, judged in stats.judged.items():
        if stats.empty.get(name) == judged:
            stats.warnings.append(f"monitor {name!r}: no event of {events} had a value (not null) for any of its "
                                  f"features or its prediction: check the fields and feature paths of the config "
                                  f"(is {events} the labels file?)")
    if labels is not None:
        if stats.label_events == 0:
            stats.warnings.append(f"--labels {labels} holds no label events: no performance was measured")
        stats.warnings += label_warnings(monitors, stats)
    return stats


def label_warnings(monitors: list[MonitorRuntime], stats: PipelineStats) -> list[str]:
    """What a replay with labels did not do that the user likely expected, one line each."""
    out = []
    for m in monitors:
        if m.labels is None or m.performance is None:
            continue
        name, c = m.cfg.name, m.labels.counts
        if c.read == 0 and c.invalid:
            out.append(f"monitor {name!r}: every label event ({c.invalid}) went to the dead letters "
                       f"(dlq.jsonl, stage decode_labels): no performance was measured")
        elif c.read and not stats.judged.get(name):
            out.append(f"monitor {name!r} closed no window: its labels ({c.unmatched} unmatched, "
                       f"{sum(c.dropped.values())} dropped) are in no report, only in this summary")
        elif c.read and not c.pairs:
            out.append(f"monitor {name!r}: no label joined a prediction ({c.unmatched} without one, "
                       f"{sum(c.dropped.values())} dropped): check that the labels' event ids are the "
                       f"predictions' (fields.event_id)")
        p = m.cfg.performance
        if m.performance.baseline is None and p is not None and not (p.min or p.max):
            out.append(f"monitor {name!r}: its reference has no performance baseline and performance has no "
                       f"min / max: performance is reported but never alerts (rebuild the reference from "
                       f"labelled rows, or set performance.min / performance.max)")
    return out


def _read(path: Path, config: Config, feed: Callable[..., None]) -> None:
    line = 0
    for chunk in _chunks(path, config.limits.batch_size, config.limits.batch_bytes):
        feed(chunk, topic=str(path), offsets=range(line, line + len(chunk)))
        line += len(chunk)
