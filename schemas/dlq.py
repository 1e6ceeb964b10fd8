"""Dead-letter contract (DESIGN 3.5): header names on Kafka, the JSON line in replay.

>>> dlq_record(b'{"x": \\xff', "invalid_json", "decode", "predictions", 0, 42)["raw"]
'{"x": \\ufffd'
>>> dlq_headers("invalid_json", "decode", None, None, None)[0]
('driftline.error.reason', b'invalid_json')
"""

from __future__ import annotations

from typing import Any

HEADER_REASON = "driftline.error.reason"
HEADER_STAGE = "driftline.error.stage"
HEADER_TOPIC = "driftline.error.topic"
HEADER_PARTITION = "driftline.error.partition"
HEADER_OFFSET = "driftline.error.offset"
# record field -> Kafka header name (same as "x-kafka-headers" in dlq_record.schema.json)
DLQ_HEADERS: dict[str, str] = {
    "reason": HEADER_REASON,
    "stage": HEADER_STAGE,
    "topic": HEADER_TOPIC,
    "partition": HEADER_PARTITION,
    "offset": HEADER_OFFSET,
}


def dlq_record(
    raw: bytes | str,
    reason: str,
    stage: str,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> dict[str, Any]:
    """Replay's ``dlq.jsonl`` line for one unusable event."""
    text = raw if isinstance(raw, str) else raw.decode("utf-8", errors="replace")
    return {
        "type": "dead_letter",
        "reason": reason,
        "stage": stage,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "raw": text,
    }


def dlq_headers(
    reason: str,
    stage: str,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> list[tuple[str, bytes]]:
    """Kafka headers for the unchanged original message; unknown values are left out."""
    values = {
        "reason": reason,
        "stage": stage,
        "topic": topic,
        "partition": partition,
        "offset": offset,
    }
    return [(DLQ_HEADERS[k], str(v).encode()) for k, v in values.items() if v is not None]
