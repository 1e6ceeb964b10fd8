"""Partitions added to a source topic while ``driftline run`` works (with the default
``auto.offset.reset: latest``): the worker sees them within the metadata refresh and reads each
from its beginning, so none of their events is skipped."""

from __future__ import annotations

import time

import numpy as np
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions

from driftline import synth

from .harness import (
    events_seen,
    produce,
    read_json,
    start_worker,
    stop,
    wait_ready,
    write_setup,
)

pytestmark = pytest.mark.kafka


def _committed_everywhere(bootstrap: str, group: str, topic: str, partitions: int) -> bool:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        return all(tp.offset >= 0 for tp in c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10))
    finally:
        c.close()


def test_partitions_added_while_running_are_read_from_their_beginning(kafka, topic_factory, tmp_path):
    topic = topic_factory("grow", partitions=2)
    group = f"grow-{topic[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group)
    cfg.write_text(cfg.read_text().replace("auto.offset.reset: earliest}", "topic.metadata.refresh.interval.ms: 2000}"))
    lines = synth.events(np.random.default_rng(6), 6000, rate=500.0)
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, log=log)
    try:
        url = wait_ready(log, proc)
        produce(kafka.bootstrap, topic, lines[:3000])
        deadline = time.monotonic() + 60
        while not (events_seen(url) == 3000 and _committed_everywhere(kafka.bootstrap, group, topic, 2)):
            assert proc.poll() is None and time.monotonic() < deadline, (
                f"the first half was not read and committed: {events_seen(url)} read")
            time.sleep(0.2)
        admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
        admin.create_partitions([NewPartitions(topic, 4)])[topic].result(timeout=30)
        while len(admin.list_topics(topic, timeout=10).topics[topic].partitions) < 4:   # (published)
            assert time.monotonic() < deadline, "the broker did not show the new partitions"
            time.sleep(0.1)
        # at once, before the worker can know of them: with `latest` these would be skipped
        produce(kafka.bootstrap, topic, lines[3000:], partition_of=lambda i, _line: i % 4)
        deadline = time.monotonic() + 90
        while events_seen(url) < len(lines):
            assert proc.poll() is None and time.monotonic() < deadline, (
                f"{events_seen(url)} of {len(lines)} events read: events of the new partitions were skipped")
            time.sleep(0.3)
    finally:
        stop(proc)
    assert "starts at its beginning" in log.read_text()
    assert read_json(kafka.bootstrap, f"{group}.dlq") == []
