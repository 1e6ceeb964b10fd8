"""Replay throughput against a bare ``orjson.loads`` loop over the same file (DESIGN 5).

    .venv/bin/python benchmarks/replay_throughput.py            # measure, print a table
    .venv/bin/python benchmarks/replay_throughput.py --write    # ... and rewrite its BENCHMARKS.md section
    .venv/bin/python benchmarks/replay_throughput.py --profile cprofile|pyinstrument

Data (generated once, cached in benchmarks/.data/synth-200000/): 200,000 synthetic prediction
events of ``driftline.synth`` (20 numeric + 5 categorical features and a numeric score, 100
events/s of event time, the demo's drift from the middle on), 20,000 training rows, the synth
config (10 s tumbling windows, i.e. 1,000 events per window, 200 windows) and its reference
built by ``driftline reference build``.

Measured in one process, interleaved (baseline, replay, replay, baseline, ...):

- baseline: the file read as binary lines and ``orjson.loads`` called on each, nothing else;
- replay: ``driftline.streams.replay.replay(config, path, NullSink())``: load the reference,
  decode, window, merge, judge every window, build reports and alerts; the sink discards them.

Target (issue): replay throughput >= 0.5x the baseline's, as the ratio of the medians. Also,
for information: a stage breakdown (one run each) and the CLI end to end (one run, includes
interpreter start-up, imports and writing the JSONL outputs).
"""

from __future__ import annotations

import argparse
import gc
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path

import orjson
from _common import (
    DATA,
    NullSink,
    driftline_cli,
    git_revision,
    machine,
    machine_line,
    median,
    synth_dataset,
    write_section,
)
from driftline.schemas.config import load_config
from driftline.streams.replay import replay

TARGET = 0.5
SECTION = "replay_throughput"


def baseline(path: Path) -> int:
    """The bare loop: binary file, line by line, ``orjson.loads`` each line."""
    loads = orjson.loads
    n = 0
    with path.open("rb") as fh:
        for line in fh:
            loads(line)
            n += 1
    return n


def subject(config, path: Path) -> int:
    stats = replay(config, path, NullSink())
    return stats.events


def timed(fn: Callable[[], int]) -> tuple[float, float, int]:
    """(wall s, CPU s, events) of one call, after a full collection so runs start alike."""
    gc.collect()
    w0, c0 = time.perf_counter(), time.process_time()
    n = fn()
    return time.perf_counter() - w0, time.process_time() - c0, n


def stages(config, path: Path, repeat: int = 3) -> list[tuple[str, float]]:
    """Cumulative stages of the replay loop (mirrors streams/replay.py), with the baseline and
    the full replay in the same rounds: median of ``repeat`` rounds, each stage once a round."""
    from driftline.streams.replay import load_monitors

    part = 0  # replay's one logical partition
    size = config.limits.batch_size

    def chunks():
        with path.open("rb") as fh:
            while chunk := list(islice(fh, size)):
                yield chunk

    def read_only() -> int:
        return sum(len(c) for c in chunks())

    def decode_only() -> int:
        m = load_monitors(config)[0]
        n = 0
        for c in chunks():
            n += len(m.decoder.decode(c, None, None, None))
        return n

    def decode_windows() -> int:
        m = load_monitors(config)[0]
        w, merger = m.new_partition(), m.new_merger(frozenset({part}))
        n = 0
        for c in chunks():
            batch = m.decoder.decode(c, None, None, None)
            n += len(batch)
            w.add(batch)
            merger.add(part, w.close_ready(), w.closed_through)
        merger.add(part, w.close_all(), w.closed_through)
        merger.flush()
        return n

    fns = [
        ("baseline (bare `orjson.loads` loop), same rounds", lambda: baseline(path)),
        ("read lines in batches (islice)", read_only),
        ("+ decode (msgspec typed structs, then columns to numpy)", decode_only),
        ("+ windows and merge (sketch updates), no judging", decode_windows),
        ("+ judging every window (= full `replay`)", lambda: subject(config, path)),
    ]
    walls: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, (_, fn) in enumerate(fns):
            was = gc.isenabled()
            gc.disable()  # as replay does
            try:
                walls[i].append(timed(fn)[0])
            finally:
                if was:
                    gc.enable()
    return [(label, median(w)) for (label, _), w in zip(fns, walls, strict=True)]


def run_cli(d: Path) -> tuple[float, str]:
    out = DATA / "cli-out"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [*driftline_cli(), "replay", "--config", str(d / "driftline.yaml"), "--input",
           str(d / "events.jsonl"), "--out", str(out)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    if res.returncode != 0:
        return wall, f"failed ({res.returncode}): {res.stderr.strip()[:200]}"
    return wall, res.stdout.strip()


def profile(config, path: Path, which: str) -> None:
    if which == "pyinstrument":
        from pyinstrument import Profiler

        p = Profiler(interval=0.001)
        p.start()
        subject(config, path)
        p.stop()
        print(p.output_text(unicode=False, color=False, show_all=False))
        return
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.runcall(subject, config, path)
    st = pstats.Stats(prof)
    st.sort_stats("tottime").print_stats(30)
    st.sort_stats("cumulative").print_stats(40)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--repeat", type=int, default=5, help="timed runs of each, interleaved")
    p.add_argument("--write", action="store_true", help="rewrite this section of BENCHMARKS.md")
    p.add_argument("--regen", action="store_true", help="regenerate the cached data")
    p.add_argument("--no-stages", action="store_true", help="skip the stage breakdown")
    p.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI run")
    p.add_argument("--profile", choices=["cprofile", "pyinstrument"],
                   help="only profile one replay and print the hotspots")
    args = p.parse_args(argv)

    d = synth_dataset(args.events, regen=args.regen, log=lambda s: print(s, file=sys.stderr))
    path = d / "events.jsonl"
    config = load_config(d / "driftline.yaml")
    if args.profile:
        baseline(path)  # warm the page cache
        profile(config, path, args.profile)
        return 0

    info = machine()
    print(f"machine: {machine_line(info)}", file=sys.stderr)
    # warm-up (untimed): page cache, lazy imports inside scipy/numpy
    n_base = baseline(path)
    n_sub = subject(config, path)
    if n_base != n_sub:
        print(f"warning: baseline read {n_base} lines, replay {n_sub} events", file=sys.stderr)

    runs: dict[str, list[tuple[float, float]]] = {"baseline": [], "replay": []}
    fns = {"baseline": lambda: baseline(path), "replay": lambda: subject(config, path)}
    for rep in range(args.repeat):
        order = ("baseline", "replay") if rep % 2 == 0 else ("replay", "baseline")
        for name in order:
            wall, cpu, _ = timed(fns[name])
            runs[name].append((wall, cpu))
            print(f"  rep {rep + 1}/{args.repeat} {name:8s} {wall:7.3f} s wall "
                  f"{cpu:7.3f} s CPU  {n_base / wall:12,.0f} events/s", file=sys.stderr)

    med = {k: median([w for w, _ in v]) for k, v in runs.items()}
    med_cpu = {k: median([c for _, c in v]) for k, v in runs.items()}
    ratio = med["baseline"] / med["replay"]
    ratio_cpu = med_cpu["baseline"] / med_cpu["replay"]
    ratio_min = min(w for w, _ in runs["baseline"]) / min(w for w, _ in runs["replay"])

    stage_rows = []
    if not args.no_stages:
        try:
            stage_rows = stages(config, path)
        except Exception as exc:  # internals moved: the breakdown is for information only
            print(f"stage breakdown skipped: {exc!r}", file=sys.stderr)
    cli = None if args.no_cli else run_cli(d)

    size_mb = path.stat().st_size / 1e6
    lines = [
        "## Replay throughput",
        "",
        "Command: `.venv/bin/python benchmarks/replay_throughput.py --write` "
        f"(`--repeat {args.repeat}`, `--events {args.events}`)",
        "",
        f"Machine: {machine_line(info)}. Code: {git_revision()}. "
        f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}.",
        "",
        f"Input: {n_base:,} events, {size_mb:.0f} MB JSONL "
        "(`driftline.synth`: 20 numeric + 5 categorical features + numeric score; 10 s tumbling "
        f"windows of 1,000 events, so {n_base // 1000} windows judged; drift from the middle on). "
        "Both runs in one process, interleaved "
        f"({args.repeat} repetitions each, alternating order, untimed warm-up of each first, "
        "`gc.collect()` before every run). Baseline: the file read as binary lines, "
        "`orjson.loads` on each. Replay: `replay(config, path, sink)` in process with a sink "
        "that discards its input (no interpreter start-up, no output files).",
        "",
        "| run | median wall (s) | events/s (median) | wall min-max (s) | median CPU (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in (("baseline", "baseline: bare `orjson.loads` loop"),
                        ("replay", "`driftline.streams.replay.replay`, discarding sink")):
        walls = [w for w, _ in runs[name]]
        lines.append(f"| {label} | {med[name]:.3f} | {n_base / med[name]:,.0f} | "
                     f"{min(walls):.3f}-{max(walls):.3f} | {med_cpu[name]:.3f} |")
    met = "**met**" if ratio >= TARGET else "**not met**"
    lines += [
        "",
        f"Ratio of medians (replay throughput / baseline throughput): **{ratio:.3f}x** wall "
        f"({ratio_cpu:.3f}x on CPU time; {ratio_min:.3f}x as the ratio of the fastest runs). "
        f"Target >= {TARGET}x: {met}.",
        "",
        "Every run (wall s): baseline "
        + ", ".join(f"{w:.3f}" for w, _ in runs["baseline"])
        + "; replay " + ", ".join(f"{w:.3f}" for w, _ in runs["replay"]) + ".",
    ]
    if stage_rows:
        lines += [
            "",
            "Where the time goes, for information (cumulative stages of the replay loop, GC "
            "paused as replay does; 3 rounds after the runs above, each round running the baseline "
            "and every stage once; medians; each stage redoes the ones above it, so the step "
            "between two rows is that stage's rough cost):",
            "",
            "| stage (cumulative) | wall (s) | events/s | throughput vs baseline |",
            "|---|---:|---:|---:|",
        ]
        base_wall = stage_rows[0][1]
        lines += [f"| {label} | {wall:.3f} | {n_base / wall:,.0f} | {base_wall / wall:.2f}x |"
                  for label, wall in stage_rows]
    if cli is not None:
        wall, out = cli
        lines += [
            "",
            f"CLI end to end, once (`driftline replay --config ... --input ... --out ...`, includes "
            f"start-up, imports and writing the JSONL outputs): {wall:.2f} s wall, "
            f"{n_base / wall:,.0f} events/s; it printed: `{out}`.",
        ]
    body = "\n".join(lines) + "\n"
    print(body)
    if args.write:
        write_section(SECTION, body)
        print("BENCHMARKS.md: section replay_throughput rewritten", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
