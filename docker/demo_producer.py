"""Demo producer: synthetic prediction events (``driftline.synth``) and their labels to Kafka, in real time.

The events are those of ``driftline.synth.events`` (20 numeric + 5 categorical features and a
score), stamped with the wall clock and keyed by event id. After ``--drift-after`` seconds the
stream drifts: feature ``n00_normal`` shifts by 0.5 sigma, the share of country DE goes from
10% to 25% and the score shifts up; driftline should flag it in the first complete window
after that.

Each event's ground-truth label (``driftline.synth.label_events``: ``{"event_id", "label",
"timestamp"}``, keyed by event id like its prediction) goes to ``--labels-topic`` one second
later, stamped ``LABEL_DELAY`` after its prediction. The model is right on 90% of the events
until the drift and on 75% from it on (``synth.DEMO_LABEL_ERROR``), so driftline's label join
sees accuracy fall from 0.90 to 0.75 with the drift. ``--labels-topic ''`` sends no labels.

    python docker/demo_producer.py --bootstrap localhost:9092 --topic predictions --labels-topic labels
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

import numpy as np
import orjson
from confluent_kafka import KafkaException, Producer

from driftline import synth

# Event time from a prediction to its label, well inside the demo config's window grace (5 s):
# a window waits for its labels as long as its grace, so every label joins its prediction.
LABEL_DELAY = 0.5


def _send(producer: Producer, topic: str, lines: list[bytes]) -> None:
    """``lines`` (JSON events) to ``topic``, keyed by event id, waiting when the queue is full."""
    for line in lines:
        key = orjson.loads(line)["event_id"].encode()
        while True:
            try:
                producer.produce(topic, line, key=key)
                break
            except BufferError:
                producer.poll(0.1)
    producer.poll(0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="demo_producer", description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", default="localhost:9092", help="Kafka bootstrap servers")
    p.add_argument("--topic", default="predictions")
    p.add_argument("--labels-topic", default="labels",
                   help="topic of the ground-truth labels, as many partitions as --topic ('': no labels)")
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
    drift = synth.Drift(at=drift_at, mean_shift=0.5, category_share=0.25, score_shift=0.6,
                        label_error=synth.DEMO_LABEL_ERROR)
    rng = np.random.default_rng(args.seed)
    stop = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    when = "never"
    if drift_at >= 0:
        when = f"from event {drift_at} (after {args.drift_after:g} s)"
        if args.labels_topic:
            when += f", accuracy {1 - synth.LABEL_ERROR:.2f} -> {1 - synth.DEMO_LABEL_ERROR:.2f}"
    print(f"producing {args.rate:g} events/s to {args.topic}"
          + (f", their labels to {args.labels_topic}" if args.labels_topic else ", no labels")
          + f" at {args.bootstrap}; drift {when}", flush=True)

    def _send_labels(lines: list[bytes], offset: int) -> int:
        if args.labels_topic and lines:
            _send(producer, args.labels_topic, synth.label_events(lines, drift, offset=offset, delay=LABEL_DELAY))
            return len(lines)
        return 0

    sent, labelled, t0 = 0, 0, time.time()
    tick = 1.0
    unlabelled: list[bytes] = []     # the last turn's predictions: their labels go out in this one
    while not stop and (args.total <= 0 or sent < args.total):
        n = max(1, int(args.rate * tick))   # below 1 event/s: one event, then sleep until the next is due
        if args.total > 0:
            n = min(n, args.total - sent)
        labelled += _send_labels(unlabelled, sent - len(unlabelled))
        unlabelled = synth.events(rng, n, rate=args.rate, drift=drift, offset=sent, start=t0)
        _send(producer, args.topic, unlabelled)
        sent += n
        if 0 <= sent - n <= drift_at < sent:
            print(f"drift starts at event {drift_at}", flush=True)
        time.sleep(max(0.0, t0 + sent / args.rate - time.time()))
    labelled += _send_labels(unlabelled, sent - len(unlabelled))
    left = producer.flush(30)
    print(f"sent {sent} events" + (f" and {labelled} labels" if args.labels_topic else "")
          + (f", {left} not delivered" if left else ""), flush=True)
    return 1 if left else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KafkaException as exc:
        print(f"demo_producer: {exc}", file=sys.stderr)
        sys.exit(1)
