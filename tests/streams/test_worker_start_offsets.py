"""Where partitions without a snapshot start (streams/restore.py ``Restore._start_offsets``, mixed into ``Worker``),
against a fake consumer: the committed offset, else the reset policy; and a partition numbered
past the partitions its topic had when the group's snapshots were taken (one added to the
topic since) from its beginning, whatever the policy."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from confluent_kafka import TopicPartition
from driftline.streams.restore import known_partitions
from driftline.streams.worker import Worker

LOW, HIGH = 100, 5000


class FakeConsumer:
    def __init__(self, committed: dict[tuple[str, int], int]) -> None:
        self.offsets = dict(committed)
        self.high = HIGH

    def committed(self, partitions, timeout=None):
        return [TopicPartition(tp.topic, tp.partition, self.offsets.get((tp.topic, tp.partition), -1001))
                for tp in partitions]

    def get_watermark_offsets(self, tp, timeout=None):
        return LOW, self.high

    def commit(self, offsets, asynchronous=True):
        assert not asynchronous, "a start must be committed before the assignment goes on"
        self.offsets.update({(tp.topic, tp.partition): tp.offset for tp in offsets})


def _worker(reset: str) -> Worker:
    w = Worker.__new__(Worker)
    w.settings = {"bootstrap.servers": "x", "auto.offset.reset": reset}
    w.exactly_once, w.broken, w.index = False, False, 0
    w.partials_topic, w.label_topics = "driftline.g.partials", {"labels": "t"}
    w.tier1 = {("t", p): SimpleNamespace(next_offset=None, label_offsets={}) for p in range(4)}
    w.tier2 = {}
    return w


def _start(w: Worker, consumer: FakeConsumer, partitions: list[tuple[str, int]], known: dict[str, int]) -> list[int]:
    fresh = [TopicPartition(t, p, -1001) for t, p in partitions]
    w._start_offsets(consumer, fresh, known)
    for tp in fresh:
        state = w.tier1[("t", tp.partition)]
        assert tp.offset == (state.label_offsets[tp.topic] if tp.topic == "labels" else state.next_offset)
    return [tp.offset for tp in fresh]


@pytest.mark.parametrize(("reset", "start"), [("latest", HIGH), ("earliest", LOW)])
def test_a_partition_never_read_starts_by_the_reset_policy(reset, start):
    # a new group (no snapshot says anything), or partitions the topic had (a worker that died
    # before its first checkpoint left no offset for them)
    for known in ({}, {"t": 2}, {"t": 4}):
        assert _start(_worker(reset), FakeConsumer({}), [("t", 0), ("t", 1)], known) == [start, start]


def test_the_start_is_committed_at_once_so_the_next_owner_resumes_there():
    """A worker dying before its first checkpoint: the next owner finds the start committed.
    Without it, `latest` would be looked up again (skipping what was written meanwhile), and
    an added partition would start there too once other snapshots record the new count."""
    consumer = FakeConsumer({("t", 0): 700})
    _start(_worker("latest"), consumer, [("t", 0), ("t", 1), ("t", 2), ("labels", 2)], {"t": 2})
    assert consumer.offsets == {("t", 0): 700, ("t", 1): HIGH, ("t", 2): LOW, ("labels", 2): LOW}
    consumer.high = HIGH + 300                 # events written while no worker ran
    assert _start(_worker("latest"), consumer, [("t", 1), ("t", 2), ("labels", 2)], {"t": 4}) == [HIGH, LOW, LOW]


def test_a_committed_partition_resumes_there():
    assert _start(_worker("latest"), FakeConsumer({("t", 0): 700}), [("t", 0)], {"t": 2}) == [700]


def test_a_partition_added_to_the_topic_starts_at_its_beginning_and_so_do_its_labels():
    got = _start(_worker("latest"), FakeConsumer({}), [("t", 1), ("t", 2), ("t", 3), ("labels", 3)], {"t": 2})
    assert got == [HIGH, LOW, LOW, LOW]


def test_the_partition_count_comes_from_the_tier1_snapshots():
    snaps = {"tier1|t|0": {"offset": 5, "partitions": 2}, "tier1|t|1": {"offset": 5, "partitions": 4},
             "tier1|u|0": {"offset": 1}, "tier2|0": {"offset": 9, "partitions": 99}}
    assert known_partitions(snaps) == {"t": 4}


def test_a_saved_offset_the_partition_no_longer_holds_moves_to_its_first(caplog):
    w = _worker("latest")
    w.tier2 = {0: SimpleNamespace(next_offset=None)}
    parts = [TopicPartition("t", 0, 40), TopicPartition("t", 1, 700), TopicPartition("labels", 1, 90),
             TopicPartition("driftline.g.partials", 0, 9000), TopicPartition("t", 2, -1001)]
    with caplog.at_level("WARNING", logger="driftline"):
        w._within_retention(FakeConsumer({}), parts)
    assert [tp.offset for tp in parts] == [LOW, 700, LOW, LOW, -1001]
    assert (w.tier1[("t", 0)].next_offset, w.tier1[("t", 1)].label_offsets, w.tier2[0].next_offset) == (
        LOW, {"labels": LOW}, LOW)
    assert w.tier1[("t", 1)].next_offset is None      # in range: left as it was restored
    lost = [r.fields["lost"] for r in caplog.records if r.getMessage().startswith("the saved offset")]
    assert lost == [LOW - 40, LOW - 90, 0]
