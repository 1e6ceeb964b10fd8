"""Worker batch grouping (streams/messages.py ``by_partition``): each (topic, partition) keeps its
messages in order, partitions come in order of first appearance, nothing is lost or doubled."""

from __future__ import annotations

from confluent_kafka import Message
from driftline.streams.messages import by_partition
from hypothesis import given
from hypothesis import strategies as st


def msg(topic: str, partition: int, offset: int) -> Message:
    return Message(topic=topic, partition=partition, value=b"{}", offset=offset)


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 3)), max_size=60))
def test_groups_keep_order_and_every_message(keys: list[tuple[str, int]]) -> None:
    msgs = [msg(t, p, i) for i, (t, p) in enumerate(keys)]
    groups = by_partition(msgs)
    assert [k for k, _ in groups] == list(dict.fromkeys(keys))
    for (topic, partition), run in groups:
        assert all(m.topic() == topic and m.partition() == partition for m in run)
        assert [m.offset() for m in run] == [i for i, k in enumerate(keys) if k == (topic, partition)]
    assert sorted(m.offset() for _, run in groups for m in run) == list(range(len(keys)))


def test_a_batch_of_only_errors_leaves_nothing_to_group() -> None:
    assert by_partition([]) == []
