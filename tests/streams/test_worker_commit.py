"""The worker's offset-commit report (streams/worker.py ``Worker._on_commit``): a refused commit
(asynchronous ones included, which raise nothing) is logged once with its reason; a commit
that went through is not. (librdkafka's per-partition errors cannot be built from Python.)"""

from __future__ import annotations

import logging
from types import SimpleNamespace

from confluent_kafka import KafkaError, TopicPartition
from driftline.streams.worker import Worker


def report(err: KafkaError | None, partitions: list[TopicPartition], caplog) -> list[logging.LogRecord]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="driftline"):
        Worker._on_commit(SimpleNamespace(index=3), err, partitions)
    return [r for r in caplog.records if r.name.startswith("driftline")]


def test_a_commit_that_went_through_logs_nothing(caplog) -> None:
    assert report(None, [TopicPartition("t", 0, 10), TopicPartition("t", 1, 4)], caplog) == []


def test_a_refused_commit_is_logged_with_its_reason(caplog) -> None:
    records = report(KafkaError(KafkaError._WAIT_COORD), [TopicPartition("t", 0, 10)], caplog)
    assert len(records) == 1
    assert records[0].getMessage() == "offset commit refused, state is in the changelog"
    got = records[0].fields
    assert got["worker"] == 3 and got["partitions"] == 1
    assert got["error"] == KafkaError(KafkaError._WAIT_COORD).str()
