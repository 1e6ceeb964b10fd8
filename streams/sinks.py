"""Where outputs go. Replay writes JSON Lines files; the Kafka runtime has its own sink."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, Protocol

import orjson
from driftline.schemas.dlq import dlq_record

from .exceptions import InputError
from .paths import cannot_make_directory
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


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(-1, 2)
        return fh.read(1) == b"\n"


class JsonlSink:
    """``DIR/reports.jsonl``, ``alerts.jsonl``, ``retrain.jsonl``, ``dlq.jsonl`` (DESIGN 3.3).

    ``atomic`` (replay): the files are written as ``.NAME.jsonl.tmp`` and renamed over
    ``NAME.jsonl`` by ``close``, so a run that fails (``abort``) leaves the previous results
    as they were. Otherwise (a live Faust stream) outputs are appended to the files and each
    call's lines are flushed before it returns, so a restarted app adds to what an earlier one
    wrote, and a crash loses no output already handed to the sink.
    """

    def __init__(self, out_dir: Path, atomic: bool = False) -> None:
        self.dir = out_dir
        self._atomic = atomic
        self._files: dict[str, IO[bytes]] = {}
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            for name in ("reports", "alerts", "retrain", "dlq"):
                self._files[name] = fh = self._path(name, atomic).open("wb" if atomic else "ab")
                if not atomic and fh.tell() and not _ends_with_newline(self._path(name, False)):
                    fh.write(b"\n")     # a line a crash cut short stays apart from the next one
        except OSError as exc:
            self.abort()
            raise InputError(f"{out_dir}: cannot write the outputs there ({cannot_make_directory(out_dir, exc)})") from None
        self.counts = dict.fromkeys(self._files, 0)

    def _path(self, name: str, temporary: bool) -> Path:
        return self.dir / (f".{name}.jsonl.tmp" if temporary else f"{name}.jsonl")

    @staticmethod
    def paths(out_dir: Path) -> list[Path]:
        """The output files a sink on ``out_dir`` writes."""
        return [out_dir / f"{name}.jsonl" for name in ("reports", "alerts", "retrain", "dlq")]

    def _write(self, name: str, items: Iterable[dict[str, Any]]) -> None:
        fh = self._files[name]
        for item in items:
            fh.write(orjson.dumps(item) + b"\n")
            self.counts[name] += 1
        if not self._atomic:
            fh.flush()

    def reports(self, items: Iterable[dict[str, Any]]) -> None:
        self._write("reports", items)

    def alerts(self, items: Iterable[dict[str, Any]]) -> None:
        self._write("alerts", items)

    def retrain(self, items: Iterable[dict[str, Any]]) -> None:
        self._write("retrain", items)

    def dead(self, monitor: str, letters: Iterable[DeadLetter]) -> None:
        self._write("dlq", (dead_letter_json(monitor, d) for d in letters))

    def close(self) -> None:
        try:
            for fh in self._files.values():
                fh.close()          # flushes: a full disk (or file size limit) fails here
        except OSError:
            self.abort()            # closes the rest and drops the temporary files
            raise
        if self._atomic:
            try:
                for name in self._files:
                    self._path(name, True).replace(self._path(name, False))
            except OSError as exc:
                self.abort()
                raise InputError(f"{self.dir}: cannot write the outputs there ({exc.strerror or exc})") from None

    def abort(self) -> None:
        """Close and, when atomic, drop what this run wrote (the previous outputs stay)."""
        for fh in self._files.values():
            with contextlib.suppress(OSError):   # its flush failing too: the data is dropped anyway
                fh.close()
        if self._atomic:
            for name in self._files:
                self._path(name, True).unlink(missing_ok=True)
