"""librdkafka's logs through driftline's JSON logs (streams/logs.py)."""

from __future__ import annotations

import io
import logging

import orjson
from driftline.streams.logs import KAFKA_REPEAT_SECONDS, JsonFormatter, kafka_logger

FAIL = ("FAIL", "rdkafka#consumer-1", "[thrd:127.0.0.1:1/bootstrap]: 127.0.0.1:1/bootstrap: Connect to "
        "ipv4#127.0.0.1:1 failed: Connection refused (after {ms}ms in state CONNECT)")


def _record(at: float, ms: int, level: int = logging.ERROR, args: tuple | None = None) -> logging.LogRecord:
    record = logging.LogRecord("driftline.kafka", level, "x", 1, "%s [%s] %s",
                               args or (FAIL[0], FAIL[1], FAIL[2].format(ms=ms)), None)
    record.created = at
    return record


def test_librdkafka_records_become_json_and_repeats_are_held_back() -> None:
    log = kafka_logger()
    assert kafka_logger() is log and len(log.filters) == 1       # one filter, however often asked
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    log.addHandler(handler)
    try:
        t0 = 1_000_000.0
        for i in range(100):                 # 20 a second, their numbers varying: one message
            log.handle(_record(t0 + i / 20, ms=i % 7))
        log.handle(_record(t0 + 1, 0, logging.WARNING, ("GETPID", "rdkafka#producer-2", "Coordinator load")))
        log.handle(_record(t0 + KAFKA_REPEAT_SECONDS + 1, ms=3))
        log.handle(logging.LogRecord("driftline.kafka", logging.INFO, "x", 1, "plain %s", ("text",), None))
    finally:
        log.removeHandler(handler)
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [(x["level"], x["msg"][:30], x.get("facility"), x.get("repeats_left_out")) for x in lines] == [
        ("error", "127.0.0.1:1/bootstrap: Connect", "FAIL", None),
        ("warning", "Coordinator load", "GETPID", None),
        ("error", "127.0.0.1:1/bootstrap: Connect", "FAIL", 99),
        ("info", "plain text", None, None),
    ]
    assert lines[0]["client"] == "rdkafka#consumer-1" and lines[0]["logger"] == "driftline.kafka"


def test_the_log_level_is_read_in_either_case_and_anything_else_is_named() -> None:
    from driftline.streams.logs import level_from_env

    assert [level_from_env(v) for v in (None, "", "debug", "DEBUG", " Warning ")] == \
        ["INFO", "INFO", "DEBUG", "DEBUG", "WARNING"]
    for bad in ("verbose", "10", "trace"):
        try:
            level_from_env(bad)
        except ValueError as exc:
            assert str(exc) == f"DRIFTLINE_LOG_LEVEL={bad!r} is not a log level: use one of debug, info, warning, error"
        else:
            raise AssertionError(f"{bad!r} was taken")
