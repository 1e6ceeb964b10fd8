"""Topics a worker needs, checked and created at start-up: the part of the Kafka worker
(streams/worker.py) that talks to the cluster through an AdminClient (source topics present,
labels co-partitioned with their predictions, outputs and internal topics created when
missing, each source topic's partition count)."""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from .exceptions import BrokersUnreachable, KafkaSetupError
from .kafka_config import MAX_MESSAGE_BYTES, admin_config
from .kafka_sink import KafkaSink
from .logs import fields
from .monitor import MonitorRuntime

log = logging.getLogger("driftline.worker")


def topic_limit(admin: AdminClient, topic: str) -> int:
    """The topic's ``max.message.bytes``; Kafka's default (1 MB) when it cannot be read."""
    resource = ConfigResource(ResourceType.TOPIC, topic)
    try:
        entries = admin.describe_configs([resource])[resource].result(timeout=15)
        return int(entries["max.message.bytes"].value)
    except Exception:   # no DescribeConfigs permission, say: assume the broker's default
        return 1_048_588


class TopicSetup:
    """Mixed into ``Worker``: ``ensure_topics`` at start-up, partition counts on assignment."""

    config: Any
    settings: dict[str, Any]
    producer: Producer
    sink: KafkaSink
    max_message_bytes: int
    by_topic: dict[str, list[MonitorRuntime]]
    label_topics: dict[str, str]
    partials_topic: str
    changelog_topic: str
    partition_counts: dict[str, int]
    stopping: bool
    _admin: AdminClient | None

    def ensure_topics(self) -> None:
        admin = self._admin = AdminClient(admin_config(self.settings))
        try:
            meta = admin.list_topics(timeout=15)
        except KafkaException as exc:
            servers = self.settings.get("bootstrap.servers", "(bootstrap.servers not set)")
            raise BrokersUnreachable(f"kafka: cannot reach the brokers at {servers} ({exc.args[0].str()}); "
                                     f"check kafka.bootstrap.servers and the security settings, or wait "
                                     f"for the brokers to be back (the worker exits 1: restart it)") from None
        missing_sources = [t for t in [*self.by_topic, *self.label_topics] if t not in meta.topics]
        if missing_sources:
            raise KafkaSetupError(f"source topic(s) {', '.join(missing_sources)} do not exist; "
                                  f"create them or fix monitors[].source in the config")
        for labels, predictions in self.label_topics.items():
            n_labels, n_predictions = len(meta.topics[labels].partitions), len(meta.topics[predictions].partitions)
            if n_labels != n_predictions:
                raise KafkaSetupError(
                    f"labels topic {labels!r} has {n_labels} partition(s) and predictions topic {predictions!r} "
                    f"{n_predictions}: a label joins its prediction in the partition of the same number, so "
                    f"both topics need as many partitions (and the same key, the event id)")
        o = self.config.outputs
        size = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}   # checkpoints, partials, dead letters
        wanted = {t: NewTopic(t, 1, config=size) for t in (o.reports, o.alerts, o.retrain, o.dlq, self.partials_topic)}
        wanted[self.changelog_topic] = NewTopic(self.changelog_topic, 1, config={
            "cleanup.policy": "compact", "min.compaction.lag.ms": "60000", **size})
        create = [t for name, t in wanted.items() if name not in meta.topics]
        if create:
            for name, fut in admin.create_topics(create, operation_timeout=15).items():
                try:
                    fut.result()
                except Exception as exc:
                    if "TOPIC_ALREADY_EXISTS" not in str(exc):
                        raise KafkaSetupError(f"cannot create topic {name!r}: {exc}") from None
                log.info("created topic", extra=fields(topic=name))
            meta = self._wait_for_leaders(admin, [t.topic for t in create])
        self._refresh_partition_counts(meta)
        self.sink = KafkaSink(self.producer, o, min(self.max_message_bytes, topic_limit(admin, o.dlq)))
        self.sink.stopping = lambda: self.stopping

    def _wait_for_leaders(self, admin: AdminClient, topics: list[str], timeout: float = 30.0):
        """New topics serve reads only once every partition has a leader (the changelog is read
        in the first rebalance right after): wait for that, bounded."""
        deadline = time.monotonic() + timeout
        while True:
            meta = admin.list_topics(timeout=10)
            ready = all(t in meta.topics and meta.topics[t].partitions
                        and all(p.leader >= 0 for p in meta.topics[t].partitions.values()) for t in topics)
            if ready or time.monotonic() > deadline:
                return meta
            time.sleep(0.1)

    def _refresh_partition_counts(self, meta=None) -> None:
        # Not the consumer's list_topics: this runs inside its rebalance callback, and a nested
        # call on the consumer that blocks (confluent-kafka's CallState_begin / end) leaves it
        # with no call state when it returns, so its next callback (a log line under
        # kafka.debug, or by chance) aborts the process: `CallState_get: Assertion 'cs != NULL'`.
        if meta is None:
            meta = self._admin.list_topics(timeout=10)
            self._admin.poll(0)    # its log lines (queued for the client's own poll)
        for topic in [*self.by_topic, *self.label_topics]:
            if topic in meta.topics:
                self.partition_counts[topic] = len(meta.topics[topic].partitions)
