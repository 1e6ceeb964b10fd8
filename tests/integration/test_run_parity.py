"""`driftline run` on a real broker produces the reports of `driftline replay` (DESIGN 2)."""

from __future__ import annotations

import numpy as np
import pytest

from driftline import synth

from .harness import (
    assert_reports_equal,
    by_id,
    http_get,
    produce,
    read_json,
    replay_reports,
    start_worker,
    stop,
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
    if workers == 1:
        # a labels topic (that does not even exist): run does not join labels yet, and says so
        cfg.write_text(cfg.read_text().replace(f"source: {{predictions: {topic}}}",
                                               f"source: {{predictions: {topic}, labels: {topic}-labels}}"))
    lines = _events(tmp_path)
    want = by_id(replay_reports(cfg, tmp_path / "events.jsonl", tmp_path / "replay"))
    produce(kafka.bootstrap, topic, lines)
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, "--workers", str(workers), log=log)
    try:
        got = by_id(wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc))
    finally:
        stop(proc)
    assert_reports_equal(got, want)
    alerts = read_json(kafka.bootstrap, f"{group}.alerts")
    assert {a["subject"] for a in alerts if a["status"] == "firing"} >= {"n00_normal", "country", "prediction"}
    assert "Traceback" not in log.read_text()
    notices = log.read_text().count("label joining is not supported by `driftline run` yet")
    assert notices == (1 if workers == 1 else 0)



def test_exactly_once_two_workers_write_the_reports_of_replay_once(kafka, topic_factory, tmp_path):
    topic = topic_factory("preds", partitions=4)
    group = f"eos-{topic[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group, extra="processing_guarantee: exactly_once\n")
    lines = _events(tmp_path)
    want = by_id(replay_reports(cfg, tmp_path / "events.jsonl", tmp_path / "replay"))
    produce(kafka.bootstrap, topic, lines)
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, "--workers", "2", log=log)   # rebalances commit their transactions
    try:
        got = wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc, committed=True)
    finally:
        stop(proc)
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
        wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc)
        status, body = http_get(url)
        assert status == 200
        assert http_get(url.replace("/metrics", "/healthz"))[0] == 200
    finally:
        stop(proc)
    expect = {
        f'driftline_events_total{{monitor="fraud",topic="{topic}"}} {len(lines) + len(bad)}.0',
        'driftline_events_invalid_total{monitor="fraud",reason="invalid_json"} 1.0',
        'driftline_events_invalid_total{monitor="fraud",reason="missing_field"} 1.0',
        'driftline_events_invalid_total{monitor="fraud",reason="not_an_object"} 1.0',
        'driftline_events_late_total{monitor="fraud"} 0.0',
        f'driftline_windows_judged_total{{monitor="fraud"}} {sum(1 for r in want.values() if r["model_version"] is None)}.0',
    }
    for line in expect:
        assert line in body, line
    for name in ("driftline_feature_drift_score", "driftline_feature_drift{", "driftline_drifted_features_ratio",
                 "driftline_prediction_drift_score", "driftline_alerts_total", "driftline_window_close_lag_seconds",
                 "driftline_consumer_lag_messages", "driftline_last_event_timestamp_seconds",
                 "driftline_batch_seconds_bucket"):
        assert name in body, name
