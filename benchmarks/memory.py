"""Memory of a replay (DESIGN 5): < 200 MB RSS with 1,000 features; state independent of the
stream's length.

    .venv/bin/python benchmarks/memory.py            # measure, print the tables
    .venv/bin/python benchmarks/memory.py --write    # ... and rewrite its BENCHMARKS.md section

Every measurement is a fresh child process (``memory.py child ...``) that imports driftline,
loads the config, replays the file into a sink that discards its output and reports its peak
RSS, so runs do not share allocator state. Peak RSS is ``VmHWM`` of /proc/self/status: the
high-water mark of the child's own process image. ``resource.getrusage(RUSAGE_SELF).ru_maxrss``
is also recorded, but on Linux it is carried over fork + exec (a child reports at least its
parent's peak at the time it was started), so it is only a cross-check.

(i) 1,000 numeric features (plus a numeric score): 20,000 events at 100 events/s of event
    time, 10 s tumbling windows (1,000 events each, 20 windows), 10,000 training rows
    (``benchmarks/.data/wide-1000/``). The reference is built with the detector API
    (``NumericReference.build`` + ``write_reference``, what ``driftline reference build`` does
    per column) from numpy columns, because a 1,000-column JSONL training file is itself heavy.
    Run at the config's default ``limits.batch_size`` and at smaller ones, since one decoded
    batch is the largest thing replay holds.
(ii) 25 features (the throughput benchmark's synthetic stream): the first 50,000, 100,000 and
    200,000 events of the same file. Peak RSS of each, and in a separate child (the sampling
    allocates) the size of the open-window state after every batch: the sum over open windows
    of ``len(orjson.dumps(sketch.to_state()))``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orjson
from _common import (
    DATA,
    NullSink,
    _fingerprint,
    _stamp_ok,
    _write_stamp,
    git_revision,
    head_lines,
    machine,
    machine_line,
    synth_dataset,
    write_section,
)

SECTION = "memory"
TARGET_MB = 200.0
WIDE_K = 1000
WIDE_EVENTS = 20_000
WIDE_TRAINING = 10_000
LENGTHS = (50_000, 100_000, 200_000)


# -- the child: one replay, measured ----------------------------------------------------------

def _status_mb(field: str) -> float:
    """``VmHWM`` (peak RSS of this process image) or ``VmRSS`` from /proc/self/status, in MiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no {field} in /proc/self/status")


def _maxrss_mb() -> float:
    """``getrusage`` peak RSS in MiB. On Linux it survives fork + exec, so a child started by a
    big parent reports at least the parent's size: kept as a cross-check only."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def child(config_path: str, events: str, sample_state: bool) -> None:
    from driftline.schemas.config import load_config
    from driftline.streams import windows as windows_mod
    from driftline.streams.replay import replay

    config = load_config(config_path)
    import_mb = _status_mb("VmHWM")
    samples: list[tuple[int, int]] = []   # (open windows, state bytes) after each batch
    if sample_state:
        original = windows_mod.PartitionWindows.add

        def add(self, batch):
            late = original(self, batch)
            sketches = [s for window in self.open.values() for s in window.values()]
            samples.append((len(self.open), sum(len(orjson.dumps(s.to_state())) for s in sketches)))
            return late

        windows_mod.PartitionWindows.add = add
    t0 = time.perf_counter()
    stats = replay(config, Path(events), NullSink())
    wall = time.perf_counter() - t0
    out = {
        "events": stats.events, "windows": stats.windows, "alerts": stats.alerts,
        "wall_s": wall, "rss_before_mb": import_mb, "peak_rss_mb": _status_mb("VmHWM"),
        "rss_end_mb": _status_mb("VmRSS"), "ru_maxrss_mb": _maxrss_mb(),
    }
    if samples:
        state = [b for _, b in samples]
        out.update(max_open_windows=max(o for o, _ in samples), max_state_bytes=max(state),
                   median_state_bytes=float(np.median(state)), batches=len(samples),
                   max_state_per_window=max(b / o for o, b in samples if o))
    print(json.dumps(out))


def measure(config: Path, events: Path, sample_state: bool = False) -> dict:
    cmd = [sys.executable, __file__, "child", "--config", str(config), "--input", str(events)]
    if sample_state:
        cmd.append("--sample-state")
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"child failed: {res.stderr.strip()[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def state_of(config: Path, events: Path, log) -> dict:
    """The open-window state figures of a sampling child (empty when sampling failed, e.g.
    because ``PartitionWindows`` changed shape)."""
    try:
        s = measure(config, events, sample_state=True)
    except RuntimeError as exc:
        log(f"state sampling failed: {exc}")
        return {}
    return {k: v for k, v in s.items() if "state" in k or "open" in k or k == "batches"}


# -- (i) 1,000 features -----------------------------------------------------------------------

def _wide_columns(rng: np.random.Generator, n: int, k: int, shifted: np.ndarray | None = None) -> np.ndarray:
    """Varied numeric features: feature j ~ N(j % 50, 1 + j % 7), or lognormal every 4th."""
    j = np.arange(k)
    x = rng.normal(j % 50, 1.0 + j % 7, size=(n, k))
    logn = j % 4 == 3
    x[:, logn] = rng.lognormal(1.0, 0.8, size=(n, int(logn.sum())))
    if shifted is not None:
        x += np.where(shifted, 0.5 * (1.0 + j % 7), 0.0)   # half a standard deviation
    return x


def wide_config_yaml(k: int, batch_size: int | None) -> str:
    lines = ["monitors:", "  - name: wide", "    source: {predictions: wide}", "    features:"]
    lines += [f"      f{j:04d}: {{type: numeric}}" for j in range(k)]
    lines += [
        "    prediction: {type: numeric}",
        "    reference: {path: reference.json}",
        "    window: {size: 10s, grace: 2s, idle_timeout: 5s}",
    ]
    if batch_size is not None:
        lines.append(f"limits: {{batch_size: {batch_size}}}")
    return "\n".join(lines) + "\n"


def _wide_training(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    train = _wide_columns(rng, WIDE_TRAINING, len(names))
    return train, 1.0 / (1.0 + np.exp(-train[:, 0] * 0.8))


def wide_reference(d: Path, log) -> None:
    """(Re)build ``d/reference.json`` from the (seeded, regenerated) training columns unless the
    current code loads the one there."""
    from driftline.detectors.reference import NumericReference, ReferenceProfile
    from driftline.streams.reference_io import read_reference, write_reference

    ref = d / "reference.json"
    if ref.exists():
        try:
            read_reference(ref)
            return
        except Exception as exc:  # format moved on: rebuild
            log(f"rebuilding {ref}: {exc}")
    names = [f"f{j:04d}" for j in range(WIDE_K)]
    train, score = _wide_training(names)
    write_reference(ReferenceProfile(
        {n: NumericReference.build(train[:, j]) for j, n in enumerate(names)}, {},
        NumericReference.build(score)), ref)


def wide_dataset(regen: bool, log) -> Path:
    d = DATA / f"wide-{WIDE_K}"
    key = _fingerprint("wide", WIDE_K, WIDE_EVENTS, WIDE_TRAINING, 2, synth_source=False)
    if regen or not _stamp_ok(d, key):
        d.mkdir(parents=True, exist_ok=True)
        (d / "reference.json").unlink(missing_ok=True)
        log(f"generating {d} (once; cached) ...")
        names = [f"f{j:04d}" for j in range(WIDE_K)]
        rng = np.random.default_rng(12)
        start = 1_795_600_000.0   # epoch seconds; 100 events/s of event time
        tmp = d / "events.tmp"
        with tmp.open("wb") as fh:
            for off in range(0, WIDE_EVENTS, 1000):
                n = min(1000, WIDE_EVENTS - off)
                idx = np.arange(off, off + n)
                shifted = np.zeros((n, WIDE_K), dtype=bool)
                shifted[idx >= WIDE_EVENTS // 2, :10] = True
                x = _wide_columns(rng, n, WIDE_K, shifted)
                s = (1.0 / (1.0 + np.exp(-x[:, 0] * 0.8))).tolist()
                rows = x.tolist()
                fh.write(b"".join(orjson.dumps({
                    "event_id": f"w{off + i}", "model_id": "wide", "model_version": "v1",
                    "timestamp": start + (off + i) / 100.0,
                    "features": dict(zip(names, rows[i], strict=True)),
                    "prediction": {"score": s[i]},
                }) + b"\n" for i in range(n)))
        tmp.replace(d / "events.jsonl")
        _write_stamp(d, key)
    wide_reference(d, log)
    return d


def wide_config(d: Path, batch_size: int | None) -> Path:
    path = d / ("driftline.yaml" if batch_size is None else f"driftline-batch{batch_size}.yaml")
    text = wide_config_yaml(WIDE_K, batch_size)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def _kb(r: dict, key: str) -> str:
    return f"{r[key] / 1e3:,.1f}" if key in r else "-"


# -- report -----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd")
    c = sub.add_parser("child", help="(internal) one measured replay")
    c.add_argument("--config", required=True)
    c.add_argument("--input", required=True)
    c.add_argument("--sample-state", action="store_true")
    p.add_argument("--write", action="store_true", help="rewrite this section of BENCHMARKS.md")
    p.add_argument("--regen", action="store_true", help="regenerate the cached data")
    p.add_argument("--batch-sizes", default="default,1000,250",
                   help="limits.batch_size values for (i); 'default' = the config default")
    args = p.parse_args(argv)
    if args.cmd == "child":
        child(args.config, args.input, args.sample_state)
        return 0

    def log(s: str) -> None:
        print(s, file=sys.stderr)

    from driftline.schemas.config import LimitsConfig

    default_batch = LimitsConfig().batch_size
    info = machine()
    log(f"machine: {machine_line(info)}")

    # (i) 1,000 features
    wide = wide_dataset(args.regen, log)
    wide_rows = []
    for b in args.batch_sizes.split(","):
        batch = None if b.strip() == "default" else int(b)
        cfg = wide_config(wide, batch)
        r = measure(cfg, wide / "events.jsonl")
        if batch is None:  # the state does not depend on the batch size's memory; sample once
            r.update(state_of(cfg, wide / "events.jsonl", log))
        r["batch"] = default_batch if batch is None else batch
        r["is_default"] = batch is None
        log(f"  wide batch {r['batch']}: peak {r['peak_rss_mb']:.1f} MB "
            f"(before replay {r['rss_before_mb']:.1f} MB)")
        wide_rows.append(r)
    wide_mb = (wide / "events.jsonl").stat().st_size / 1e6
    line_kb = (wide / "events.jsonl").stat().st_size / WIDE_EVENTS / 1e3

    # (ii) 25 features, growing streams
    synth = synth_dataset(max(LENGTHS), log=log)
    length_rows = []
    for n in LENGTHS:
        path = synth / "events.jsonl" if n == max(LENGTHS) else head_lines(
            synth / "events.jsonl", synth / f"events-{n}.jsonl", n)
        r = measure(synth / "driftline.yaml", path)
        r.update(state_of(synth / "driftline.yaml", path, log))
        r["n"] = n
        log(f"  {n} events: peak {r['peak_rss_mb']:.1f} MB, state max {r['max_state_bytes']} B")
        length_rows.append(r)

    default_row = next((r for r in wide_rows if r["is_default"]), wide_rows[0])
    best = min(wide_rows, key=lambda r: r["peak_rss_mb"])
    peaks = [r["peak_rss_mb"] for r in length_rows]
    states = [r["max_state_bytes"] for r in length_rows if "max_state_bytes" in r] or [0]
    rss_spread = max(peaks) - min(peaks)
    # The state after a batch is (open windows) x (state of one window). How many windows a
    # batch leaves open depends on where its boundaries fall in event time, not on the stream's
    # length: at most ceil(batch span / window) + 1, plus one still inside its grace period
    # (5,000 events at 100 events/s span 50 s: 5 + 1 + 1 = 7 windows of 10 s).
    open_bound = 7
    per_window = [r["max_state_per_window"] for r in length_rows if "max_state_per_window" in r] or [0]
    state_flat = (len(per_window) == len(length_rows)
                  and max(per_window) <= 1.05 * min(per_window)
                  and max(r["max_open_windows"] for r in length_rows) <= open_bound)

    lines = [
        "## Memory",
        "",
        "Command: `.venv/bin/python benchmarks/memory.py --write`",
        "",
        f"Machine: {machine_line(info)}. Code: {git_revision()}. "
        f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}.",
        "",
        "Each row is a fresh child process (`memory.py child`) replaying the file in process into "
        "a sink that discards its output. Peak RSS is `VmHWM` of `/proc/self/status` at the end of "
        "the replay: the child's own high-water mark. (`resource.getrusage(RUSAGE_SELF).ru_maxrss` "
        "is recorded too but on Linux it is inherited across fork + exec, i.e. it is at least the "
        "parent's peak when the child started, so it cannot be trusted for a child of this script; "
        f"it read {max(r['ru_maxrss_mb'] for r in wide_rows + length_rows):.1f} MB at most.) "
        "\"Before replay\" is the peak after importing driftline and loading the config "
        "(interpreter, numpy, driftline modules). The open-window state is measured in a second "
        "child on the same input (sampling allocates): after every batch (after "
        "`PartitionWindows.add`, before windows close), the sum over open windows of "
        "`len(orjson.dumps(sketch.to_state()))`. Windows close only between batches, so a batch "
        "spanning B seconds of event time leaves up to B / window + 1 windows open (a 5,000-event "
        "batch at 100 events/s spans 50 s: 6 open 10 s windows).",
        "",
        f"### 1,000 numeric features (target < {TARGET_MB:.0f} MB RSS)",
        "",
        f"{WIDE_EVENTS:,} events of {WIDE_K:,} numeric features + a numeric score "
        f"({wide_mb:.0f} MB JSONL, {line_kb:.1f} kB per event, full-precision floats), 10 s "
        "tumbling windows of 1,000 events, reference from 10,000 rows; a 0.5 sigma shift on 10 "
        "features from the middle on.",
        "",
        "| `limits.batch_size` | peak RSS (MB) | before replay (MB) | RSS at end (MB) | max open windows "
        "| max open-window state (kB) | windows | alerts | wall (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in wide_rows:
        label = f"{r['batch']} (default)" if r["is_default"] else str(r["batch"])
        lines.append(
            f"| {label} | {r['peak_rss_mb']:.1f} | {r['rss_before_mb']:.1f} | {r['rss_end_mb']:.1f} | "
            f"{r.get('max_open_windows', '-')} | {_kb(r, 'max_state_bytes')} | "
            f"{r['windows']} | {r['alerts']} | {r['wall_s']:.1f} |")
    ok_default = default_row["peak_rss_mb"] < TARGET_MB
    lines += [
        "",
        f"Target < {TARGET_MB:.0f} MB with 1,000 features: "
        + (f"**met** at the default batch size ({default_row['peak_rss_mb']:.1f} MB)." if ok_default else
           f"**not met** at the default batch size ({default_row['batch']}): peak "
           f"{default_row['peak_rss_mb']:.1f} MB. "
           + (f"Met with `limits.batch_size: {best['batch']}` ({best['peak_rss_mb']:.1f} MB)."
              if best["peak_rss_mb"] < TARGET_MB else
              f"Not met at any batch size tried either (best: {best['peak_rss_mb']:.1f} MB at "
              f"{best['batch']}).")),
        "",
        "### State against stream length (20 numeric + 5 categorical features)",
        "",
        "The first N events of the throughput benchmark's synthetic stream (config defaults, "
        "10 s tumbling windows of 1,000 events).",
        "",
        "| events | peak RSS (MB) | before replay (MB) | max open windows | max open-window state (kB) "
        "| median open-window state (kB) | windows | wall (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in length_rows:
        lines.append(
            f"| {r['n']:,} | {r['peak_rss_mb']:.1f} | {r['rss_before_mb']:.1f} | "
            f"{r.get('max_open_windows', '-')} | {_kb(r, 'max_state_bytes')} | "
            f"{_kb(r, 'median_state_bytes')} | {r['windows']} | {r['wall_s']:.1f} |")
    lines += [
        "",
        "State independent of stream length: "
        + ("**met**" if state_flat and rss_spread < 10 else "**not met**")
        + f": at most {max(r.get('max_open_windows', 0) for r in length_rows)} windows open "
        f"(bound {open_bound}: batch span / window + 1, plus one in its grace period), "
        f"{min(per_window) / 1e3:,.1f}-{max(per_window) / 1e3:,.1f} kB per open window at its "
        f"largest; the open-window state stays within {min(states) / 1e3:,.1f}-{max(states) / 1e3:,.1f} kB "
        f"and peak RSS within {min(peaks):.1f}-{max(peaks):.1f} MB (spread {rss_spread:.1f} MB) "
        f"while the stream grows {LENGTHS[-1] // LENGTHS[0]}x.",
    ]
    body = "\n".join(lines) + "\n"
    print(body)
    if args.write:
        write_section(SECTION, body)
        log("BENCHMARKS.md: section memory rewritten")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
