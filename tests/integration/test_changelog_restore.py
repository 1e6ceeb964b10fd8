"""Restoring checkpoints from the changelog on the real broker, in exactly-once mode: a
committed reader must not take a stale snapshot because a transaction is still open."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Producer
from driftline.streams import state_codec
from driftline.streams.changelog import read_all
from driftline.streams.kafka_config import reader_config

pytestmark = pytest.mark.kafka


def _transactional(bootstrap: str, tid: str) -> Producer:
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid})
    p.init_transactions(30)
    p.begin_transaction()
    return p


def test_committed_restore_waits_for_an_open_transaction(kafka, topic_factory):
    topic = topic_factory("changelog", partitions=1, config={"cleanup.policy": "compact"})
    first = _transactional(kafka.bootstrap, f"{topic}-a")
    first.produce(topic, state_codec.dumps({"v": 1}), b"tier1|t|0")
    first.commit_transaction(30)
    # a worker that wrote its snapshot and has not committed yet (or died there) ...
    open_one = _transactional(kafka.bootstrap, f"{topic}-b")
    open_one.produce(topic, state_codec.dumps({"v": 2}), b"tier1|t|1")
    assert open_one.flush(30) == 0
    # ... while another commits a newer snapshot of the first key after it
    later = _transactional(kafka.bootstrap, f"{topic}-c")
    later.produce(topic, state_codec.dumps({"v": 3}), b"tier1|t|0")
    later.commit_transaction(30)

    got: dict = {}
    reader = threading.Thread(target=lambda: got.update(
        read_all(reader_config({"bootstrap.servers": kafka.bootstrap}, read_committed=True), topic)))
    reader.start()
    time.sleep(3.0)
    # a committed reader ends at the open transaction: reading now would give {"v": 1}
    assert reader.is_alive(), f"the restore did not wait for the open transaction: {got}"
    open_one.commit_transaction(30)
    reader.join(timeout=60)
    assert not reader.is_alive()
    assert got == {"tier1|t|0": {"v": 3}, "tier1|t|1": {"v": 2}}


def test_restore_gives_up_on_a_transaction_left_open_with_a_clear_error(kafka, topic_factory):
    from driftline.streams.exceptions import KafkaSetupError

    topic = topic_factory("changelog", partitions=1, config={"cleanup.policy": "compact"})
    stuck = _transactional(kafka.bootstrap, f"{topic}-stuck")
    stuck.produce(topic, state_codec.dumps({"v": 1}), b"tier2|0")
    assert stuck.flush(30) == 0
    try:
        with pytest.raises(KafkaSetupError, match="a transaction has been open on it for over 2s"):
            read_all(reader_config({"bootstrap.servers": kafka.bootstrap}, read_committed=True), topic, settle=2.0)
    finally:
        stuck.abort_transaction(30)
