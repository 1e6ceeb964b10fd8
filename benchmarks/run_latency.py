"""Alert / report latency of ``driftline run`` on a live stream (DESIGN 5: an alert leaves at
most 1 s after the watermark closes its window, p99).

Starts its own Kafka broker, a 4-partition topic and one ``driftline run`` worker, then
produces a live stream at a steady rate with event time = wall time (each event is sent when it
is due and stamped with that time), with drift episodes so that alerts fire and resolve.

Two measurements:

- internal: the worker's ``driftline_window_close_lag_seconds`` histogram (from the partial
  that completed a window leaving tier 1 to the window's outputs), read from /metrics after a
  warm-up and at the end; p50/p99 with Prometheus' ``histogram_quantile`` interpolation;
- external: the Kafka timestamp (CreateTime, set by the worker's producer) of every report and
  alert message minus the moment the watermark closed its window. With event time = wall time
  the watermark of every partition passes ``window_end`` at wall time ``window_end + grace``
  (the first event at or after that time; ~1,250 events/s per partition at 5,000 events/s), so
  external lag = message timestamp - (window_end + grace). Same machine, same clock.

With ``--exactly-once`` the worker runs with ``processing_guarantee: exactly_once``: outputs
become visible only when their transaction commits, so the external lag is measured from when
a ``read_committed`` consumer, running through the whole stream, receives each message.

    .venv/bin/python benchmarks/run_latency.py [--rate 5000] [--seconds 180] [--window 1s] [--write]
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from datetime import datetime
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _kafka_common as kc

TARGET_P99 = 1.0


def parse_seconds(text: str) -> float:
    text = text.strip()
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    if text.endswith("s"):
        return float(text[:-1])
    return float(text)


def ts_of(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=5000.0)
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--window", default="1s")
    ap.add_argument("--grace", default="500ms")
    ap.add_argument("--idle", default="5s")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--warmup", type=float, default=20.0, help="seconds not counted at the start")
    ap.add_argument("--drift-period", type=float, default=30.0)
    ap.add_argument("--drift-length", type=float, default=10.0)
    ap.add_argument("--limits", default="", help="limits: mapping for the config, e.g. '{batch_size: 500}'")
    ap.add_argument("--profile", type=Path, help="run the worker under cProfile, stats to this file")
    ap.add_argument("--exactly-once", action="store_true",
                    help="processing_guarantee: exactly_once; lag measured at a read_committed consumer")
    ap.add_argument("--write", action="store_true", help="write the latency subsection of BENCHMARKS.md")
    args = ap.parse_args(argv)
    code = kc.git_revision()   # the code the runs use (others may commit meanwhile)
    grace = parse_seconds(args.grace)

    d = kc.workdir("latency")
    print(f"work dir {d}", flush=True)
    load_start = kc.load_average()
    k = kc.start_broker()
    topic = "live-predictions"
    k.create_topic(topic, args.partitions)
    group = f"lat{int(time.time())}"
    cfg = kc.write_setup(d, k.bootstrap, topic, group, window=args.window, grace=args.grace, idle=args.idle,
                         limits=args.limits,
                         extra="processing_guarantee: exactly_once\n" if args.exactly_once else "")
    kc.precreate_topics(k, group)
    reader = kc.CommittedReader(k.bootstrap, ["driftline.reports", "driftline.alerts"]) if args.exactly_once else None
    log = d / "worker.log"
    prefix = [sys.executable, "-m", "cProfile", "-o", str(args.profile)] if args.profile else None
    proc = kc.start_worker(cfg, log, prefix)
    url = kc.wait_metrics_url(log, proc)
    kc.wait_ready(url, proc)
    print(f"worker pid {proc.pid} ready", flush=True)

    pool = kc.EventPool()
    period, length = args.drift_period, args.drift_length
    snap: dict[str, object] = {}
    behind: list[tuple[float, float]] = []

    def drifted(elapsed: float) -> bool:
        return elapsed >= period and (elapsed % period) < length

    def tick(elapsed: float) -> None:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        s = kc.scrape(url)
        events = kc.metric_sum(s, "driftline_events_total")
        lag = kc.metric_sum(s, "driftline_consumer_lag_messages")
        behind.append((elapsed, elapsed * args.rate - events))
        if "before" not in snap and elapsed >= args.warmup:
            snap["before"] = kc.histogram(s, "driftline_window_close_lag_seconds", monitor="fraud")
            snap["cpu_before"] = (time.time(), kc.cpu_seconds(proc.pid))
        if int(elapsed) % 10 == 0:
            h = kc.histogram(s, "driftline_window_close_lag_seconds", monitor="fraud")
            print(f"  t={elapsed:5.0f}s consumed {events:,.0f} (behind the producer by "
                  f"{elapsed * args.rate - events:,.0f}; consumer lag gauge {lag:,.0f}); windows judged {h[1]:.0f}, "
                  f"close-lag p99 so far {kc.histogram_quantile(0.99, h[0]):.3f} s", flush=True)

    prod = kc.live_stream(k.bootstrap, topic, args.rate, args.seconds, pool=pool, drifted=drifted, tick=tick)
    t0, t_end = prod["t0"], prod["t0"] + prod["seconds"]
    # let the worker catch up (bounded), then read the histogram
    caught_up = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        s = kc.scrape(url)
        if kc.metric_sum(s, "driftline_events_total") >= prod["events"]:
            caught_up = time.time() - t_end
            break
        time.sleep(0.2)
    time.sleep(2.0)
    samples = kc.scrape(url)
    cpu_after = (time.time(), kc.cpu_seconds(proc.pid))
    after = kc.histogram(samples, "driftline_window_close_lag_seconds", monitor="fraud")
    before = snap.get("before")
    delta = kc.histogram_delta(after, before)
    rc = kc.stop_proc(proc, timeout=120)
    if reader is not None:   # (value, when a committed reader received it)
        received = reader.stop()
        reports = [(v, at) for t, v, at in received if t == "driftline.reports"]
        alerts = [(v, at) for t, v, at in received if t == "driftline.alerts"]
    else:                    # (value, message timestamp: when the worker produced it)
        reports = [(m.value(), m.timestamp()[1] / 1000) for m in kc.read_messages(k.bootstrap, "driftline.reports")]
        alerts = [(m.value(), m.timestamp()[1] / 1000) for m in kc.read_messages(k.bootstrap, "driftline.alerts")]
    kc.stop_broker(k)

    # external: time seen - (window_end + grace), windows closed by the live watermark after warm-up
    def lags(msgs: list, overall_only: bool) -> list[float]:
        out = []
        for value, seen in msgs:
            v = orjson.loads(value)
            if overall_only and v.get("model_version") is not None:
                continue
            start, end = ts_of(v["window_start"]), ts_of(v["window_end"])
            if start < t0 + args.warmup or end + grace > t_end:
                continue
            out.append(seen - (end + grace))
        return out

    rep_lags = lags(reports, True)
    alert_lags = lags(alerts, False)
    firing = sum(1 for value, _ in alerts if orjson.loads(value)["status"] == "firing")
    p = kc.percentile
    h_p50, h_p99 = kc.histogram_quantile(0.5, delta[0]), kc.histogram_quantile(0.99, delta[0])
    ext_p99 = p(rep_lags, 0.99)
    alert_p99 = p(alert_lags, 0.99) if alert_lags else float("nan")
    met = max(h_p99, ext_p99, alert_p99 if alert_lags else 0.0) <= TARGET_P99
    cpu_share = float("nan")
    if snap.get("cpu_before") and snap["cpu_before"][1] is not None and cpu_after[1] is not None:
        cpu_share = (cpu_after[1] - snap["cpu_before"][1]) / (cpu_after[0] - snap["cpu_before"][0])
    max_behind = max((b for _, b in behind), default=0.0)

    cmd = (f".venv/bin/python benchmarks/run_latency.py --rate {args.rate:g} --seconds {args.seconds:g} "
           f"--window {args.window} --grace {args.grace}" + (f" --limits '{args.limits}'" if args.limits else "")
           + (" --exactly-once" if args.exactly_once else "") + (" --write" if args.write else ""))
    seen = ("receipt by a `read_committed` consumer" if args.exactly_once else "report timestamp")
    window_s = parse_seconds(args.window)
    lines = [
        f"### Window close latency at {args.rate:,.0f} events/s ({args.window} windows"
        + (", exactly-once)" if args.exactly_once else ")"),
        "",
        f"Command: `{cmd}`",
        "",
        f"Machine: {kc.machine_line()}. Code: {code}. Date: {kc.now_utc()}. Load average at the "
        f"start / end: {load_start} / {kc.load_average()} (shared machine).",
        "",
        f"Setup: {args.partitions}-partition topic; one `driftline run` worker"
        + (" with `processing_guarantee: exactly_once` (outputs visible when their transaction commits)"
           if args.exactly_once else "")
        + f" ({'limits ' + args.limits if args.limits else 'default limits: batch 5,000, checkpoint every 5 s'}); "
        f"{args.window} tumbling windows ({args.rate * window_s:,.0f} events each), grace {args.grace}, idle "
        f"timeout {args.idle}; live stream for {args.seconds:g} s with event time = wall time (producer at most "
        f"{prod['producer_behind_max_s']:.2f} s behind its schedule), drift for {length:g} s every {period:g} s "
        f"so alerts fire and resolve; the first {args.warmup:g} s are not counted. Worker CPU after warm-up: "
        f"{cpu_share:.0%} of one core.",
        "",
        f"Outcome: {prod['events']:,} events produced; the worker was at most {max_behind:,.0f} events behind the "
        f"producer (sampled every second) and "
        + (f"had read everything {caught_up:.1f} s after the stream stopped" if caught_up is not None
           else "had **not** caught up 120 s after the stream stopped")
        + f"; {after[1]:.0f} windows judged, {firing} alerts fired ({len(alerts)} alert messages incl. resolved); "
        f"exit code {rc} after SIGTERM.",
        "",
        "| measure | windows / messages | p50 (s) | p99 (s) | max (s) |",
        "|---|---:|---:|---:|---:|",
        f"| `driftline_window_close_lag_seconds` (histogram, after warm-up) | {delta[1]:.0f} | {h_p50:.3f} | "
        f"{h_p99:.3f} | (mean {delta[2] / delta[1] if delta[1] else float('nan'):.3f}) |",
        f"| external: {seen} - (window_end + grace), all-versions reports | {len(rep_lags)} | "
        f"{p(rep_lags, 0.5):.3f} | {ext_p99:.3f} | {max(rep_lags, default=float('nan')):.3f} |",
        f"| external: alert {seen.replace('report ', '')} - (window_end + grace) | {len(alert_lags)} | "
        f"{p(alert_lags, 0.5):.3f} | {alert_p99:.3f} | {max(alert_lags, default=float('nan')):.3f} |",
        "",
        f"Target: an alert leaves at most {TARGET_P99:g} s after the watermark closes its window (p99): "
        f"**{'met' if met else 'not met'}** at this rate.",
        "",
        f"Share of windows whose all-versions report left within 1 s: "
        f"{sum(1 for x in rep_lags if x <= 1.0) / len(rep_lags) if rep_lags else float('nan'):.1%}.",
    ]
    body = "\n".join(lines)
    print()
    print(body)
    if args.write:
        kc.write_subsection(f"latency_{int(args.rate)}" + ("_exactly_once" if args.exactly_once else ""), body)
        print(f"\nwrote the latency subsection of {kc.BENCHMARKS_MD}")
    print(f"\ncommand: {shlex.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
