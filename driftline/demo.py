"""``make demo``: a local Kafka broker, a synthetic live stream whose drift begins after a
minute (its ground-truth labels following on their own topic, the model's accuracy falling
from 0.90 to 0.75 at the same moment), a producer fault before it (a tenth of the events with
timestamps driftline cannot read, for ten seconds), ``driftline run`` watching both, and the
alerts printed as they fire.

    python -m driftline.demo [--seconds 150] [--dir demo-out]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import orjson

from . import synth
from .show import format_alert

ROOT = Path(__file__).resolve().parents[1]
RATE = 200.0          # events per second, event time = wall time
DRIFT_AFTER = 60.0    # seconds until the drift begins
# Labels follow their predictions this much later (event time; produced a loop turn later),
# well inside the windows' 2 s grace, so every label joins its prediction's window.
LABEL_DELAY = 0.5
# A faulty producer release: from 30 s to 40 s every tenth event carries its timestamp as
# "25/11/2026 10:00:30" (bad_timestamp): 10% of a window's events, a pipeline alert at a 1% ceiling.
FAULT = (30.0, 40.0)
FAULT_EVERY = 10


def _wait_file(path: Path, proc: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the local Kafka broker did not start; see {path.parent}/broker.log")
        time.sleep(0.2)
    return path.read_text().strip()


def _produce(bootstrap: str, seconds: float, stop: threading.Event) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 20})
    rng = np.random.default_rng(11)
    start = time.time()
    drift = synth.Drift(at=int(DRIFT_AFTER * RATE), mean_shift=0.5, category_share=0.25, score_shift=0.6,
                        label_error=synth.DEMO_LABEL_ERROR)
    sent = 0
    unlabelled: list[bytes] = []       # the previous turn's predictions: their labels come now
    while not stop.is_set() and time.time() - start < seconds:
        due = int((time.time() - start) * RATE)
        if unlabelled:
            for line in synth.label_events(unlabelled, drift, offset=sent - len(unlabelled), delay=LABEL_DELAY):
                producer.produce("labels", line, orjson.loads(line)["event_id"].encode())
            unlabelled = []
        if due > sent:
            unlabelled = synth.events(rng, due - sent, rate=RATE, drift=drift, offset=sent, start=start)
            for i, line in enumerate(unlabelled, start=sent):
                producer.produce("predictions", _faulty(line, i), orjson.loads(line)["event_id"].encode())
            sent = due
        producer.poll(0)
        time.sleep(0.05)
    producer.flush(10)
    del producer   # disconnect now, before the broker goes away


def _faulty(line: bytes, index: int) -> bytes:
    """The event as the faulty release sends it (during FAULT, one in FAULT_EVERY)."""
    if not (FAULT[0] * RATE <= index < FAULT[1] * RATE) or index % FAULT_EVERY:
        return line
    event = orjson.loads(line)
    date, time_of_day = event["timestamp"].rstrip("Z").split("T")
    year, month, day = date.split("-")
    event["timestamp"] = f"{day}/{month}/{year} {time_of_day[:8]}"
    return orjson.dumps(event)


def _follow_alerts(bootstrap: str, stop: threading.Event) -> None:
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"demo-viewer-{os.getpid()}",
                  "auto.offset.reset": "earliest"})
    c.subscribe(["driftline.alerts", "driftline.retrain"])
    # a retrain request is printed one round after it is read, so the alerts behind it (read
    # from the other topic, maybe a batch later) come first
    held: list[dict] = []
    while not stop.is_set():
        events = [orjson.loads(m.value()) for m in c.consume(100, 0.5) if not m.error()]
        for event in events:
            if event.get("type") == "alert":
                print(format_alert(event), flush=True)
        _print_retrain(held)
        held = [e for e in events if e.get("type") != "alert"]
    _print_retrain(held)
    c.close()


def _print_retrain(requests: list[dict]) -> None:
    for r in requests:
        print(f"RETRAIN  request {r['request_id']} for {r['monitor']}: "
              f"{len(r['reasons'])} alert(s) at {r['window_end']}", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m driftline.demo")
    p.add_argument("--seconds", type=float, default=float(os.environ.get("DEMO_SECONDS", 150)))
    p.add_argument("--dir", default="demo-out")
    args = p.parse_args(argv)
    d = Path(args.dir).resolve()
    d.mkdir(parents=True, exist_ok=True)
    broker_dir = d / "broker"
    for f in ("bootstrap", "pid"):
        (broker_dir / f).unlink(missing_ok=True)
    broker = subprocess.Popen([sys.executable, str(ROOT / "kafka" / "broker.py"), "start", "--data-dir", str(broker_dir)])
    procs = [broker]
    stop = threading.Event()
    try:
        bootstrap = _wait_file(broker_dir / "bootstrap", broker, 180)
        print(f"Kafka broker up at {bootstrap}")
        from confluent_kafka.admin import AdminClient, NewTopic

        # warnings and errors only: its info lines (a purged background event at close) are noise here
        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})
        # labels keyed and partitioned like the predictions: each joins its prediction's partition
        for fut in admin.create_topics([NewTopic("predictions", 4), NewTopic("labels", 4)]).values():
            fut.result(timeout=30)
        # an admin client is a librdkafka producer handle: closed now, not when the broker has
        # gone (it would log "Connection refused" at the end of the demo)
        del admin
        synth.write_lines(d / "training.jsonl", synth.training_rows(np.random.default_rng(7), 20_000))
        (d / "driftline.yaml").write_text(
            synth.config_yaml("reference.json", window="10s", bootstrap=bootstrap, labels="labels")
            + "http: {port: 9464}\nlimits: {checkpoint_interval: 2s}\n")
        driftline = [sys.executable, "-m", "driftline"]
        subprocess.run([*driftline, "reference", "build", "--config", "driftline.yaml", "--monitor", "fraud",
                        "--input", "training.jsonl", "--out", "reference.json"], cwd=d, check=True)
        with (d / "driftline.log").open("wb") as log:
            procs.append(subprocess.Popen([*driftline, "run", "--config", "driftline.yaml"], cwd=d,
                                          stdout=log, stderr=log))
        print(f"driftline running (logs: {d}/driftline.log, metrics: http://127.0.0.1:9464/metrics)")
        print(f"producing {RATE:.0f} events/s (and their labels) for {args.seconds:.0f}s; from {FAULT[0]:.0f}s to "
              f"{FAULT[1]:.0f}s a faulty producer sends one event in {FAULT_EVERY} with an unreadable timestamp; "
              f"drift begins after {DRIFT_AFTER:.0f}s, when accuracy also falls from 0.90 to 0.75; alerts appear "
              "below as they fire (windows of 10 s)\n")
        threads = [threading.Thread(target=_follow_alerts, args=(bootstrap, stop), daemon=True),
                   threading.Thread(target=_produce, args=(bootstrap, args.seconds, stop), daemon=True)]
        for t in threads:
            t.start()
        threads[1].join()
        time.sleep(15)   # the last windows close once the stream has been idle for a while
        stop.set()
        threads[0].join(timeout=5)
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        stop.set()
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    raise SystemExit(main())
