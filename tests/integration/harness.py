"""Helpers for tests that run ``driftline run`` against the real broker."""

from __future__ import annotations

import operator
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from driftline.schemas.config import load_config
from driftline.streams import changelog
from driftline.streams.changelog import watermarks
from driftline.streams.reference_io import build_profile, write_reference
from driftline.streams.replay import replay
from driftline.streams.sinks import JsonlSink
from prometheus_client.parser import text_string_to_metric_families

from driftline import synth

ROOT = Path(__file__).resolve().parents[2]


def write_setup(tmp: Path, bootstrap: str, topic: str, group: str, *, window: str = "5s",
                extra: str = "", n_train: int = 10_000) -> Path:
    """Config + reference for the synthetic monitor reading ``topic``; returns the config path."""
    rng = np.random.default_rng(1)
    synth.write_lines(tmp / "training.jsonl", synth.training_rows(rng, n_train))
    text = synth.config_yaml("reference.json", window=window, topic=topic, bootstrap=bootstrap)
    text = text.replace("grace: 2s, idle_timeout: 5s", "grace: 1s, idle_timeout: 1s")
    text = text.replace(f"kafka: {{bootstrap.servers: '{bootstrap}'}}",
                        f"kafka: {{bootstrap.servers: '{bootstrap}', group.id: {group}, auto.offset.reset: earliest}}")
    text += "http: {port: 0}\nlimits: {checkpoint_interval: 500ms, batch_size: 500}\n"
    text += "outputs: {reports: %s.reports, alerts: %s.alerts, retrain: %s.retrain, dlq: %s.dlq}\n" % ((group,) * 4)
    text += extra
    cfg_path = tmp / "driftline.yaml"
    cfg_path.write_text(text)
    config = load_config(cfg_path)
    write_reference(build_profile(config.monitors[0], tmp / "training.jsonl"), tmp / "reference.json")
    return cfg_path


def produce(bootstrap: str, topic: str, lines: Iterable[bytes], key_of=None, partition_of=None) -> int:
    """``partition_of(i, line)``: the partition of the i-th line (default: by key)."""
    p = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 5})
    n = 0
    for line in lines:
        key = key_of(line) if key_of else orjson.loads(line)["event_id"].encode()
        where = {} if partition_of is None else {"partition": partition_of(n, line)}
        while True:
            try:
                p.produce(topic, line, key, **where)
                break
            except BufferError:
                p.poll(0.1)
        n += 1
        if n % 5000 == 0:
            p.poll(0)
    assert p.flush(30) == 0, "producer could not deliver to the test broker"
    return n


def read_topic(bootstrap: str, topic: str, timeout: float = 20.0, committed: bool = False) -> list[Any]:
    """Every message of ``topic`` now (values, headers), in partition order; ``committed``:
    only those of committed transactions (and non-transactional ones)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{time.time_ns()}",
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "isolation.level": "read_committed" if committed else "read_uncommitted"})
    try:
        md = c.list_topics(topic, timeout=10)
        parts = list(md.topics[topic].partitions)
        # a topic the worker has just created may still be electing its leaders: waited out
        ends = {p: watermarks(c, TopicPartition(topic, p), "reading")[1] for p in parts}
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts if ends[p] > 0])
        got = {p: 0 for p in parts}
        out = []
        deadline = time.monotonic() + timeout
        while any(got[p] < ends[p] for p in parts):
            assert time.monotonic() < deadline, f"reading {topic} timed out"
            for m in c.consume(1000, 0.5):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        # the end: transaction markers take offsets no message is read at, and
                        # a committed reader stops at the last stable offset
                        got[m.partition()] = ends[m.partition()]
                    continue
                out.append(m)
                got[m.partition()] = m.offset() + 1
        return out
    finally:
        c.close()


def read_json(bootstrap: str, topic: str, committed: bool = False) -> list[dict[str, Any]]:
    return [orjson.loads(m.value()) for m in read_topic(bootstrap, topic, committed=committed)]


def start_worker(cfg: Path, *args: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``driftline run`` in its own process group; its output goes to ``log``."""
    fh = log.open("ab")
    try:
        return subprocess.Popen([sys.executable, "-m", "driftline", "run", "--config", str(cfg), *args],
                                env={**os.environ, **(env or {})}, stdout=fh, stderr=fh,
                                start_new_session=True)
    finally:
        fh.close()


def stop(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM, and the worker must leave cleanly (exit 0) within ``timeout``: a worker that
    died on its own (a one-line error, exit 1 or 2) fails the test here."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"worker did not stop on SIGTERM within {timeout}s") from None
    assert proc.returncode == 0, f"worker exited {proc.returncode}, not 0 (see its log)"


def kill9(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def metrics_urls(log: Path) -> list[str]:
    """The /metrics address each worker logged on start (newest last)."""
    urls = []
    for line in log.read_text(errors="replace").splitlines():
        if '"worker started"' in line:
            urls.append(orjson.loads(line)["metrics"])
    return urls


def wait_ready(log: Path, proc: subprocess.Popen, started_before: int = 0, timeout: float = 60.0) -> str:
    """Wait until a worker started after the first ``started_before`` ones answers /readyz;
    returns its /metrics URL."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"worker exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        urls = metrics_urls(log)
        if len(urls) > started_before and http_get(urls[-1].replace("/metrics", "/readyz"))[0] == 200:
            return urls[-1]
        time.sleep(0.1)
    raise AssertionError(f"worker not ready after {timeout}s:\n{log.read_text()[-3000:]}")


def wait_all_ready(log: Path, proc: subprocess.Popen, n: int, timeout: float = 60.0) -> list[str]:
    """Wait until ``n`` workers have started and every one answers /readyz (for ``--workers
    n``: all of them hold their partitions); returns their /metrics URLs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"workers exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        urls = metrics_urls(log)
        if len(urls) >= n and all(http_get(u.replace("/metrics", "/readyz"))[0] == 200 for u in urls):
            return urls
        time.sleep(0.1)
    raise AssertionError(f"{n} workers not ready after {timeout}s:\n{log.read_text()[-3000:]}")


def checkpoints(bootstrap: str, group: str) -> dict[str, Any]:
    """The latest snapshot of each key in the group's changelog topic (none yet: {})."""
    topic = f"driftline.{group}.changelog"
    if not _exists(bootstrap, topic):
        return {}
    return changelog.read_all({"bootstrap.servers": bootstrap, "group.id": f"{group}-probe"}, topic)


def wait_checkpointed(bootstrap: str, group: str, done: Callable[[dict[str, Any]], bool],
                      proc: subprocess.Popen, what: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll the changelog until ``done(snapshots)``: a checkpoint the test relies on (rather
    than a sleep that a loaded machine can outlast)."""
    deadline = time.monotonic() + timeout
    while True:
        snaps = checkpoints(bootstrap, group)
        if done(snaps):
            return snaps
        assert proc.poll() is None, f"worker exited ({proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no checkpoint with {what} after {timeout}s: {sorted(snaps)}"
        time.sleep(0.3)


def window_key(report: dict[str, Any]) -> tuple[str, str | None, str]:
    """A report's window and version: what matches run's report to replay's where their
    counts differ (late events), and so do their ids (an id includes the count)."""
    return report["monitor"], report["model_version"], report["window_start"]


def wait_for_reports(bootstrap: str, topic: str, want_ids: set, proc: subprocess.Popen,
                     timeout: float = 90.0, committed: bool = False, log: Path | None = None,
                     key: Callable[[dict[str, Any]], Any] = operator.itemgetter("report_id")) -> list[dict[str, Any]]:
    """The reports of ``topic`` once they hold ``want_ids`` (their ``key``s: report ids by
    default); a failure shows the end of the worker's ``log`` (when given)."""
    deadline = time.monotonic() + timeout
    def tail() -> str:
        return "" if log is None else "; its log ends:\n" + log.read_text()[-4000:]

    while True:
        reports = read_json(bootstrap, topic, committed) if _exists(bootstrap, topic) else []
        if want_ids <= set(map(key, reports)):
            return reports
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"worker exited early ({proc.returncode}){tail()}")
        if time.monotonic() > deadline:
            missing = want_ids - set(map(key, reports))
            raise AssertionError(f"{len(missing)} reports still missing after {timeout}s{tail()}")
        time.sleep(1.0)


def _exists(bootstrap: str, topic: str) -> bool:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "exists-probe"})
    try:
        return topic in c.list_topics(timeout=10).topics
    finally:
        c.close()


def replay_reports(cfg: Path, events: Path, out: Path, labels: Path | None = None) -> list[dict[str, Any]]:
    sink = JsonlSink(out, atomic=True)
    try:
        replay(load_config(cfg), events, sink, labels=labels)
    finally:
        sink.close()
    return [orjson.loads(line) for line in (out / "reports.jsonl").read_bytes().splitlines()]


def by_id(reports: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Reports keyed by id; duplicates (re-emitted after a crash) must be identical."""
    out: dict[str, dict[str, Any]] = {}
    for r in reports:
        if r["report_id"] in out:
            assert out[r["report_id"]] == r, f"report {r['report_id']} re-emitted with other content"
        out[r["report_id"]] = r
    return out


def assert_reports_equal(got: dict[str, dict], want: dict[str, dict]) -> None:
    assert set(got) == set(want)
    for rid, w in want.items():
        g = got[rid]
        assert g["count"] == w["count"], (w["window_start"], g["count"], w["count"])
        _close(g, w, rid)


def _close(a: Any, b: Any, path: str) -> None:
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, float) and isinstance(b, float):
        assert abs(a - b) <= 1e-9, (path, a, b)
    else:
        assert a == b, (path, a, b)


Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(url: str) -> Samples:
    """``/metrics`` parsed: sample name -> (labels, value) of each series."""
    status, body = http_get(url)
    assert status == 200, f"{url} answered {status}"
    out: Samples = defaultdict(list)
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            out[sample.name].append((sample.labels, sample.value))
    return out


def sample(samples: Samples, name: str, **labels: str) -> float:
    """The value of the one series ``name`` whose labels include ``labels``."""
    found = [v for lab, v in samples.get(name, []) if labels.items() <= lab.items()]
    assert len(found) == 1, f"{name}{labels}: {len(found)} series"
    return found[0]


def events_seen(url: str) -> float:
    """``driftline_events_total`` of the worker behind ``url`` (0 when it cannot answer)."""
    if http_get(url)[0] != 200:
        return 0.0
    return sum(v for _, v in scrape(url).get("driftline_events_total", []))


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""
