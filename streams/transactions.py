"""Exactly-once mode's Kafka transactions: the part of the Kafka worker (streams/worker.py)
that opens, commits and aborts them. Everything a worker produces between two checkpoints is
one transaction, committed together with the consumed offsets."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from .exceptions import KafkaSetupError, TransactionFailed
from .kafka_sink import KafkaSink
from .logs import fields
from .metrics import RuntimeStats
from .monitor import MonitorRuntime

log = logging.getLogger("driftline.worker")

# Seconds a transactional call may block before the worker gives up on the transaction.
TRANSACTION_TIMEOUT = 30.0
# Commit errors that mean this worker is no longer the group member it was; checkpoint
# snapshots hold the offsets, so losing such a commit loses nothing.
MEMBERSHIP_LOST = frozenset({KafkaError.UNKNOWN_MEMBER_ID, KafkaError.ILLEGAL_GENERATION,
                             KafkaError.REBALANCE_IN_PROGRESS})


def _retried(call: Any, attempts: int = 3) -> Any:
    """``call()``, called again while it raises an error librdkafka calls retriable."""
    for attempt in range(attempts):
        try:
            return call()
        except KafkaException as exc:
            if attempt == attempts - 1 or not exc.args[0].retriable():
                raise
    raise AssertionError("unreachable")


class Transactions:
    """Mixed into ``Worker`` (processing_guarantee: exactly_once)."""

    index: int
    producer: Producer
    consumer: Consumer
    sink: KafkaSink
    monitors: dict[str, MonitorRuntime]
    stats: RuntimeStats
    _lost: bool

    def _start_transactions(self) -> None:
        """Register the transactional id (aborting what a predecessor with this id left open)
        and open the first transaction."""
        try:
            self.producer.init_transactions(TRANSACTION_TIMEOUT)
        except KafkaException as exc:
            raise KafkaSetupError(
                f"exactly_once: cannot start Kafka transactions ({exc.args[0].str()}); the brokers must "
                f"allow transactions (transaction.state.log.* settings, and a WRITE ACL on the "
                f"transactional id where ACLs are on)") from None
        self._begin()

    def _begin(self) -> None:
        try:
            self.producer.begin_transaction()
        except KafkaException as exc:
            raise TransactionFailed(f"exactly_once: cannot open a transaction ({exc.args[0].str()}); "
                                    f"restart the worker") from None

    def _commit_transaction(self, offsets: list[TopicPartition]) -> None:
        """Commit the consumed offsets with everything produced since the last checkpoint, then
        open the next transaction. Each step is retried while librdkafka calls its error
        retriable (a retried commit resumes the same commit). Any other failure stops the
        worker: its in-memory state is ahead of what is committed, so it must restart from its
        snapshot (a transaction left undecided is settled when its id registers again)."""
        try:
            if offsets:
                _retried(lambda: self.producer.send_offsets_to_transaction(
                    offsets, self.consumer.consumer_group_metadata(), TRANSACTION_TIMEOUT))
            _retried(lambda: self.producer.commit_transaction(TRANSACTION_TIMEOUT))
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() in MEMBERSHIP_LOST and err.txn_requires_abort():
                # the group has moved on (we were frozen, or too slow): the offsets are not ours
                # to commit any more, nor the outputs that go with them
                self._drop_uncommitted(f"offsets refused ({err.name()})")
                return
            if err.txn_requires_abort():
                self._abort_quietly()
                outcome = "it was aborted and its outputs discarded"
            else:
                outcome = "it is settled when the worker's transactional id registers again"
            raise TransactionFailed(
                f"exactly_once: a checkpoint's transaction failed ({err.str()}); {outcome}. This worker "
                f"stops: restart it and it resumes from its last committed checkpoint") from None
        self._begin()

    def _drop_uncommitted(self, why: str) -> None:
        """Abort the open transaction (it holds outputs of every partition since the last
        checkpoint: committed later without their snapshots, the partitions' new owners would
        emit them again), drop all state, and process nothing until the next assignment
        restores every partition from its committed snapshot."""
        log.warning("partitions lost, aborting the open transaction; state is restored on the next "
                    "assignment", extra=fields(worker=self.index, cause=why))
        self._abort_quietly()
        self.sink.failures.clear()   # the purged messages of the aborted transaction
        self._forget(set(self.tier1) | {(self.partials_topic, p) for p in self.tier2})
        for m in self.monitors.values():   # alert state too: it may hold what was just aborted
            m.alerts.reset()
        self.stats.forget_judgements(self.monitors)   # (its exported firing alerts with it)
        self._lost = True
        self._begin()

    def _abort_quietly(self) -> None:
        # KafkaException: nothing open, or fenced (the broker aborts it at its timeout); a
        # timed-out abort is resumed by calling it again
        with contextlib.suppress(KafkaException):
            _retried(lambda: self.producer.abort_transaction(TRANSACTION_TIMEOUT / 3))
