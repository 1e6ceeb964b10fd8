"""Where outputs go. Replay writes JSON Lines files; the Kafka runtime has its own sink."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, Protocol

import orjson
from driftline.schemas.dlq import dlq_record

from .records import DeadLetter


class OutputSink(Protocol):
    def reports(self, items: Iterable[dict[str, Any]]) -> None: ...
    def alerts(self, items: Iterable[dict[str, Any]]) -> None: ...
    def retrain(self, items: Iterable[dict[str, Any]]) -> None: ...
    def dead(self, monitor: str, letters: Iterable[DeadLetter]) -> None: ...
    def close(self) -> None: ...


def dead_letter_json(monitor: str, d: DeadLetter) -> dict[str, Any]:
    """A replay DLQ line: the event as it stood on its line (without the line terminator)."""
    r = d.record
    value = r.value[:-2] if r.value.endswith(b"\r\n") else r.value[:-1] if r.value.endswith(b"\n") else r.value
    record = dlq_record(value, d.reason, d.stage, r.topic, r.partition, r.offset)
    record["detail"] = d.detail
    record["monitor"] = monitor
    return record


class JsonlSink:
    """``DIR/reports.jsonl``, ``alerts.jsonl``, ``retrain.jsonl``, ``dlq.jsonl`` (DESIGN 3.3)."""

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.dir = out_dir
        self._files: dict[str, IO[bytes]] = {
            name: (out_dir / f"{name}.jsonl").open("wb") for name in ("reports", "alerts", "retrain", "dlq")
        }
        self.counts = dict.fromkeys(self._files, 0)

    def _write(self, name: str, items: Iterable[dict[str, Any]]) -> None:
        fh = self._files[name]
        for item in items:
            fh.write(orjson.dumps(item) + b"\n")
            self.counts[name] += 1

    def reports(self, items: Iterable[dict[str, Any]]) -> None:
        self._write("reports", items)

    def alerts(self, items: Iterable[dict[str, Any]]) -> None:
        self._write("alerts", items)

    def retrain(self, items: Iterable[dict[str, Any]]) -> None:
        self._write("retrain", items)

    def dead(self, monitor: str, letters: Iterable[DeadLetter]) -> None:
        self._write("dlq", (dead_letter_json(monitor, d) for d in letters))

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
