"""Demo producer: synthetic prediction events (``driftline.synth``) to a Kafka topic, in real time.

The events are those of ``driftline.synth.events`` (20 numeric + 5 categorical features and a
score), stamped with the wall clock. After ``--drift-after`` seconds the stream drifts: feature
``n00_normal`` shifts by 0.5 sigma, the share of country DE goes from 10% to 25% and the score
shifts up; driftline should flag it in the first complete window after that.

    python docker/demo_producer.py --bootstrap localhost:9092 --topic predictions
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from datetime import UTC, datetime

import numpy as np
import orjson
from confluent_kafka import KafkaException, Producer

from driftline import synth


def _stamp(value: bytes, t: float) -> tuple[bytes, bytes]:
    event = orjson.loads(value)
    ts = datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    event["timestamp"] = ts
    return event["event_id"].encode(), orjson.dumps(event)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="demo_producer", description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", default="localhost:9092", help="Kafka bootstrap servers")
    p.add_argument("--topic", default="predictions")
    p.add_argument("--rate", type=float, default=200.0, help="events per second")
    p.add_argument("--drift-after", type=float, default=180.0,
                   help="seconds before the drift starts (negative: never)")
    p.add_argument("--total", type=int, default=0, help="stop after this many events (0: run until stopped)")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    if args.rate <= 0:
        p.error("--rate must be positive")

    producer = Producer({"bootstrap.servers": args.bootstrap, "partitioner": "murmur2_random",
                         "enable.idempotence": True, "linger.ms": 20})
    drift_at = int(args.drift_after * args.rate) if args.drift_after >= 0 else -1
    drift = synth.Drift(at=drift_at, mean_shift=0.5, category_share=0.25, score_shift=0.6)
    rng = np.random.default_rng(args.seed)
    stop = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"producing {args.rate:g} events/s to {args.topic} at {args.bootstrap}; drift "
          + (f"from event {drift_at} (after {args.drift_after:g} s)" if drift_at >= 0 else "never"),
          flush=True)
    sent, t0 = 0, time.time()
    tick = 1.0
    while not stop and (args.total <= 0 or sent < args.total):
        n = int(args.rate * tick)
        if args.total > 0:
            n = min(n, args.total - sent)
        start = t0 + sent / args.rate
        for j, value in enumerate(synth.events(rng, n, rate=args.rate, drift=drift, offset=sent)):
            key, stamped = _stamp(value, start + j / args.rate)
            while True:
                try:
                    producer.produce(args.topic, stamped, key=key)
                    break
                except BufferError:
                    producer.poll(0.1)
        producer.poll(0)
        sent += n
        if 0 <= sent - n <= drift_at < sent:
            print(f"drift starts at event {drift_at}", flush=True)
        time.sleep(max(0.0, t0 + sent / args.rate - time.time()))
    left = producer.flush(30)
    print(f"sent {sent} events" + (f", {left} not delivered" if left else ""), flush=True)
    return 1 if left else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KafkaException as exc:
        print(f"demo_producer: {exc}", file=sys.stderr)
        sys.exit(1)
