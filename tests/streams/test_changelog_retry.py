"""changelog.watermarks retries while a just-created topic elects its leader, and only then.

The real broker shows the election only now and then (tests/integration hit it under load);
here a stand-in consumer replays the exact errors librdkafka raises, deterministically.
"""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from driftline.streams import changelog
from driftline.streams.exceptions import KafkaSetupError


class ErrorsThenOffsets:
    def __init__(self, *codes: int) -> None:
        self.codes = list(codes)
        self.calls = 0

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        self.calls += 1
        if self.codes:
            raise KafkaException(KafkaError(self.codes.pop(0)))
        return 0, 7


def test_not_leader_and_leader_not_available_are_waited_out() -> None:
    c = ErrorsThenOffsets(KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE)
    assert changelog.watermarks(c, TopicPartition("t", 0)) == (0, 7)
    assert c.calls == 3


def test_other_errors_fail_at_once_with_a_clear_message() -> None:
    c = ErrorsThenOffsets(KafkaError.TOPIC_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaSetupError, match=r"reading changelog 't': .*[Aa]uthoriz"):
        changelog.watermarks(c, TopicPartition("t", 0))
    assert c.calls == 1


def test_gives_up_after_its_attempts() -> None:
    c = ErrorsThenOffsets(*[KafkaError.NOT_LEADER_FOR_PARTITION] * 3)
    with pytest.raises(KafkaSetupError, match="Not leader"):
        changelog.watermarks(c, TopicPartition("t", 0), attempts=3)
    assert c.calls == 3
