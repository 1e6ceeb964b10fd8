"""Produces driftline's outputs to Kafka: reports, alerts, retrain requests (JSON, key =
monitor name) and dead letters (the original bytes, reason in headers, DESIGN 3.5)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException, Producer
from driftline.schemas.config import OutputsConfig
from driftline.schemas.dlq import dlq_headers

from .exceptions import DeliveryFailed
from .logs import fields
from .records import DeadLetter

__all__ = ["DeliveryFailed", "KafkaSink"]


log = logging.getLogger("driftline.kafka_sink")


# Room left in a message for its key, headers and framing when a dead letter's value is cut.
_FRAMING_BYTES = 64 * 1024


class KafkaSink:
    """``max_message_bytes``: the smaller of the producer's ``message.max.bytes`` and the DLQ
    topic's ``max.message.bytes``; a dead letter whose original bytes would not fit keeps their
    first part, and header ``driftline.value.truncated`` gives the original size (the event
    itself stays at its offset in the source topic, named in the other headers)."""

    def __init__(self, producer: Producer, outputs: OutputsConfig, max_message_bytes: int = 1_000_000) -> None:
        self.producer = producer
        self.outputs = outputs
        self.max_value_bytes = max(max_message_bytes - _FRAMING_BYTES, 1024)
        self.failures: list[str] = []
        self.stopping: Callable[[], bool] = lambda: False   # the worker's: set when it is asked to stop

    def _on_delivery(self, err, msg) -> None:
        if err is not None:
            self.failures.append(f"{msg.topic()}: {err.str()}{_size_hint(err)}")

    def produce(self, topic: str, key: str, value: bytes, headers: list | None = None) -> None:
        while True:
            try:
                self.producer.produce(topic, value, key.encode(), headers=headers, on_delivery=self._on_delivery)
                return
            except BufferError:   # local queue full: let deliveries drain, then retry
                self.producer.poll(0.1)
            except KafkaException as exc:
                raise DeliveryFailed(f"cannot produce to {topic!r}: {exc}{_size_hint(exc.args[0])}") from None

    def _json(self, topic: str, items: Iterable[dict[str, Any]]) -> None:
        for item in items:
            self.produce(topic, item["monitor"], orjson.dumps(item))

    def reports(self, items: Iterable[dict[str, Any]]) -> None:
        self._json(self.outputs.reports, items)

    def alerts(self, items: Iterable[dict[str, Any]]) -> None:
        self._json(self.outputs.alerts, items)

    def retrain(self, items: Iterable[dict[str, Any]]) -> None:
        self._json(self.outputs.retrain, items)

    def dead(self, monitor: str, letters: Iterable[DeadLetter]) -> None:
        for d in letters:
            r = d.record
            headers = dlq_headers(d.reason, d.stage, r.topic, r.partition, r.offset)
            headers.append(("driftline.error.detail", d.detail.encode()))
            value = r.value
            if len(value) > self.max_value_bytes:
                headers.append(("driftline.value.truncated", str(len(value)).encode()))
                value = value[:self.max_value_bytes]
            self.produce(self.outputs.dlq, monitor, value, headers)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every message is delivered. While the broker is away librdkafka keeps
        retrying (until the producer's ``message.timeout.ms``, 5 minutes by default): this waits
        with it, saying so every ``timeout`` seconds; a message it gives up on raises. Once
        ``stopping()`` says so (SIGTERM), it waits ``timeout`` seconds in all, then raises."""
        t0 = warned = time.monotonic()
        while (left := self.producer.flush(1.0)) and not self.failures:
            now = time.monotonic()
            if self.stopping() and now - t0 >= timeout:
                raise DeliveryFailed(f"stopping with {left} messages not delivered after {now - t0:.0f}s (is the "
                                     f"broker up?); nothing was committed since the last checkpoint, so the "
                                     f"next start resumes from it")
            if now - warned >= timeout:
                warned = now
                log.warning("messages not delivered yet; is the broker up? librdkafka retries them until the "
                            "producer's message.timeout.ms", extra=fields(waiting=left, seconds=round(now - t0)))
        if left:
            raise DeliveryFailed(f"{left} messages not delivered after {time.monotonic() - t0:.0f}s; is the "
                                 f"broker up?")
        if self.failures:
            failures, self.failures = self.failures, []
            raise DeliveryFailed(f"{len(failures)} messages failed: {failures[0]}")

    def close(self) -> None:
        self.flush()


def _size_hint(err) -> str:
    """What to do about a message too large for a topic (checkpoints and partials grow with the
    features, open windows and model versions of a monitor)."""
    if getattr(err, "code", lambda: None)() != KafkaError.MSG_SIZE_TOO_LARGE:
        return ""
    return ("; raise the topic's max.message.bytes (driftline creates its topics with 64 MiB) and "
            "kafka.message.max.bytes, or monitor fewer features / shorter windows per monitor")
