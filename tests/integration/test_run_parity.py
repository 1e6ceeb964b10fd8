"""`driftline run` on a real broker produces the reports of `driftline replay` (DESIGN 2)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import datetime

import numpy as np
import orjson
import pytest
from driftline.streams.worker import LAG_SAMPLE_INTERVAL

from driftline import synth

from .harness import (
    assert_reports_equal,
    by_id,
    events_seen,
    http_get,
    produce,
    read_json,
    replay_reports,
    sample,
    scrape,
    start_worker,
    stop,
    wait_all_ready,
    wait_for_reports,
    wait_ready,
    write_setup,
)

pytestmark = pytest.mark.kafka


def _events(tmp_path, n=12_000):
    drift = synth.Drift(at=n // 2, mean_shift=0.5, category_share=0.25, score_shift=0.6)
    lines = synth.events(np.random.default_rng(5), n, rate=500.0, drift=drift, versions=("v3", "v4"))
    synth.write_lines(tmp_path / "events.jsonl", lines)
    return lines


@pytest.mark.parametrize("workers", [1, 2])
def test_run_matches_replay(kafka, topic_factory, tmp_path, workers):
    topic = topic_factory("preds", partitions=4)
    group = f"parity{workers}-{topic[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group)
    lines = _events(tmp_path)
    want = by_id(replay_reports(cfg, tmp_path / "events.jsonl", tmp_path / "replay"))
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, "--workers", str(workers), log=log)
    try:
        # every worker holds its share of the partitions before the events arrive, so each
        # one has events to process (else the first could take them all before the second joins)
        urls = wait_all_ready(log, proc, workers)
        produce(kafka.bootstrap, topic, lines)
        got = by_id(wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc, log=log))
        seen = [events_seen(u) for u in urls]
    finally:
        stop(proc)
    assert len(seen) == workers and min(seen) > 0 and sum(seen) == len(lines), seen
    assert_reports_equal(got, want)
    # read again once the workers are gone: nothing else was written after the last report
    assert_reports_equal(by_id(read_json(kafka.bootstrap, f"{group}.reports")), want)
    alerts = read_json(kafka.bootstrap, f"{group}.alerts")
    assert {a["subject"] for a in alerts if a["status"] == "firing"} >= {"n00_normal", "country", "prediction"}
    assert "Traceback" not in log.read_text()


def test_exactly_once_two_workers_write_the_reports_of_replay_once(kafka, topic_factory, tmp_path):
    topic = topic_factory("preds", partitions=4)
    group = f"eos-{topic[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group, extra="processing_guarantee: exactly_once\n")
    lines = _events(tmp_path)
    want = by_id(replay_reports(cfg, tmp_path / "events.jsonl", tmp_path / "replay"))
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, "--workers", "2", log=log)   # rebalances commit their transactions
    try:
        urls = wait_all_ready(log, proc, 2)
        produce(kafka.bootstrap, topic, lines)
        got = wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc, committed=True, log=log)
        seen = [events_seen(u) for u in urls]
    finally:
        stop(proc)
    assert min(seen) > 0 and sum(seen) == len(lines), seen
    again = read_json(kafka.bootstrap, f"{group}.reports", committed=True)   # after the workers stopped
    for reports in (got, again):
        ids = [r["report_id"] for r in reports]
        assert len(ids) == len(set(ids)), "a committed reader saw a report twice"
    assert_reports_equal(by_id(again), want)
    alerts = read_json(kafka.bootstrap, f"{group}.alerts", committed=True)
    assert {a["subject"] for a in alerts if a["status"] == "firing"} >= {"n00_normal", "country", "prediction"}
    assert "Traceback" not in log.read_text()

def test_metrics_and_health(kafka, topic_factory, tmp_path):
    topic = topic_factory("preds", partitions=2)
    group = f"metrics-{topic[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group)
    lines = _events(tmp_path, n=6000)
    bad = [b"not json", b'{"event_id": "x"}', b"[1, 2]"]
    want = by_id(replay_reports(cfg, tmp_path / "events.jsonl", tmp_path / "replay"))
    produce(kafka.bootstrap, topic, lines)
    produce(kafka.bootstrap, topic, bad, key_of=lambda line: b"bad")
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, log=log)
    try:
        url = wait_ready(log, proc)
        got = by_id(wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc, log=log))
        # consumer lag is sampled every few seconds: wait for a sample taken after the catch-up
        deadline = time.monotonic() + 3 * LAG_SAMPLE_INTERVAL
        while True:
            m = scrape(url)
            lags = m.get("driftline_consumer_lag_messages", [])
            if (len(lags) == 2 and all(v == 0 for _, v in lags)) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert http_get(url.replace("/metrics", "/healthz"))[0] == 200
    finally:
        stop(proc)
    assert sorted((lab["topic"], lab["partition"], v) for lab, v in lags) == [(topic, "0", 0.0), (topic, "1", 0.0)]
    fraud = {"monitor": "fraud"}
    assert sample(m, "driftline_events_total", topic=topic, **fraud) == len(lines) + len(bad)
    for reason in ("invalid_json", "missing_field", "not_an_object"):
        assert sample(m, "driftline_events_invalid_total", reason=reason, **fraud) == 1
    assert sample(m, "driftline_events_late_total", **fraud) == 0
    windows = [r for r in got.values() if r["model_version"] is None]
    assert sample(m, "driftline_windows_judged_total", **fraud) == len(windows) == 3
    assert sample(m, "driftline_window_close_lag_seconds_count", **fraud) == len(windows)
    assert sample(m, "driftline_batch_seconds_count") > 0
    newest = max(orjson.loads(line)["timestamp"] for line in lines)
    assert sample(m, "driftline_last_event_timestamp_seconds", **fraud) == pytest.approx(
        datetime.fromisoformat(newest).timestamp(), abs=1e-3)
    # the gauges of the last window judged are those of its report
    last = max(windows, key=lambda r: r["window_start"])
    for name, f in last["features"].items():
        for stat in ("psi", "ks", "wasserstein", "js"):
            got_score = [v for lab, v in m["driftline_feature_drift_score"]
                         if lab == {**fraud, "feature": name, "statistic": stat}]
            assert got_score == ([] if f.get(stat) is None else [pytest.approx(f[stat], abs=1e-9)]), (name, stat)
        assert sample(m, "driftline_feature_drift", feature=name, **fraud) == float(f["drift"])
    assert len(m["driftline_feature_drift"]) == len(last["features"])
    assert sample(m, "driftline_drifted_features_ratio", **fraud) == pytest.approx(
        len(last["drifted_features"]) / len(last["features"]))
    for stat in ("psi", "ks", "wasserstein", "js"):
        assert sample(m, "driftline_prediction_drift_score", statistic=stat, **fraud) == pytest.approx(
            last["prediction"][stat], abs=1e-9)
    # every firing alert in the alerts topic is counted once, by kind and severity
    alerts = read_json(kafka.bootstrap, f"{group}.alerts")
    firing = Counter((a["kind"], a["severity"]) for a in alerts if a["status"] == "firing")
    assert firing, "the drifting stream fired no alert: nothing to compare"
    counted = {(lab["kind"], lab["severity"]): v for lab, v in m["driftline_alerts_total"]}
    assert {key: v for key, v in counted.items() if v} == firing
    assert {kind for kind, _ in counted} == {"data_drift", "prediction_drift", "data_quality", "performance", "pipeline"}
    # ... and the alerts still firing at the end (their last event says so) are exported as such
    last_status = {(a["model_version"], a["kind"], a["subject"]): a["status"] for a in alerts}
    assert {(lab["kind"], lab["subject"]) for lab, v in m.get("driftline_alert_firing", []) if v == 1} == \
        {(kind, subject) for (_, kind, subject), status in last_status.items() if status == "firing"}
    # a worker started again exports the last window's gauges and the firing alerts at once,
    # restored with the tier-2 state, before it judges any window
    log2 = tmp_path / "worker-again.log"
    proc = start_worker(cfg, log=log2)
    try:
        again = scrape(wait_ready(log2, proc))
    finally:
        stop(proc)
    assert sample(again, "driftline_windows_judged_total", **fraud) == 0
    for family in ("driftline_feature_drift_score", "driftline_feature_drift", "driftline_feature_drift_p_value",
                   "driftline_drifted_features_ratio", "driftline_prediction_drift_score", "driftline_alert_firing"):
        assert m[family] and sorted(map(repr, again[family])) == sorted(map(repr, m[family])), family


def test_the_supervisor_starts_a_failed_worker_again(kafka, topic_factory, tmp_path):
    """`run --workers N` starts again a worker that dies at run time (here kill -9); the group's
    reports are then replay's, as after any crash."""
    topic = topic_factory("preds", partitions=2)
    group = f"super-{topic[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group)
    lines = _events(tmp_path, 4000)
    want = by_id(replay_reports(cfg, tmp_path / "events.jsonl", tmp_path / "replay"))
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, "--workers", "2", log=log)
    try:
        wait_all_ready(log, proc, 2)
        (started,) = [orjson.loads(line) for line in log.read_text().splitlines()
                      if line.startswith("{") and '"workers started"' in line]
        os.kill(started["pids"][0], signal.SIGKILL)
        wait_ready(log, proc, started_before=2, timeout=120.0)   # a third /metrics port: started again
        produce(kafka.bootstrap, topic, lines)
        got = by_id(wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc, log=log))
    finally:
        stop(proc)
    assert proc.returncode == 0
    assert_reports_equal(got, want)
    text = log.read_text()
    assert '"worker failed; starting it again"' in text and '"worker started again"' in text


def test_model_versions_beyond_the_cap_are_pooled_as_replay_pools_them(kafka, topic_factory, tmp_path):
    """``limits.max_model_versions: 3`` with a champion (partitions 0 and 2), a canary
    (partition 1) and a request id as the version (partition 3): partition 3 keeps the first
    twelve ids of each window (4 x 3 slots), tier 2 the champion, the canary (most events) and
    the first of those ids by name; replay, reading the file in order, keeps the same three. Every
    per-version report is whole (that of a replay without the cap), and the all-versions
    reports are the uncapped ones."""
    topic = topic_factory("preds", partitions=4)
    group = f"versions-{topic[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group)
    text = cfg.read_text()
    lines = [orjson.dumps({**orjson.loads(line), "model_version": version})
             for i, line in enumerate(_events(tmp_path, n=4000))
             for version in [("champion", "canary", "champion", f"req-{i:05d}")[i % 4]]]
    synth.write_lines(tmp_path / "events.jsonl", lines)
    free = by_id(replay_reports(cfg, tmp_path / "events.jsonl", tmp_path / "free"))
    cfg.write_text(text.replace("batch_size: 500}", "batch_size: 500, max_model_versions: 3}"))
    want = by_id(replay_reports(cfg, tmp_path / "events.jsonl", tmp_path / "replay"))
    produce(kafka.bootstrap, topic, lines, partition_of=lambda i, _line: i % 4)
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, log=log)
    try:
        wait_ready(log, proc)
        got = by_id(wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc, log=log))
    finally:
        stop(proc)
    assert_reports_equal(got, want)
    overall = [r for r in got.values() if r["model_version"] is None]
    assert overall and all(r["pooled_events"] > 0 for r in overall)
    for r in got.values():
        assert r["model_version"] in (None, "champion", "canary") or r["model_version"].startswith("req-")
        if r["model_version"] is None:
            assert_reports_equal({"x": {**r, "pooled_events": 0}}, {"x": {**free[r["report_id"]], "pooled_events": 0}})
        else:
            assert_reports_equal({"x": r}, {"x": free[r["report_id"]]})
    assert len(got) == 4 * len(overall)
    assert "limits.max_model_versions (3)" in log.read_text()
