"""What `driftline run`'s label join (streams/stream_join.py) costs in tier 1, against tier 1
without it, measured side by side in the same run (no broker: the join is pure; decoding is
done once beforehand and left out of both).

For N synthetic events (20 numeric + 5 categorical features + score, 1,000 events/s of event
time, 10 s tumbling windows, 2 s grace) and their labels (synth.label_events: 60 s later):

- baseline: ``PartitionWindows.add`` + ``close_ready`` per batch of 5,000 predictions;
- labels first: every label batch through the join, then the predictions take theirs;
- predictions first: predictions (they wait while their windows are open), then the labels
  (most come after their windows closed: they wait, then expire as unmatched);
- the snapshot of a join holding the cap's worth of waiting predictions
  (``limits.max_join_waiting``, 100,000): ``to_state`` + orjson, its size, and back.

Throughput counts the predictions (the labels are extra work on top). R repetitions, rotated;
medians.

    .venv/bin/python benchmarks/label_join.py [--events 100000] [--repeat 5] [--write]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DATA,
    ensure_reference,
    git_revision,
    machine,
    machine_line,
    median,
    write_section,
)
from driftline.schemas.config import load_config
from driftline.streams.replay import load_monitors
from driftline.streams.windows import PartitionWindows

from driftline import synth

BATCH = 5000   # the default limits.batch_size


def setup(n: int):
    d = DATA / "label-join"
    d.mkdir(parents=True, exist_ok=True)
    if not (d / "training.jsonl").exists():
        synth.write_lines(d / "training.jsonl", synth.training_rows(np.random.default_rng(3), 20_000))
    (d / "driftline.yaml").write_text(synth.config_yaml("reference.json").replace(
        "source: {predictions: predictions}", "source: {predictions: predictions, labels: labels}"))
    ensure_reference(d)
    (m,) = load_monitors(load_config(d / "driftline.yaml"), label_topics=True)
    events = synth.events(np.random.default_rng(1), n, rate=1000.0)
    labels = synth.label_events(events)
    preds = [m.decoder.decode(events[i:i + BATCH]) for i in range(0, n, BATCH)]
    labs = [m.label_decoder.decode(labels[i:i + BATCH]) for i in range(0, n, BATCH)]
    return m, preds, labs


def baseline(m, preds, labs) -> float:
    w = m.new_partition()
    t0 = time.perf_counter()
    for b in preds:
        w.add(b)
        w.close_ready()
    return time.perf_counter() - t0


def _joined(m, preds, labs, labels_first: bool) -> tuple[float, int]:
    w, j = m.new_partition(), m.new_join()
    t0 = time.perf_counter()
    for b in labs if labels_first else ():
        j.add_labels(b, w)
        j.on_close(w.closed_through, w.watermark)
    for b in preds:
        j.add_predictions(b, w)
        w.close_ready()
        j.on_close(w.closed_through, w.watermark)
    for b in () if labels_first else labs:
        j.add_labels(b, w)
        j.on_close(w.closed_through, w.watermark)
    return time.perf_counter() - t0, j.counts.pairs


def snapshot(m, preds) -> tuple[float, float, int]:
    """A join holding 100,000 waiting predictions: seconds to snapshot, to restore, bytes."""
    spec = m.window_spec
    wide = type(spec)(spec.size_ms, spec.slide_ms, 10**9)     # nothing closes: all wait

    w, j = PartitionWindows(wide, m.layout), m.new_join()
    for b in preds[: 100_000 // BATCH]:
        j.add_predictions(b, w)
    t0 = time.perf_counter()
    raw = orjson.dumps(j.to_state())
    t1 = time.perf_counter()
    m.new_join(orjson.loads(raw))
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, len(raw)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)   # within the default cap (max_join_waiting)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    m, preds, labs = setup(args.events)
    runs: dict[str, list[float]] = {"baseline": [], "labels first": [], "predictions first": []}
    pairs = {}
    for r in range(args.repeat):
        order = list(runs)[r % 3:] + list(runs)[:r % 3]
        for kind in order:
            if kind == "baseline":
                runs[kind].append(baseline(m, preds, labs))
            else:
                wall, pairs[kind] = _joined(m, preds, labs, kind == "labels first")
                runs[kind].append(wall)
    snaps = [snapshot(m, preds) for _ in range(3)]
    n = args.events
    base = median(runs["baseline"])
    rows = [f"| {kind} | {median(w):.3f} | {n / median(w):,.0f} | {base / median(w):.2f}x | "
            f"{pairs.get(kind, '-') if kind != 'baseline' else '-'} |" for kind, w in runs.items()]
    body = "\n".join([
        "## Label join of `driftline run` (tier 1, no broker)",
        "",
        f"Command: `.venv/bin/python benchmarks/label_join.py --events {n} --repeat {args.repeat} --write`; "
        f"code {git_revision()}; {machine_line(machine())}.",
        "",
        f"{n:,} predictions in batches of {BATCH:,} (decoded beforehand, not timed), 10 s windows, "
        "2 s grace, labels 60 s of event time after their predictions; medians of "
        f"{args.repeat} rotated repetitions.",
        "",
        "| tier 1 | wall (s) | predictions/s | throughput vs baseline | pairs |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
        "Labels first: every label waits, then pairs as its prediction comes. Predictions first: "
        "labels 60 s late miss windows that closed 2 s after their end, so most wait and expire "
        "as unmatched (the last windows' pairs count); a monitor meant for such labels needs a "
        "grace of that long.",
        "",
        f"Snapshot of a join with 100,000 waiting predictions (the default cap): "
        f"{median([s[2] for s in snaps]) / 1e6:.1f} MB of JSON before compression, "
        f"{median([s[0] for s in snaps]) * 1000:.0f} ms to write (to_state + orjson), "
        f"{median([s[1] for s in snaps]) * 1000:.0f} ms to restore. A checkpoint writes it when the "
        "partition changed since the last one (every `limits.checkpoint_interval`, 5 s by default).",
    ])
    print(body)
    if args.write:
        write_section("label_join", body)
        print("BENCHMARKS.md: section label_join rewritten", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
