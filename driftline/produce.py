"""Produce a JSON-lines file to a Kafka topic, each line keyed by its ``event_id``, where Java
clients (and driftline's co-partitioned label join) expect it: murmur2 partitioning.

    python -m driftline.produce --bootstrap 127.0.0.1:9092 --topic predictions tour/events.jsonl

A line without an event id (or not JSON) goes unkeyed: driftline sends it to its dead letters.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson
from confluent_kafka import KafkaException, Producer


def _key(line: bytes) -> bytes | None:
    try:
        event_id = orjson.loads(line).get("event_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return None if event_id is None else str(event_id).encode()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m driftline.produce", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("--topic", required=True)
    p.add_argument("file", type=Path)
    args = p.parse_args(argv)
    try:
        lines = [line for line in args.file.read_bytes().splitlines() if line.strip()]
    except OSError as exc:
        p.exit(2, f"{p.prog}: error: {args.file}: {exc.strerror}\n")
    producer = Producer({"bootstrap.servers": args.bootstrap, "partitioner": "murmur2_random",
                         "enable.idempotence": True, "linger.ms": 20, "message.timeout.ms": 30_000})
    failed: list[str] = []

    def delivered(err, _msg) -> None:
        if err is not None:
            failed.append(err.str())

    for line in lines:
        while True:
            try:
                producer.produce(args.topic, line, _key(line), on_delivery=delivered)
                break
            except BufferError:      # the local queue is full: let deliveries drain it
                producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(60)
    if left or failed:
        why = f" ({failed[0]})" if failed else ""
        p.exit(1, f"{p.prog}: error: {left + len(failed)} of {len(lines)} lines not delivered to {args.topic} "
                  f"at {args.bootstrap}{why}\n")
    print(f"{len(lines)} lines -> {args.topic}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KafkaException as exc:
        print(f"python -m driftline.produce: error: {exc}", file=sys.stderr)
        sys.exit(1)
