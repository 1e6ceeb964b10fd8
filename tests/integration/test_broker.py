"""The local Kafka broker works end to end with confluent-kafka clients."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

N_MESSAGES = 1000
N_PARTITIONS = 4
N_KEYS = 97


def java_murmur2(key: bytes) -> int:
    """org.apache.kafka.common.utils.Utils.murmur2 (signed 32-bit result)."""
    m, r = 0x5BD1E995, 24
    mask = 0xFFFFFFFF
    length = len(key)
    h = (0x9747B28C ^ length) & mask
    for i in range(length // 4):
        k = int.from_bytes(key[4 * i : 4 * i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    rest, tail = length % 4, length & ~3
    if rest == 3:
        h ^= key[tail + 2] << 16
    if rest >= 2:
        h ^= key[tail + 1] << 8
    if rest >= 1:
        h ^= key[tail]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def java_murmur2_partition(key: bytes, num_partitions: int) -> int:
    """Java clients' partition for a keyed record: toPositive(murmur2(key)) % n."""
    return (java_murmur2(key) & 0x7FFFFFFF) % num_partitions


@pytest.mark.parametrize(
    ("key", "expected"),
    [  # Kafka's UtilsTest.testMurmur2, checked against Utils.murmur2 from kafka-clients 4.1.2
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
        (b"entity-0", -1446874961),
    ],
)
def test_java_murmur2_reference_values(key, expected):
    assert java_murmur2(key) == expected


@pytest.mark.kafka
def test_produce_consume_1000_keyed_messages(kafka, topic_factory):
    topic = topic_factory("roundtrip", partitions=N_PARTITIONS)

    producer = Producer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "partitioner": "murmur2_random",  # same placement as Java clients
            "enable.idempotence": True,
            "linger.ms": 5,
        }
    )
    delivered: Counter[int] = Counter()
    errors: list[str] = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            delivered[msg.partition()] += 1

    for i in range(N_MESSAGES):
        producer.produce(
            topic,
            key=f"entity-{i % N_KEYS}".encode(),
            value=f'{{"seq": {i}}}'.encode(),
            on_delivery=on_delivery,
        )
        producer.poll(0)
    assert producer.flush(30) == 0, "messages still in flight after 30 s"
    assert errors == []
    assert sum(delivered.values()) == N_MESSAGES

    group = f"it-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    received: list[tuple[int, bytes, int]] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 60
        while len(received) < N_MESSAGES and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=1.0):
                if msg.error():
                    assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                    continue
                received.append((msg.partition(), msg.key(), int(msg.value()[8:-1])))
        consumer.commit(asynchronous=False)
        committed = consumer.committed(
            [TopicPartition(topic, p) for p in range(N_PARTITIONS)], timeout=10
        )
    finally:
        consumer.close()

    assert len(received) == N_MESSAGES
    assert sorted(seq for _, _, seq in received) == list(range(N_MESSAGES))  # no loss, no dupes

    per_partition = Counter(p for p, _, _ in received)
    assert per_partition == delivered
    assert set(per_partition) == set(range(N_PARTITIONS)), per_partition
    assert max(per_partition.values()) < 0.5 * N_MESSAGES, per_partition

    # Every key sticks to one partition, the one a Java producer would choose.
    partitions_of_key: dict[bytes, set[int]] = defaultdict(set)
    for p, key, _ in received:
        partitions_of_key[key].add(p)
    assert len(partitions_of_key) == N_KEYS
    for key, parts in partitions_of_key.items():
        assert parts == {java_murmur2_partition(key, N_PARTITIONS)}, key

    # Per-partition order is preserved.
    last: dict[int, int] = {}
    for p, _, seq in received:
        assert seq > last.get(p, -1)
        last[p] = seq

    # The group's committed offsets account for every message.
    assert sum(tp.offset for tp in committed) == N_MESSAGES


def test_the_broker_script_listens_on_the_port_asked(tmp_path):
    """`python kafka/broker.py start --port N`: what the README tells users to run for their config."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = Path(__file__).resolve().parents[2] / "kafka" / "broker.py"
    proc = subprocess.Popen([sys.executable, str(script), "start", "--data-dir", str(tmp_path), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not (tmp_path / "bootstrap").exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the broker did not start"
            time.sleep(0.2)
        assert (tmp_path / "bootstrap").read_text().strip() == f"127.0.0.1:{port}"
        c = Consumer({"bootstrap.servers": f"127.0.0.1:{port}", "group.id": "port-probe"})
        try:
            assert c.list_topics(timeout=20).brokers
        finally:
            c.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_produce_keys_each_line_by_its_event_id(kafka, topic_factory, tmp_path):
    """`python -m driftline.produce`, the README's way to put the tour's files on a topic."""
    topic = topic_factory("produced", partitions=N_PARTITIONS)
    lines = [b'{"event_id": "e%d", "x": %d}' % (i, i) for i in range(200)] + [b"not json", b'{"x": 1}']
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n\n")
    proc = subprocess.run([sys.executable, "-m", "driftline.produce", "--bootstrap", kafka.bootstrap, "--topic", topic,
                           str(tmp_path / "in.jsonl")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == f"202 lines -> {topic}", proc.stderr
    c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": f"g-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < len(lines) and time.monotonic() < deadline:
        got += [m for m in c.consume(500, timeout=1.0) if m.error() is None]
    c.close()
    assert sorted(m.value() for m in got) == sorted(lines)
    for m in got:
        key = m.key()
        if m.value().startswith(b'{"event_id"'):
            assert key == orjson.loads(m.value())["event_id"].encode()
            assert m.partition() == java_murmur2_partition(key, N_PARTITIONS)
        else:
            assert key is None
