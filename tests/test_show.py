"""``python -m driftline.show``: alert events as readable lines; anything else is a one-line error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

ALERT = {"type": "alert", "status": "firing", "severity": "warning", "kind": "data_drift", "monitor": "m",
         "model_version": None, "subject": "x", "statistic": "js", "value": 0.2, "threshold": 0.1,
         "p_value": 1e-9, "window_start": "2026-11-25T10:00:00Z", "window_end": "2026-11-25T10:00:10Z"}


def _show(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "driftline.show", *args], input=stdin, capture_output=True,
                          timeout=60)


def test_alerts_print_one_line_each(tmp_path: Path) -> None:
    (tmp_path / "alerts.jsonl").write_bytes(orjson.dumps(ALERT) + b"\n\n" + orjson.dumps({**ALERT, "status": "resolved"}))
    proc = _show(str(tmp_path / "alerts.jsonl"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert [line[:8] for line in lines] == ["FIRING  ", "resolved"]
    assert "m/all versions x: js=0.200 (floor 0.1) p=1e-09" in lines[0]
    pipeline = {**ALERT, "kind": "pipeline", "subject": "invalid_events", "statistic": "invalid_rate", "value": 0.05,
                "threshold": 0.01, "p_value": 2e-12}
    proc = _show(stdin=orjson.dumps(pipeline))
    assert "m/all versions invalid_events: invalid_rate=0.050 (limit 0.01) p=2e-12" in proc.stdout.decode()


def test_a_missing_file_or_another_record_is_a_one_line_error(tmp_path: Path) -> None:
    proc = _show(str(tmp_path / "nothere.jsonl"))
    assert proc.returncode == 2 and proc.stderr.decode().strip().splitlines() == [
        f"driftline.show: error: {tmp_path / 'nothere.jsonl'}: No such file or directory"]
    report = orjson.dumps({"type": "window_report", "report_id": "r1"})
    proc = _show(stdin=orjson.dumps(ALERT) + b"\n" + report + b"\n")
    assert proc.returncode == 2 and proc.stdout.decode().startswith("FIRING")
    assert proc.stderr.decode().strip().splitlines() == [
        "driftline.show: error: <stdin>, line 2: not an alert event (show reads alerts.jsonl or the alerts topic)"]


def test_a_reader_that_stops_early_is_no_error(tmp_path: Path) -> None:
    (tmp_path / "alerts.jsonl").write_bytes(b"\n".join([orjson.dumps(ALERT)] * 20_000))
    proc = subprocess.run(f"{sys.executable} -m driftline.show {tmp_path / 'alerts.jsonl'} | head -1",
                          shell=True, capture_output=True, timeout=120)
    assert proc.stdout.decode().startswith("FIRING") and b"Traceback" not in proc.stderr, proc.stderr


def test_odd_values_options_and_several_files(tmp_path: Path) -> None:
    for bad in ({"value": "0.5"}, {"p_value": "1e-5"}, {"value": [1]}, {"value": True}):
        proc = _show(stdin=orjson.dumps({**ALERT, **bad}))
        assert proc.returncode == 2 and b"Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.decode().strip().splitlines() == [
            "driftline.show: error: <stdin>, line 1: not a valid alert event (its value and p_value must be "
            "numbers or null) (show reads alerts.jsonl or the alerts topic)"]
    proc = _show(stdin=orjson.dumps({**ALERT, "severity": None, "kind": ["x"]}))
    assert proc.returncode == 0 and proc.stdout.decode().startswith("FIRING            ['x']"), proc.stderr
    proc = _show("-", "-", stdin=orjson.dumps(ALERT))     # stdin read once, not closed
    assert proc.returncode == 0 and len(proc.stdout.decode().splitlines()) == 1, proc.stderr
    proc = _show("--help")
    assert proc.returncode == 0 and proc.stdout.decode().startswith("usage: python -m driftline.show")
    proc = _show("--frobnicate")
    assert proc.returncode == 2 and proc.stderr.decode().startswith("driftline.show: error: unknown option")
    (tmp_path / "a.jsonl").write_bytes(orjson.dumps(ALERT))
    (tmp_path / "b.jsonl").write_bytes(orjson.dumps({**ALERT, "status": "resolved"}))
    proc = _show(str(tmp_path / "a.jsonl"), "-", str(tmp_path / "b.jsonl"), stdin=orjson.dumps(ALERT))
    assert proc.returncode == 0, proc.stderr
    assert [line[:8] for line in proc.stdout.decode().splitlines()] == ["FIRING  ", "FIRING  ", "resolved"]


def test_resolved_expired_and_empty_version_alerts_say_what_they_are() -> None:
    resolved = {**ALERT, "kind": "performance", "status": "resolved", "statistic": "accuracy", "value": 0.9,
                "threshold": None, "p_value": None}
    expired = {**ALERT, "status": "resolved", "statistic": None, "value": None, "threshold": None, "p_value": None,
               "evidence": {"expired_after_windows": 12}}
    lines = [orjson.dumps(a) for a in (resolved, expired, {**ALERT, "model_version": ""},
                                       {**ALERT, "model_version": "v3"})]
    proc = _show(stdin=b"\n".join(lines))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode().splitlines()
    assert "m/all versions x: accuracy=0.900  window" in out[0] and "None" not in out[0]
    assert "m/all versions x: expired after 12 windows without a verdict  window" in out[1]
    assert 'm/"" x: js=0.200' in out[2] and "m/v3 x: js=0.200" in out[3]
