"""Structured logs: one JSON object per line on stderr."""

from __future__ import annotations

import logging
import re
import sys
import time

import orjson


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


# The environment variable that sets the level of `driftline run`'s logs (default info).
LEVEL_ENV = "DRIFTLINE_LOG_LEVEL"
_LEVELS = ("debug", "info", "warning", "error")


def level_from_env(value: str | None) -> str:
    """The log level ``DRIFTLINE_LOG_LEVEL`` names, in either case (``info`` when unset);
    ``ValueError`` with a one-line message for anything else."""
    level = (value or "info").strip().lower()
    if level not in _LEVELS:
        raise ValueError(f"{LEVEL_ENV}={value!r} is not a log level: use one of {', '.join(_LEVELS)}")
    return level.upper()


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("driftline")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def fatal(message: str) -> None:
    """The line a command ends on: a JSON log line when its logs are JSON (``run``), so log
    pipelines parse it with the rest; plain text on stderr otherwise."""
    root = logging.getLogger("driftline")
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.error(message.removeprefix("driftline: error: "))
    else:
        print(message, file=sys.stderr)


def fields(**kw: object) -> dict[str, dict[str, object]]:
    """``log.info("msg", extra=fields(topic=t))``."""
    return {"fields": kw}


# A librdkafka message repeated (a broker refusing connections: ~20 a second) is logged at
# most once in this many seconds; the next one says how many were left out.
KAFKA_REPEAT_SECONDS = 60.0


class _LibrdkafkaRecords(logging.Filter):
    """librdkafka's logs, as confluent-kafka hands them over (``"%s [%s] %s"``: facility,
    client, text), made structured, with repeats of a message (its numbers aside) held back."""

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not (isinstance(record.args, tuple) and len(record.args) == 3):
            return True
        facility, client, text = (str(a) for a in record.args)
        text = _THREAD.sub("", text)
        key = (facility, _DIGITS.sub("#", text))
        now = record.created
        last = self._last.get(key)
        if last is not None and now - last < KAFKA_REPEAT_SECONDS:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        record.msg, record.args = text, ()
        record.fields = {"facility": facility, "client": client,
                         **({"repeats_left_out": held} if held else {})}
        return True


_THREAD = re.compile(r"^\[thrd:[^\]]*\]: ")
_DIGITS = re.compile(r"\d+")


def kafka_logger() -> logging.Logger:
    """The logger librdkafka's logs go to (the ``logger`` setting of every client driftline
    makes): JSON lines like driftline's own, repeats held back (see ``KAFKA_REPEAT_SECONDS``)."""
    log = logging.getLogger("driftline.kafka")
    if not any(isinstance(f, _LibrdkafkaRecords) for f in log.filters):
        log.addFilter(_LibrdkafkaRecords())
    return log
