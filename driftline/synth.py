"""Synthetic prediction streams for the demo, the tests and the benchmarks.

``Scenario`` draws 20 numeric features of varied shapes (normal, skewed, heavy-tailed,
discrete, bimodal) and 5 categorical ones, a score from a fixed logistic model, and can
shift one numeric mean, one category's share or the score from a given event on. Labels (the
ground truth) agree with ``score >= 0.5`` except on a share ``LABEL_ERROR`` of events, a share
that can rise from the drift point on: a model whose accuracy drops.

    python -m driftline.synth demo --dir DIR      # config, training data, a drifting stream, labels
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson

SHAPES = ("normal", "lognormal", "student_t", "poisson", "bimodal")
N_NUMERIC = 20
CATEGORIES = {
    "country": ["DE", "FR", "US", "GB", "ES", "IT", "NL", "PL", "SE", "BR"],
    "channel": ["web", "app", "pos"],
    "device": ["ios", "android", "desktop", "tablet"],
    "segment": [f"s{i}" for i in range(25)],
    "currency": ["EUR", "USD", "GBP"],
}
NUMERIC = tuple(f"n{i:02d}_{SHAPES[i % len(SHAPES)]}" for i in range(N_NUMERIC))
START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC).timestamp()
# The synthetic model is wrong on 10% of events: accuracy 0.90 at its 0.5 threshold.
LABEL_ERROR = 0.10
# Labels arrive a minute after their prediction (event time), as ground truth does: later.
LABEL_DELAY = 60.0
# Labels draw from their own generator, so prediction streams stay the same with or without them.
LABEL_SEED = 20261125


@dataclass(frozen=True)
class Drift:
    at: int = -1                    # first event index with drift (-1: never)
    mean_shift: float = 0.0         # in standard deviations, on NUMERIC[0] (a normal feature)
    category_share: float | None = None   # new share of CATEGORIES["country"][0] ("DE")
    score_shift: float = 0.0        # added to the logit of the score
    label_error: float | None = None  # the model's error rate from `at` on (None: LABEL_ERROR)


def numeric_columns(rng: np.random.Generator, n: int) -> np.ndarray:
    cols = []
    for i in range(N_NUMERIC):
        shape = SHAPES[i % len(SHAPES)]
        if shape == "normal":
            cols.append(rng.normal(10.0 * i, 1.0 + i, n))
        elif shape == "lognormal":
            cols.append(rng.lognormal(1.0, 0.8, n))
        elif shape == "student_t":
            cols.append(rng.standard_t(3, n))
        elif shape == "poisson":
            cols.append(rng.poisson(3 + i % 4, n).astype(np.float64))
        else:
            side = rng.random(n) < 0.4
            cols.append(np.where(side, rng.normal(-2, 0.5, n), rng.normal(3, 1.0, n)))
    return np.column_stack(cols)


def category_columns(rng: np.random.Generator, n: int, de_share: float | None = None) -> dict[str, np.ndarray]:
    out = {}
    for name, cats in CATEGORIES.items():
        weights = np.linspace(2.0, 1.0, len(cats))
        p = weights / weights.sum()
        if name == "country":
            p = np.r_[0.10, 0.90 * p[1:] / p[1:].sum()]
            if de_share is not None:
                p = np.r_[de_share, (1 - de_share) * p[1:] / p[1:].sum()]
        out[name] = np.array(cats, dtype=object)[rng.choice(len(cats), size=n, p=p)]
    return out


def score(x: np.ndarray, shift: float = 0.0) -> np.ndarray:
    z = (x[:, 0] / 1.0 - 0.0) * 0.8 + (x[:, 2] - 0.0) * 0.3 - 0.5 + shift
    return 1.0 / (1.0 + np.exp(-z))


def draw(rng: np.random.Generator, n: int, drift: Drift | None = None, offset: int = 0):
    """``n`` events starting at global index ``offset``: (numeric (n,20), categories, scores)."""
    drift = drift or Drift()
    x = numeric_columns(rng, n)
    idx = np.arange(offset, offset + n)
    drifted = (idx >= drift.at) if drift.at >= 0 else np.zeros(n, dtype=bool)
    x[:, 0] += np.where(drifted, drift.mean_shift * 1.0, 0.0)  # feature 0 is N(0, 1)
    cats = category_columns(rng, n)
    if drift.category_share is not None and drifted.any():
        shifted = category_columns(rng, n, drift.category_share)["country"]
        cats["country"] = np.where(drifted, shifted, cats["country"])
    s = score(x, np.where(drifted, drift.score_shift, 0.0))
    return x, cats, s


def events(rng: np.random.Generator, n: int, rate: float = 100.0, drift: Drift | None = None,
           offset: int = 0, versions: tuple[str, ...] = ("v3",), start: float = START) -> list[bytes]:
    """JSON lines of prediction events, ``rate`` events per second of event time from ``start``."""
    x, cats, s = draw(rng, n, drift, offset)
    out = []
    names = list(CATEGORIES)
    xs, cs, ss = x.tolist(), [cats[c].tolist() for c in names], s.tolist()
    for i in range(n):
        g = offset + i
        features = dict(zip(NUMERIC, xs[i], strict=True))
        features.update({c: cs[j][i] for j, c in enumerate(names)})
        ts = datetime.fromtimestamp(start + g / rate, UTC).isoformat(timespec="milliseconds")
        out.append(orjson.dumps({
            "event_id": f"e{g}", "model_id": "fraud-scorer", "model_version": versions[g % len(versions)],
            "timestamp": ts.replace("+00:00", "Z"), "features": features,
            "prediction": {"score": ss[i], "label": int(ss[i] > 0.5)},
        }))
    return out


def labels_for(rng: np.random.Generator, scores: np.ndarray, error: float | np.ndarray) -> np.ndarray:
    """Ground truth (0 / 1) for ``scores``: ``score >= 0.5``, wrong on a share ``error``."""
    wrong = rng.random(scores.size) < error
    return ((np.asarray(scores) >= 0.5) ^ wrong).astype(np.int64)


def label_events(event_lines: list[bytes], drift: Drift | None = None, offset: int = 0,
                 seed: int = LABEL_SEED, delay: float = LABEL_DELAY) -> list[bytes]:
    """Label events for prediction events (global indices from ``offset``), ``delay`` seconds
    of event time after each prediction; from ``drift.at`` on the error is ``drift.label_error``."""
    drift = drift or Drift()
    events = [orjson.loads(line) for line in event_lines]
    scores = np.array([e["prediction"]["score"] for e in events], dtype=np.float64)
    idx = np.arange(offset, offset + len(events))
    after = LABEL_ERROR if drift.label_error is None else drift.label_error
    error = np.where((idx >= drift.at) & (drift.at >= 0), after, LABEL_ERROR)
    labels = labels_for(np.random.default_rng([seed, offset]), scores, error).tolist()
    out = []
    for e, label in zip(events, labels, strict=True):
        t = datetime.fromisoformat(e["timestamp"]).timestamp() + delay
        ts = datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        out.append(orjson.dumps({"event_id": e["event_id"], "label": label, "timestamp": ts}))
    return out


def training_rows(rng: np.random.Generator, n: int) -> list[bytes]:
    """Flat training rows: the features, the model's ``prediction`` (score) and its ``label``."""
    x, cats, s = draw(rng, n)
    labels = labels_for(np.random.default_rng([LABEL_SEED, n]), s, LABEL_ERROR).tolist()
    names = list(CATEGORIES)
    xs, cs, ss = x.tolist(), [cats[c].tolist() for c in names], s.tolist()
    rows = []
    for i in range(n):
        row = dict(zip(NUMERIC, xs[i], strict=True))
        row.update({c: cs[j][i] for j, c in enumerate(names)})
        row["prediction"] = ss[i]
        row["label"] = labels[i]
        rows.append(orjson.dumps(row))
    return rows


def config_yaml(reference: str, window: str = "10s", topic: str = "predictions",
                bootstrap: str = "127.0.0.1:9092", performance: str | None = "{}",
                labels: str | None = None) -> str:
    """The demo's config; ``performance``: the monitor's performance section (None: none, so
    labels are not joined); ``labels``: the labels topic `run` joins."""
    joined = "" if labels is None else f", labels: {labels}"
    lines = [
        "monitors:",
        "  - name: fraud",
        f"    source: {{predictions: {topic}{joined}}}",
        "    features:",
    ]
    lines += [f"      {n}: {{type: numeric}}" for n in NUMERIC]
    lines += [f"      {c}: {{type: categorical}}" for c in CATEGORIES]
    lines += [
        "    prediction: {type: numeric}",
        *([] if performance is None else [f"    performance: {performance}"]),
        f"    reference: {{path: {reference}}}",
        f"    window: {{size: {window}, grace: 2s, idle_timeout: 5s}}",
        f"kafka: {{bootstrap.servers: '{bootstrap}'}}",
    ]
    return "\n".join(lines) + "\n"


# After the demo's drift point the model is wrong on a quarter of events: accuracy 0.90 -> 0.75.
DEMO_LABEL_ERROR = 0.25


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(lines) + b"\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m driftline.synth")
    p.add_argument("what", choices=["demo"])
    p.add_argument("--dir", required=True)
    p.add_argument("--events", type=int, default=30_000)
    p.add_argument("--drift-at", type=int, default=15_000)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    if args.events < 1 or args.drift_at < 0:
        print(f"{p.prog}: error: --events must be at least 1 and --drift-at at least 0", file=sys.stderr)
        return 2
    d = Path(args.dir)
    rng = np.random.default_rng(args.seed)
    try:
        d.mkdir(parents=True, exist_ok=True)
        write_lines(d / "training.jsonl", training_rows(rng, 20_000))
        drift = Drift(at=args.drift_at, mean_shift=0.5, category_share=0.25, score_shift=0.6,
                      label_error=DEMO_LABEL_ERROR)
        lines = events(rng, args.events, rate=100.0, drift=drift)
        write_lines(d / "events.jsonl", lines)
        write_lines(d / "labels.jsonl", label_events(lines, drift))
        (d / "driftline.yaml").write_text(config_yaml("reference.json", labels="labels"))
    except OSError as exc:
        from driftline.streams.paths import cannot_make_directory

        print(f"{p.prog}: error: --dir {d}: cannot write the demo there ({cannot_make_directory(d, exc)})",
              file=sys.stderr)
        return 2
    drifts = args.drift_at < args.events
    print(f"wrote {d}/driftline.yaml, training.jsonl (20000 rows), events.jsonl ({args.events} events, "
          + (f"drift from event {args.drift_at}" if drifts else f"no drift: it would start at event {args.drift_at}")
          + f"), labels.jsonl (accuracy {1 - LABEL_ERROR:.2f}"
          + (f", then {1 - DEMO_LABEL_ERROR:.2f})" if drifts else ")"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
