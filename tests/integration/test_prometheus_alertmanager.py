"""The on-call path end to end with the real binaries (Debian's ``prometheus`` and
``prometheus-alertmanager``, installed by ``make test``): a worker judges a drifting stream on
the broker, Prometheus scrapes its ``/metrics`` and evaluates the shipped rules
(``docker/prometheus-rules.yml``), and Alertmanager, with the shipped config
(``docker/alertmanager.yml``), holds the pages: one per alert driftline has firing, with its runbook,
and none for a feature that did not drift."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
import yaml

from driftline import synth

from .harness import (
    produce,
    replay_reports,
    start_worker,
    stop,
    wait_for_reports,
    wait_ready,
    write_setup,
)

pytestmark = pytest.mark.kafka

DOCKER = Path(__file__).resolve().parents[2] / "docker"
# Prometheus scrapes and evaluates the rules this often here (5 s in docker/prometheus.yml)
INTERVAL = "1s"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary(name: str) -> str:
    path = shutil.which(name)
    # `make test` installs both (scripts/system-deps.sh): their absence fails, never skips
    assert path, f"{name} missing: apt-get install prometheus prometheus-alertmanager (make system-deps)"
    return path


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return orjson.loads(resp.read())


def _wait_up(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        assert proc.poll() is None, f"{url}: the process exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{url} did not answer in {timeout}s:\n{log.read_text()[-3000:]}"
        time.sleep(0.3)


@pytest.fixture
def alertmanager(tmp_path) -> Iterator[str]:
    """The shipped Alertmanager config on a free loopback port; its base URL."""
    port = _free_port()
    log = tmp_path / "alertmanager.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([_binary("prometheus-alertmanager"), f"--config.file={DOCKER / 'alertmanager.yml'}",
                                 f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}",
                                 "--cluster.listen-address="], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(f"{url}/-/ready", proc, log)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def _start_prometheus(tmp_path: Path, metrics_url: str, alertmanager_url: str) -> tuple[subprocess.Popen, str]:
    """docker/prometheus.yml with the addresses of this test: the worker's /metrics, the
    Alertmanager above, the shipped rules at their repo path."""
    conf = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    conf["global"] = {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL}
    conf["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager_url.split("//")[1]]
    conf["rule_files"] = [str(DOCKER / "prometheus-rules.yml")]
    target = metrics_url.split("//")[1].split("/")[0]
    conf["scrape_configs"] = [{"job_name": "driftline", "static_configs": [{"targets": [target]}]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(conf))
    port = _free_port()
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([_binary("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                                 f"--web.listen-address=127.0.0.1:{port}"], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait_up(f"{url}/-/ready", proc, log)
    return proc, url


def test_a_drifted_feature_pages_through_prometheus_and_alertmanager(kafka, topic_factory, tmp_path, alertmanager):
    topic = topic_factory("oncall", partitions=2)
    group = f"oncall-{topic[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group)
    n = 6000   # 12 s of event time, drift from the middle on: the last window judged drifted
    lines = synth.events(np.random.default_rng(5), n, rate=500.0,
                         drift=synth.Drift(at=n // 2, mean_shift=1.0, category_share=0.4))
    synth.write_lines(tmp_path / "events.jsonl", lines)
    want = {r["report_id"]: r for r in replay_reports(cfg, tmp_path / "events.jsonl", tmp_path / "replay")}
    last = max((r for r in want.values() if r["model_version"] is None), key=lambda r: r["window_start"])
    assert synth.NUMERIC[0] in last["drifted_features"], f"the last window should drift on {synth.NUMERIC[0]}"
    # the alerts replay leaves firing at the end: each must page, and nothing else
    state: dict[tuple[str, str], str] = {}
    for a in map(orjson.loads, (tmp_path / "replay" / "alerts.jsonl").read_bytes().splitlines()):
        state[(a["kind"], a["subject"])] = a["status"]
    firing = {key for key, status in state.items() if status == "firing"}
    assert ("data_drift", synth.NUMERIC[0]) in firing, firing
    produce(kafka.bootstrap, topic, lines)
    log = tmp_path / "worker.log"
    worker = start_worker(cfg, log=log)
    prometheus = None
    try:
        metrics_url = wait_ready(log, worker)
        wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), worker, log=log)
        prometheus, prom_url = _start_prometheus(tmp_path, metrics_url, alertmanager)
        deadline, pages = time.monotonic() + 90, []
        while time.monotonic() < deadline:
            pages = [a for a in _get_json(f"{alertmanager}/api/v2/alerts")
                     if a["labels"].get("alertname") == "DriftlineAlert"]
            if {(a["labels"]["kind"], a["labels"]["subject"]) for a in pages} >= firing:
                break
            time.sleep(1.0)
        targets = _get_json(f"{prom_url}/api/v1/targets")["data"]["activeTargets"]
        rules = _get_json(f"{prom_url}/api/v1/rules")["data"]["groups"]
    finally:
        if prometheus is not None:
            prometheus.terminate()
            prometheus.wait(30)
        stop(worker)
    assert [t["health"] for t in targets] == ["up"], targets
    assert all(r["health"] == "ok" for g in rules for r in g["rules"]), rules   # every shipped rule evaluates
    assert {(a["labels"]["kind"], a["labels"]["subject"]) for a in pages} == firing, pages   # no page for a calm one
    for a in pages:
        assert a["labels"]["monitor"] == "fraud" and a["labels"]["severity"] == "warning"
        assert a["labels"]["model_version"] == "*"
        assert a["status"]["state"] == "active"
        assert a["annotations"]["runbook_url"].endswith("README.md#" + a["labels"]["kind"].replace("_", "-"))
        assert a["labels"]["subject"] in a["annotations"]["summary"]
