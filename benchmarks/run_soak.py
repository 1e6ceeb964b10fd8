"""Memory of ``driftline run`` over a long live run on a real broker (DESIGN 5: RSS flat).

Starts its own Kafka broker, a 4-partition topic and one ``driftline run`` worker (one worker:
the pid started is the worker), then produces a live stream at a steady rate with event time =
wall time and drift episodes (the demo's drift: 0.5 sigma on n00_normal, DE 10% -> 25%, score
shift), sampling the worker's VmRSS (/proc/<pid>/status) every 10 s.

    .venv/bin/python benchmarks/run_soak.py [--minutes 10] [--rate 2000] [--write]

"Flat" means no growth: after the warm-up (the first 2 minutes, or the first fifth of a shorter
run) the least-squares slope of RSS is at most +0.5 MB per minute and the last sample is at most
5% above the post-warm-up median.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _kafka_common as kc

SLOPE_LIMIT_MB_PER_MIN = 0.5
END_TOLERANCE = 0.05


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    if len(samples) < 3:
        return float("nan")
    t = np.array([s[0] for s in samples]) / 60.0
    r = np.array([s[1] for s in samples])
    return float(np.polyfit(t, r, 1)[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=2000.0, help="events per second")
    ap.add_argument("--window", default="5s")
    ap.add_argument("--sample-every", type=float, default=10.0)
    ap.add_argument("--drift-period", type=float, default=180.0, help="a drift episode every this many s")
    ap.add_argument("--drift-length", type=float, default=60.0, help="seconds each episode lasts")
    ap.add_argument("--write", action="store_true", help="write the soak subsection of BENCHMARKS.md")
    args = ap.parse_args(argv)
    code = kc.git_revision()   # the code the runs use (others may commit meanwhile)

    d = kc.workdir("soak")
    print(f"work dir {d}", flush=True)
    k = kc.start_broker()
    topic = "soak-predictions"
    k.create_topic(topic, 4)
    group = f"soak{int(time.time())}"
    cfg = kc.write_setup(d, k.bootstrap, topic, group, window=args.window, grace="1s", idle="5s",
                         limits="")
    kc.precreate_topics(k, group)
    log = d / "worker.log"
    proc = kc.start_worker(cfg, log)
    url = kc.wait_metrics_url(log, proc)
    kc.wait_ready(url, proc)
    print(f"worker pid {proc.pid} ready, metrics {url}", flush=True)

    pool = kc.EventPool()
    seconds = args.minutes * 60
    period, length = args.drift_period, args.drift_length

    def drifted(elapsed: float) -> bool:   # first episode after one period, then every period
        return elapsed >= period and (elapsed % period) < length

    rss: list[tuple[float, float]] = []
    behind: list[float] = []
    cpu0 = kc.cpu_seconds(proc.pid)

    def tick(elapsed: float) -> None:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited ({proc.returncode})")
        r = kc.rss_mb(proc.pid)
        if r is not None:
            rss.append((elapsed, r))
            s = kc.scrape(url)
            events = kc.metric_sum(s, "driftline_events_total")
            behind.append(max(0.0, min(elapsed, seconds) * args.rate - events))
            print(f"  t={elapsed:6.0f}s RSS {r:7.1f} MB  events {events:,.0f} (behind the producer by "
                  f"{behind[-1]:,.0f})  windows {kc.metric_sum(s, 'driftline_windows_judged_total'):,.0f}", flush=True)

    t_start = time.time()
    prod = kc.live_stream(k.bootstrap, topic, args.rate, seconds, pool=pool, drifted=drifted, tick=tick,
                          tick_every=args.sample_every)
    # let it catch up, then one last sample
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        s = kc.scrape(url)
        if kc.metric_sum(s, "driftline_events_total") >= prod["events"]:
            break
        time.sleep(0.5)
    tick(time.time() - t_start)
    samples = kc.scrape(url)
    cpu1 = kc.cpu_seconds(proc.pid)
    rc = kc.stop_proc(proc)
    alerts = kc.read_messages(k.bootstrap, "driftline.alerts")
    kc.stop_broker(k)

    events = kc.metric_sum(samples, "driftline_events_total")
    windows = kc.metric_sum(samples, "driftline_windows_judged_total")
    late = kc.metric_sum(samples, "driftline_events_late_total")
    firing = kc.metric_sum(samples, "driftline_alerts_total")
    warm = min(120.0, seconds / 5)
    after = [s for s in rss if s[0] >= warm]
    start_rss, end_rss = rss[0][1], rss[-1][1]
    med_after = float(np.median([s[1] for s in after])) if after else float("nan")
    slope_all = slope_mb_per_min(rss)
    slope_after = slope_mb_per_min(after)
    second_half = [s for s in rss if s[0] >= rss[-1][0] / 2]
    slope_half = slope_mb_per_min(second_half)
    flat = slope_after <= SLOPE_LIMIT_MB_PER_MIN and end_rss <= (1 + END_TOLERANCE) * med_after
    cpu_share = (cpu1 - cpu0) / (time.time() - t_start) if cpu0 is not None and cpu1 is not None else float("nan")

    cmd = f".venv/bin/python benchmarks/run_soak.py --minutes {args.minutes:g} --rate {args.rate:g}" + (
        " --write" if args.write else "")
    lines = [
        "### Memory over a long run (soak)",
        "",
        f"Command: `{cmd}`",
        "",
        f"Machine: {kc.machine_line()}. Code: {code}. Date: {kc.now_utc()}. "
        f"Load average at the end: {kc.load_average()} (other jobs share the machine).",
        "",
        f"Setup: topic with 4 partitions; one `driftline run` worker (default limits: batch 5,000, checkpoint "
        f"every 5 s), {args.window} tumbling windows, grace 1 s; a live stream at {args.rate:,.0f} events/s "
        f"(event time = wall time) for {args.minutes:g} min, with a drift episode of {length:g} s every "
        f"{period:g} s (0.5 sigma on `n00_normal`, DE 10% -> 25%, score shift). VmRSS of the worker pid "
        f"sampled every {args.sample_every:g} s.",
        "",
        f"Outcome: {prod['events']:,} events produced (producer at most {prod['producer_behind_max_s']:.2f} s "
        f"behind schedule), {events:,.0f} consumed, {late:,.0f} late, {windows:,.0f} windows judged, "
        f"{firing:,.0f} alerts fired ({len(alerts)} alert messages incl. resolved); worker CPU "
        f"{cpu_share:.0%} of one core on average; exit code {rc} after SIGTERM. The worker was at most "
        f"{max(behind):,.0f} events behind the producer at a sample (median {float(np.median(behind)):,.0f}): a "
        f"backlog is held in librdkafka's prefetch queue and shows in RSS, so RSS is only meaningful while the worker "
        f"keeps up.",
        "",
        "| RSS | MB |",
        "|---|---:|",
        f"| first sample (t = {rss[0][0]:.0f} s) | {start_rss:.1f} |",
        f"| median after warm-up (t >= {warm:.0f} s) | {med_after:.1f} |",
        f"| max | {max(r for _, r in rss):.1f} |",
        f"| last sample (t = {rss[-1][0]:.0f} s) | {end_rss:.1f} |",
        "",
        f"Slope (least squares): {slope_all:+.3f} MB/min over the whole run, {slope_after:+.3f} MB/min after "
        f"warm-up, {slope_half:+.3f} MB/min over the second half. Flat (no growth: slope after warm-up <= "
        f"{SLOPE_LIMIT_MB_PER_MIN} MB/min and last sample at most {END_TOLERANCE:.0%} above the post-warm-up "
        f"median): **{'yes' if flat else 'no'}**.",
        "",
        "Samples (t s: MB, events behind): " + ", ".join(f"{t:.0f}: {r:.1f} ({b:,.0f})" for (t, r), b in zip(rss, behind, strict=True)),
    ]
    body = "\n".join(lines)
    print()
    print(body)
    if args.write:
        kc.write_subsection("soak", body)
        print(f"\nwrote the soak subsection of {kc.BENCHMARKS_MD}")
    print(f"\ncommand: {shlex.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
