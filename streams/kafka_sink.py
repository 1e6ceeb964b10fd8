"""Produces driftline's outputs to Kafka: reports, alerts, retrain requests (JSON, key =
monitor name) and dead letters (the original bytes, reason in headers, DESIGN 3.5)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from confluent_kafka import KafkaException, Producer
from driftline.schemas.config import OutputsConfig
from driftline.schemas.dlq import dlq_headers

from .records import DeadLetter


class DeliveryFailed(RuntimeError):
    pass


class KafkaSink:
    def __init__(self, producer: Producer, outputs: OutputsConfig) -> None:
        self.producer = producer
        self.outputs = outputs
        self.failures: list[str] = []

    def _on_delivery(self, err, msg) -> None:
        if err is not None:
            self.failures.append(f"{msg.topic()}: {err.str()}")

    def produce(self, topic: str, key: str, value: bytes, headers: list | None = None) -> None:
        while True:
            try:
                self.producer.produce(topic, value, key.encode(), headers=headers, on_delivery=self._on_delivery)
                return
            except BufferError:   # local queue full: let deliveries drain, then retry
                self.producer.poll(0.1)
            except KafkaException as exc:
                raise DeliveryFailed(f"cannot produce to {topic!r}: {exc}") from None

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
            self.produce(self.outputs.dlq, monitor, r.value, headers)

    def flush(self, timeout: float = 30.0) -> None:
        left = self.producer.flush(timeout)
        if left:
            raise DeliveryFailed(f"{left} messages not delivered within {timeout:.0f}s; is the broker up?")
        if self.failures:
            failures, self.failures = self.failures, []
            raise DeliveryFailed(f"{len(failures)} messages failed: {failures[0]}")

    def close(self) -> None:
        self.flush()
