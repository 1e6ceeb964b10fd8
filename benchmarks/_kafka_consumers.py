"""Baseline consumers of ``run_throughput.py``, each run in a fresh process like the subject:

    python benchmarks/_kafka_consumers.py confluent --bootstrap B --topic T --events N
    python benchmarks/_kafka_consumers.py faust     --bootstrap B --topic T --events N

``confluent``: a confluent-kafka Consumer (fresh group.id, auto.offset.reset earliest, other
settings default) calling ``consume(num_messages=1000, timeout=1.0)`` and ``orjson.loads`` on
every value until N events are read.
``faust``: a plain faust-streaming agent (memory store, web server off, fresh app id, raw value
serializer) doing ``async for value in stream: orjson.loads(value)``.

Both print one JSON line: events, seconds from the first message received to the last one
decoded, events/s and the process CPU seconds over the same interval.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid

import orjson


def run_confluent(bootstrap: str, topic: str, n: int, timeout: float) -> dict:
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-confluent-{uuid.uuid4().hex[:10]}",
                  "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    loads = orjson.loads
    count = 0
    t_first = cpu_first = None
    deadline = time.monotonic() + timeout
    try:
        while count < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {count} of {n} events in {timeout:.0f} s")
            msgs = c.consume(num_messages=1000, timeout=1.0)
            if not msgs:
                continue
            if t_first is None:
                t_first, cpu_first = time.perf_counter(), time.process_time()
            for m in msgs:
                if m.error() is not None:
                    continue
                loads(m.value())
                count += 1
        t_last, cpu_last = time.perf_counter(), time.process_time()
    finally:
        c.close()
    return {"events": count, "seconds": t_last - t_first, "rate": count / (t_last - t_first),
            "cpu_seconds": cpu_last - cpu_first}


def run_faust(bootstrap: str, topic: str, n: int, timeout: float, partitions: int) -> dict:
    import logging

    import faust

    logging.getLogger().setLevel(logging.WARNING)
    state = {"count": 0, "t_first": None, "cpu_first": None, "t_last": None, "cpu_last": None}

    async def main() -> None:
        done = asyncio.Event()
        app = faust.App(
            f"bench-faust-{uuid.uuid4().hex[:10]}",
            broker=f"kafka://{bootstrap}",
            store="memory://",
            web_enabled=False,
            topic_partitions=partitions,
            topic_replication_factor=1,
            consumer_auto_offset_reset="earliest",
            datadir=tempfile.mkdtemp(prefix="driftline-bench-faust-"),
            autodiscover=False,
        )
        source = app.topic(topic, value_serializer="raw")
        loads = orjson.loads

        @app.agent(source)
        async def count(stream):
            async for value in stream:
                if state["t_first"] is None:
                    state["t_first"], state["cpu_first"] = time.perf_counter(), time.process_time()
                loads(value)
                state["count"] += 1
                if state["count"] == n:
                    state["t_last"], state["cpu_last"] = time.perf_counter(), time.process_time()
                    done.set()

        await app.start()
        try:
            await asyncio.wait_for(done.wait(), timeout)
        finally:
            await asyncio.wait_for(app.stop(), 60)

    asyncio.run(main())
    secs = state["t_last"] - state["t_first"]
    return {"events": state["count"], "seconds": secs, "rate": state["count"] / secs,
            "cpu_seconds": state["cpu_last"] - state["cpu_first"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["confluent", "faust"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--events", type=int, required=True)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=900.0)
    args = ap.parse_args(argv)
    if args.kind == "confluent":
        out = run_confluent(args.bootstrap, args.topic, args.events, args.timeout)
    else:
        out = run_faust(args.bootstrap, args.topic, args.events, args.timeout, args.partitions)
    sys.stdout.write(orjson.dumps(out).decode() + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
