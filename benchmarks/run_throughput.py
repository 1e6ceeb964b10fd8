"""Events per second of ``driftline run`` on a real broker (DESIGN 5), against two baselines
measured in the same run, over the same topic:

(a) a bare confluent-kafka loop: ``consume(num_messages=1000)`` + ``orjson.loads`` per value;
(b) a plain faust-streaming agent: ``async for value in stream`` + ``orjson.loads``;
(c) ``driftline run`` (one worker process, 20 numeric + 5 categorical features + score, JSON).

Starts its own Kafka broker, creates a 4-partition topic and produces N synthetic events once
(``driftline.synth.events(rng, N, rate=1000.0)``, keyed by event_id, murmur2_random). Then R
repetitions of (a), (b), (c), the order rotated every repetition; every run is a fresh process
with a fresh consumer group reading the topic from the start.

- (a), (b): events/s from the first message received to the last one decoded.
- (c): N / (time from the first /metrics poll showing ``driftline_events_total > 0`` to the
  first poll showing N); /metrics is polled every 0.1 s; nothing else is subtracted.

    .venv/bin/python benchmarks/run_throughput.py [--events 300000] [--repeat 3] [--write]
    .venv/bin/python benchmarks/run_throughput.py --profile-only --profile /tmp/run.prof
"""

from __future__ import annotations

import argparse
import pstats
import shlex
import statistics
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _kafka_common as kc

from driftline import synth

HERE = Path(__file__).resolve().parent
TARGET_RATE = 100_000
TARGET_RATIO = 0.5


def produce_events(k, topic: str, n: int, log=print) -> float:
    t0 = time.perf_counter()
    rng = np.random.default_rng(20261126)
    p = kc.producer(k.bootstrap, **{"linger.ms": 20, "batch.size": 1_000_000,
                                    "queue.buffering.max.messages": 200_000})
    chunk = 50_000
    size = 0
    for off in range(0, n, chunk):
        values = synth.events(rng, min(chunk, n - off), rate=1000.0, offset=off)
        size += sum(map(len, values))
        kc.produce_all(p, topic, values, [f"e{off + i}".encode() for i in range(len(values))])
    log(f"produced {n:,} events ({size / 1e6:.0f} MB, {size / n:.0f} bytes each) in {time.perf_counter() - t0:.1f} s")
    return size / n


def run_baseline(kind: str, k, topic: str, n: int, d: Path, partitions: int) -> dict:
    log = d / f"{kind}-{uuid.uuid4().hex[:6]}.log"
    p = kc.spawn([sys.executable, str(HERE / "_kafka_consumers.py"), kind, "--bootstrap", k.bootstrap,
                  "--topic", topic, "--events", str(n), "--partitions", str(partitions)], log)
    p.wait(timeout=1800)
    kc.stop_proc(p)
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if line.startswith('{"events"'):
            return orjson.loads(line)
    raise RuntimeError(f"{kind} baseline failed (exit {p.returncode}):\n{log.read_text()[-3000:]}")


def run_driftline(k, topic: str, n: int, d: Path, prefix: list[str] | None = None,
                  timeout: float = 1800.0, exactly_once: bool = False) -> dict:
    group = f"tp-{uuid.uuid4().hex[:8]}"
    cfg = kc.write_setup(d, k.bootstrap, topic, group, window="10s", limits="{batch_size: 5000}",
                         extra="processing_guarantee: exactly_once\n" if exactly_once else "")
    kc.precreate_topics(k, group)
    log = d / f"{group}.log"
    proc = kc.start_worker(cfg, log, prefix)
    try:
        url = kc.wait_metrics_url(log, proc)
        t1 = c1 = cpu1 = None
        deadline = time.monotonic() + timeout
        next_poll = time.perf_counter()
        while True:
            samples = kc.scrape(url)
            now = time.perf_counter()
            count = kc.metric_sum(samples, "driftline_events_total", topic=topic)
            if t1 is None and count > 0:
                t1, c1, cpu1 = now, count, kc.cpu_seconds(proc.pid)
            if count >= n:
                t_n, cpu_n = now, kc.cpu_seconds(proc.pid)
                break
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"driftline run read {count:,.0f} of {n:,} events in {timeout:.0f} s")
            next_poll += 0.1
            time.sleep(max(0.0, next_poll - time.perf_counter()))
        windows = kc.metric_sum(samples, "driftline_windows_judged_total")
        batches = kc.histogram(samples, "driftline_batch_seconds")
        invalid = kc.metric_sum(samples, "driftline_events_invalid_total")
        # then until every window the watermark closed is judged (tier 2 reads the partials
        # after the source backlog: not part of the figure above, reported next to it)
        want = int(((n - 1) / 1000.0 - 2.0) // 10.0)
        t_judged = None
        while time.monotonic() < deadline:
            if kc.metric_sum(kc.scrape(url), "driftline_windows_judged_total") >= want:
                t_judged = time.perf_counter()
                break
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    finally:
        rc = kc.stop_proc(proc, timeout=120)
    secs = t_n - t1
    cpu = None if cpu1 is None or cpu_n is None else cpu_n - cpu1
    return {"events": n, "seconds": secs, "rate": n / secs, "rate_after_first_poll": (n - c1) / secs,
            "first_poll_count": c1, "cpu_seconds": cpu, "windows": windows, "invalid": invalid,
            "windows_wanted": want, "seconds_to_judged": None if t_judged is None else t_judged - t1,
            "rate_with_judging": None if t_judged is None else n / (t_judged - t1),
            "batches": batches[1], "batch_seconds_sum": batches[2], "exit": rc, "log": str(log)}


def breakdown(st: pstats.Stats) -> str:
    """Where the worker's loop spends its time, from cumulative times of a few functions."""
    def cum(file: str, func: str, tot: bool = False) -> float:
        return sum(v[2] if tot else v[3] for (f, _l, fn), v in st.stats.items() if f.endswith(file) and fn == func)

    run = cum("streams/worker.py", "run")
    consume = cum("~", "<method 'consume' of 'cimpl.Consumer' objects>", tot=True)
    loads = cum("~", "<orjson.loads>", tot=True)
    decode = cum("streams/decode.py", "decode")
    windows = cum("streams/windows.py", "add")
    tier2 = cum("streams/worker.py", "_tier2")
    ckpt = cum("streams/worker.py", "checkpoint")
    rows = [
        ("`Consumer.consume` (librdkafka, Message objects)", consume),
        ("`orjson.loads` (in `BatchDecoder.decode`)", loads),
        ("rest of `BatchDecoder.decode` (paths, type checks, numpy columns, freeing the dicts)", decode - loads),
        ("`PartitionWindows.add` (window assignment, sketch updates)", windows),
        ("tier 2: `_tier2` (partials, merge, judge, outputs)", tier2),
        ("`checkpoint` (changelog, flush, commit)", ckpt),
        ("rest of the loop", run - consume - decode - windows - tier2 - ckpt),
    ]
    lines = ["| part of `Worker.run` | seconds | share |", "|---|---:|---:|"]
    lines += [f"| {name} | {t:.2f} | {t / run:.0%} |" for name, t in rows]
    lines.append(f"| **`Worker.run` in all** (start-up outside it: {st.total_tt - run:.1f} s) | {run:.2f} | 100% |")
    return "\n".join(lines)


def profile_run(k, topic: str, n: int, d: Path, out: Path, top: int = 15) -> tuple[dict, str]:
    res = run_driftline(k, topic, n, d, prefix=[sys.executable, "-m", "cProfile", "-o", str(out)])
    st = pstats.Stats(str(out))
    rows = [breakdown(st), ""]
    total = st.total_tt
    for by in ("tottime", "cumulative"):
        entries = sorted(st.stats.items(), key=lambda kv: kv[1][2 if by == "tottime" else 3], reverse=True)
        rows.append(f"Top {top} by {by} (whole process, {total:.1f} s of profiled time):\n")
        rows.append("| function | calls | tottime (s) | cumtime (s) |")
        rows.append("|---|---:|---:|---:|")
        for (file, line, func), (_cc, nc, tt, ct, _callers) in entries[:top]:
            where = file.replace(str(kc.ROOT) + "/", "")
            if "site-packages/" in where:
                where = where.split("site-packages/", 1)[1]
            rows.append(f"| `{where}:{line}({func})` | {nc:,} | {tt:.2f} | {ct:.2f} |")
        rows.append("")
    return res, "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--no-faust", action="store_true", help="skip the faust baseline")
    ap.add_argument("--profile", type=Path, help="also run (c) once under cProfile, stats to this file")
    ap.add_argument("--profile-only", action="store_true", help="only the cProfile run of (c)")
    ap.add_argument("--exactly-once", action="store_true",
                    help="also (e): driftline run with processing_guarantee: exactly_once")
    ap.add_argument("--write", action="store_true", help="write the throughput subsection of BENCHMARKS.md")
    args = ap.parse_args(argv)
    code = kc.git_revision()   # the code the runs use (others may commit meanwhile)
    n = args.events

    d = kc.workdir("throughput")
    print(f"work dir {d}", flush=True)
    load_start = kc.load_average()
    k = kc.start_broker()
    topic = "bench-predictions"
    k.create_topic(topic, args.partitions)
    event_bytes = produce_events(k, topic, n)

    if args.profile_only:
        out = args.profile or d / "run.prof"
        res, table = profile_run(k, topic, n, d, out)
        kc.stop_broker(k)
        print(f"driftline run under cProfile: {res['rate']:,.0f} events/s ({res['seconds']:.1f} s); stats in {out}\n")
        print(table)
        return 0

    kinds = ["a", "b", "c"] if not args.no_faust else ["a", "c"]
    if args.exactly_once:
        kinds.append("e")
    names = {"a": "(a) confluent-kafka consume(1000) + orjson.loads", "b": "(b) faust agent (async for) + orjson.loads",
             "c": "(c) `driftline run`, 1 worker", "e": "(e) `driftline run`, 1 worker, exactly-once"}
    results: dict[str, list[dict]] = {x: [] for x in kinds}
    order_log = []
    print("warm-up: one untimed run of (a)", flush=True)
    run_baseline("confluent", k, topic, n, d, args.partitions)
    for r in range(args.repeat):
        order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]
        order_log.append("".join(order))
        for x in order:
            if x == "a":
                res = run_baseline("confluent", k, topic, n, d, args.partitions)
            elif x == "b":
                res = run_baseline("faust", k, topic, n, d, args.partitions)
            else:
                res = run_driftline(k, topic, n, d, exactly_once=(x == "e"))
            results[x].append(res)
            extra = ""
            if x in ("c", "e"):
                extra = (f" (from the first poll's count: {res['rate_after_first_poll']:,.0f}/s; "
                         f"{res['windows']:.0f} windows judged by then, {res['batches']:.0f} batches; all "
                         f"{res['windows_wanted']} judged after {res['seconds_to_judged'] or float('nan'):.1f} s)")
            cpu = res.get("cpu_seconds")
            cpu_txt = f", CPU {cpu:.1f} s" if cpu else ""
            print(f"rep {r + 1} {names[x]}: {res['rate']:,.0f} events/s in {res['seconds']:.2f} s{cpu_txt}{extra}",
                  flush=True)

    prof_text = ""
    if args.profile:
        res, table = profile_run(k, topic, n, d, args.profile)
        prof_text = (f"\nOne more run of (c) under cProfile (`python -m cProfile -o {args.profile} -m driftline run "
                     f"...`): {res['rate']:,.0f} events/s with the profiler on.\n\n{table}")
    kc.stop_broker(k)

    med = {x: statistics.median(r["rate"] for r in results[x]) for x in kinds}
    cpu_rate = {x: statistics.median(r["events"] / r["cpu_seconds"] for r in results[x] if r.get("cpu_seconds"))
                for x in kinds}
    ratio = med["c"] / med["a"]
    cmd = f".venv/bin/python benchmarks/run_throughput.py --events {n} --repeat {args.repeat}" + (
        " --no-faust" if args.no_faust else "") + (" --exactly-once" if args.exactly_once else "") + (
        " --write" if args.write else "")
    lines = [
        "### Throughput (events/s per worker process, end to end)",
        "",
        f"Command: `{cmd}`",
        "",
        f"Machine: {kc.machine_line()}. Code: {code}. Date: {kc.now_utc()}. Load average at "
        f"the start / end: {load_start} / {kc.load_average()} (the machine is shared: other jobs ran at the same time).",
        "",
        f"Input: {n:,} events on a {args.partitions}-partition topic, produced once before the runs "
        f"(`driftline.synth.events`, 20 numeric + 5 categorical features + score, JSON, {event_bytes:.0f} bytes "
        f"each, RFC 3339 timestamps 1 ms apart, keyed by event_id, murmur2_random). Every run is a fresh process "
        f"with a fresh consumer group reading the whole topic from the start (`auto.offset.reset: earliest`); "
        f"{args.repeat} repetitions, order rotated ({', '.join(order_log)}), after one untimed run of (a).",
        "",
        "- (a) a bare confluent-kafka Consumer: `consume(num_messages=1000, timeout=1.0)` and `orjson.loads` on "
        "each value; events/s from the first batch received to the last event decoded.",
        "- (b) a plain faust-streaming agent (`faust.App`, memory store, web off, `value_serializer=\"raw\"`, "
        "`async for value in stream` + `orjson.loads`); events/s from the first event to the last.",
        "- (c) `driftline run --config ...`, one worker: `limits: {batch_size: 5000}`, default checkpoint interval "
        "(5 s), 10 s tumbling windows (grace 2 s), so 30 windows of 10,000 events are judged. Events/s = N / "
        "(time from the first `/metrics` poll showing `driftline_events_total > 0` to the first one showing N); "
        "polled every 0.1 s, nothing subtracted.",
    ] + ([
        "- (e) as (c) with `processing_guarantee: exactly_once`: outputs, partials and snapshots in one Kafka "
        "transaction per checkpoint, committed with the offsets; a checkpoint also 0.2 s after a window closes "
        "or is judged.",
    ] if "e" in kinds else []) + [
        "",
        "| run | median events/s | runs (events/s) | median events per CPU-second |",
        "|---|---:|---|---:|",
    ]
    def join(rows: list[dict], key: str, spec: str, unit: str = "") -> str:
        return ", ".join(format(r[key], spec) + unit for r in rows if r.get(key) is not None)

    for x in kinds:
        lines.append(f"| {names[x]} | {med[x]:,.0f} | {join(results[x], 'rate', ',.0f')} | {cpu_rate[x]:,.0f} |")
    rc = results["c"]
    lines += [
        "",
        f"Ratio of medians (c)/(a): **{ratio:.3f}x** (target >= {TARGET_RATIO}x: "
        f"**{'met' if ratio >= TARGET_RATIO else 'not met'}**)."
        + (f" (c)/(b): {med['c'] / med['b']:.2f}x." if "b" in med else "")
        + (f" (e)/(a): {med['e'] / med['a']:.3f}x; (e)/(c): {med['e'] / med['c']:.3f}x." if "e" in med else ""),
        f"(c) per process: **{med['c']:,.0f} events/s** (target >= {TARGET_RATE:,}: "
        f"**{'met' if med['c'] >= TARGET_RATE else 'not met'}**).",
        "",
        f"(c) details: {join(rc, 'seconds', '.1f', ' s')} per run; counting from the first poll's count instead "
        f"of 0: {join(rc, 'rate_after_first_poll', ',.0f')} events/s; worker CPU over the interval "
        f"{join(rc, 'cpu_seconds', '.1f', ' s')}; windows judged by then {join(rc, 'windows', '.0f')}; invalid "
        f"events {sum(r['invalid'] for r in rc):.0f}.",
        "",
        f"(c) until all {rc[0]['windows_wanted']} windows the watermark closes were also judged (tier 2 reads "
        f"the partials from the same consumer, behind any source backlog; the 30th window closes only by idleness "
        f"and is not waited for): {join(rc, 'seconds_to_judged', '.1f', ' s')}, i.e. "
        f"{join(rc, 'rate_with_judging', ',.0f')} events/s, median "
        f"{statistics.median(r['rate_with_judging'] or 0 for r in rc):,.0f}.",
    ]
    if prof_text:
        lines.append(prof_text)
    body = "\n".join(lines)
    print()
    print(body)
    if args.write:
        kc.write_subsection("throughput", body)
        print(f"\nwrote the throughput subsection of {kc.BENCHMARKS_MD}")
    print(f"\ncommand: {shlex.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
