"""The shipped Prometheus rules (``docker/prometheus-rules.yml``) evaluated by ``promtool test
rules`` on synthetic series: each rule that watches what no window shows fires when it should
and stays quiet on a healthy stream."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

RULES = Path(__file__).resolve().parents[1] / "docker" / "prometheus-rules.yml"
EVENTS = 'driftline_events_total{job="driftline",instance="w0",monitor="fraud",topic="predictions"}'
LABELS = 'driftline_events_total{job="driftline",instance="w0",monitor="fraud",topic="labels"}'
INVALID = 'driftline_events_invalid_total{job="driftline",instance="w0",monitor="fraud",reason="bad_timestamp"}'
LATE = 'driftline_events_late_total{job="driftline",instance="w0",monitor="fraud"}'
LAST_EVENT = 'driftline_last_event_timestamp_seconds{job="driftline",instance="w0",monitor="fraud"}'


def _annotations(alert: str, monitor: str) -> dict[str, str]:
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    (rule,) = [r for r in rules if r.get("alert") == alert]
    return {k: v.replace("{{ $labels.monitor }}", monitor) for k, v in rule["annotations"].items()}


def _promtool_test(tmp_path: Path, series: dict[str, str], expected: list[tuple[str, bool]]) -> None:
    """``series``: name -> promtool values; ``expected``: (eval time, DriftlineNoUsableEvents firing)."""
    promtool = shutil.which("promtool")
    # `make test` installs it (scripts/system-deps.sh): its absence is a failure, not a skip
    assert promtool, "promtool missing: apt-get install prometheus"
    firing = [{"exp_labels": {"monitor": "fraud", "severity": "warning"},
               "exp_annotations": _annotations("DriftlineNoUsableEvents", "fraud")}]
    spec = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in series.items()],
            "alert_rule_test": [{"eval_time": t, "alertname": "DriftlineNoUsableEvents",
                                 "exp_alerts": firing if fires else []} for t, fires in expected],
        }],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(spec))
    res = subprocess.run([promtool, "test", "rules", str(tmp_path / "test.yml")], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_events_that_are_all_dead_letters_from_the_start_fire(tmp_path) -> None:
    # no usable event ever: the last-event gauge has no series at all
    _promtool_test(tmp_path, {EVENTS: "0+100x40", INVALID: "0+100x40"}, [("3m", False), ("10m", True)])


def test_usable_events_that_stop_while_junk_flows_fire(tmp_path) -> None:
    _promtool_test(tmp_path, {EVENTS: "0+100x60", INVALID: "0+1x10 10+100x50", LAST_EVENT: "1000+60x10 1600x50"},
                   [("20m", False), ("40m", True)])
    # ... or while only late events (older than the newest) come
    _promtool_test(tmp_path, {EVENTS: "0+100x60", LATE: "0x10 0+100x50", LAST_EVENT: "1000+60x10 1600x50"},
                   [("20m", False), ("40m", True)])


def test_a_healthy_stream_a_backfill_and_labels_alone_do_not_fire(tmp_path) -> None:
    _promtool_test(tmp_path, {EVENTS: "0+100x60", INVALID: "0+1x60", LAST_EVENT: "1000+60x60"},
                   [("10m", False), ("50m", False)])
    # a backfill of last week: event time far behind the clock, but moving
    _promtool_test(tmp_path, {EVENTS: "0+5000x60", LAST_EVENT: "1000+3000x60"}, [("50m", False)])
    # predictions paused, their labels still coming: nothing unusable flows
    _promtool_test(tmp_path, {EVENTS: "0+100x10 1000x50", LABELS: "0+100x60", INVALID: "0x60", LATE: "0x60",
                              LAST_EVENT: "1000+60x10 1600x50"}, [("40m", False)])


def test_no_events_at_all_is_another_rule(tmp_path) -> None:
    _promtool_test(tmp_path, {EVENTS: "100+0x60", INVALID: "0x60"}, [("30m", False)])
