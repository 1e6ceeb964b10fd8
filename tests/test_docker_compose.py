"""``docker-compose.yml`` and ``docker/`` are shipped for users and validated here, not run
(no Docker engine on the development machines, DESIGN 6).

The file is always checked against the Compose Specification's JSON Schema and by the structure
checks (PyYAML); ``docker compose config`` runs too where the docker CLI has the compose plugin,
and ``promtool`` / ``amtool`` check the Prometheus and Alertmanager files.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import yaml
from driftline.schemas.config import load_config
from driftline.schemas.validate import instance_errors

from driftline import synth

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_SPEC = ROOT / "tests" / "data" / "compose-spec.json"
DOCKER = ROOT / "docker"
SERVICES = {"kafka", "driftline", "demo-producer", "prometheus", "alertmanager", "grafana"}
CONFIG_IN_CONTAINER = "/etc/driftline/driftline.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def _arg(cmd: list[str], flag: str) -> str:
    assert flag in cmd, f"{flag} missing from {cmd}"
    return cmd[cmd.index(flag) + 1]


def _binds(service: dict[str, Any]) -> dict[str, Path]:
    """container path -> repo path of the service's bind mounts (``./x:/y[:ro]``)."""
    out = {}
    for v in service.get("volumes") or []:
        if isinstance(v, str) and v.startswith("./"):
            source, target = v.split(":")[:2]
            out[target] = (ROOT / source).resolve()
    return out


def _named_volumes(service: dict[str, Any]) -> dict[str, str]:
    """container path -> named volume."""
    out = {}
    for v in service.get("volumes") or []:
        if isinstance(v, str) and not v.startswith(("./", "/", "~")):
            name, target = v.split(":")[:2]
            out[target] = name
    return out


def _published(service: dict[str, Any]) -> dict[int, int]:
    """host port -> container port."""
    out = {}
    for p in service.get("ports") or []:
        parts = str(p).split("/")[0].split(":")
        assert len(parts) in (2, 3), f"publish ports as HOST:CONTAINER, not {p!r}"
        out[int(parts[-2])] = int(parts[-1])
    return out


def _driftline_config_path(services) -> Path:
    cmd = _command(services["driftline"])
    path = _arg(cmd, "--config")
    binds = _binds(services["driftline"])
    assert path in binds, f"{path} is not mounted into the driftline service"
    return binds[path]


def _created_topics(service: dict[str, Any]) -> dict[str, tuple[int, str]]:
    """topic -> (partitions, bootstrap server) of the ``kafka-topics.sh --create`` calls of a
    one-shot service: kafka-topics.sh as entrypoint, or ``sh -c`` with calls joined by ``&&``
    (so the service fails when one does)."""
    entrypoint = service.get("entrypoint") or []
    argv = (shlex.split(entrypoint) if isinstance(entrypoint, str) else [str(e) for e in entrypoint]) + \
        _command(service)
    if argv[:2] == ["sh", "-c"]:
        assert len(argv) == 3, argv
        assert "||" not in argv[2] and ";" not in argv[2], f"a failing call must fail the service: {argv[2]}"
        calls = [shlex.split(call) for call in argv[2].split("&&")]
    else:
        calls = [argv]
    topics: dict[str, tuple[int, str]] = {}
    for call in calls:
        assert call[0].endswith("/kafka-topics.sh") and "--create" in call, call
        assert "--if-not-exists" in call, "a restart of the stack must not fail on the existing topics"
        topic = _arg(call, "--topic")
        assert topic not in topics, f"{topic} created twice"
        topics[topic] = (int(_arg(call, "--partitions")), _arg(call, "--bootstrap-server"))
    return topics


def _project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


# --------------------------------------------------------------------------- compose CLI


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        try:
            ok = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def test_the_file_follows_the_compose_specification(compose):
    """Against the Compose Specification's own JSON Schema (tests/data/README.md), always; and
    ``docker compose config`` too where the docker CLI has the compose plugin."""
    schema = orjson.loads(COMPOSE_SPEC.read_bytes())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=str)
    assert not errors, "\n".join(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)
    cli = _compose_cli()
    if cli is not None:
        res = subprocess.run([*cli, "-f", str(COMPOSE), "config", "-q"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr or res.stdout


def test_the_specification_check_catches_a_broken_file(compose):
    """The schema check can fail: a misspelt service key and environment of a wrong type are refused."""
    validator = jsonschema.Draft7Validator(orjson.loads(COMPOSE_SPEC.read_bytes()))
    broken = {**compose, "services": {**compose["services"], "kafka": {**compose["services"]["kafka"],
                                                                       "imagee": "x", "environment": 5}}}
    messages = [e.message for e in validator.iter_errors(broken)]
    assert any("imagee" in m for m in messages) and any(m.startswith("5 is not") for m in messages), messages


# --------------------------------------------------------------------------- structure


def test_services_exist(services):
    assert services.keys() >= SERVICES, f"missing: {sorted(SERVICES - services.keys())}"


def test_images_are_pinned(services):
    version = _project_version()
    for name, s in services.items():
        image = s.get("image")
        assert image, f"{name}: give an image (with a tag)"
        repo, _, tag = image.rpartition(":") if "@" not in image else (image, "", "digest")
        assert repo and tag and "/" not in tag, f"{name}: image {image!r} has no explicit tag"
        assert tag != "latest" and not tag.startswith("latest-"), f"{name}: {image!r} is not pinned"
        if "build" in s:
            assert image == f"driftline:{version}", f"{name}: built image should be tagged driftline:{version}"
    assert re.fullmatch(r"apache/kafka:4\.1\.\d+", services["kafka"]["image"])


def test_kafka_is_single_node_kraft(services):
    kafka = services["kafka"]
    env = _env(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@kafka:")
    for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"):
        assert env[key] == "1", key
    listeners = dict(item.split("://") for item in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) == set(protocols), "every listener needs a security protocol"
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    assert _published(kafka) == {9092: 9092}
    assert advertised["EXTERNAL"] == "localhost:9092", "the host reaches the broker at localhost:9092"
    for name, addr in advertised.items():
        assert listeners[name].rsplit(":", 1)[1] == addr.rsplit(":", 1)[1], f"{name}: port mismatch"
    assert "healthcheck" in kafka


def test_driftline_service_runs_the_cli_on_the_repo_config(services):
    d = services["driftline"]
    assert d["build"]["context"] == "."
    dockerfile = ROOT / d["build"]["dockerfile"]
    assert dockerfile.is_file()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile.read_text(), re.M)
    cmd = _command(d)
    assert cmd[:2] == ["driftline", "run"] and _arg(cmd, "--config") == CONFIG_IN_CONTAINER
    depends = d.get("depends_on") or {}
    assert "kafka" in depends
    assert _published(d) == {9464: 9464}


def test_driftline_config_loads_and_fits_the_stack(services):
    path = _driftline_config_path(services)
    assert path.is_file() and path.is_relative_to(ROOT), path
    cfg = load_config(path)
    # reachable: /metrics served on all interfaces at the published port
    assert cfg.http.host == "0.0.0.0"
    assert cfg.http.port in _published(services["driftline"]).values()
    # the broker address containers are given
    advertised = dict(item.split("://") for item in _env(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert cfg.kafka["bootstrap.servers"] in advertised.values()
    assert cfg.kafka["bootstrap.servers"].split(":")[0] == "kafka"
    # the source topics exist before driftline starts (kafka-init), and the demo events fit
    (monitor,) = cfg.monitors
    topics = _created_topics(services["kafka-init"])
    assert monitor.predictions_topic in topics
    assert {server for _, server in topics.values()} == {cfg.kafka["bootstrap.servers"]}
    assert services["driftline"]["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
    assert [f.name for f in monitor.features] == [*synth.NUMERIC, *synth.CATEGORIES]
    producer = _command(services["demo-producer"])
    assert _arg(producer, "--topic") == monitor.predictions_topic
    assert _arg(producer, "--bootstrap") == cfg.kafka["bootstrap.servers"]
    # the reference is built (one-shot service) into the volume driftline reads it from
    ref = str(monitor.reference_path)
    builder = services["driftline-reference"]
    assert f"--out {ref}" in " ".join(_command(builder))
    assert services["driftline"]["depends_on"]["driftline-reference"]["condition"] == \
        "service_completed_successfully"
    volume_of = [(target, vol) for target, vol in _named_volumes(services["driftline"]).items()
                 if ref.startswith(target.rstrip("/") + "/")]
    assert volume_of, f"{ref} is not on a volume of the driftline service"
    target, vol = volume_of[0]
    assert _named_volumes(builder).get(target) == vol
    assert _binds(builder).get(CONFIG_IN_CONTAINER) == path


def test_demo_joins_labels_from_a_copartitioned_topic(services):
    (monitor,) = load_config(_driftline_config_path(services)).monitors
    assert monitor.labels_topic and monitor.performance is not None, \
        "the demo config joins labels: source.labels and a performance section"
    assert monitor.performance.task == "binary"
    topics = _created_topics(services["kafka-init"])
    assert monitor.labels_topic in topics, f"kafka-init does not create {monitor.labels_topic!r}"
    partitions = topics[monitor.predictions_topic][0]
    assert topics[monitor.labels_topic][0] == partitions, \
        "driftline joins labels only from a topic with as many partitions as the predictions'"
    assert partitions == 3
    producer = _command(services["demo-producer"])
    assert _arg(producer, "--labels-topic") == monitor.labels_topic


def test_reference_service_builds_a_performance_baseline(services, tmp_path):
    """The driftline-reference service's command, run here with the container's paths mapped
    into tmp_path: the reference has the model's accuracy on the labelled training data, and
    `driftline validate` accepts the demo config with it."""
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "driftline").exists():
        pytest.skip("run from the virtualenv (make test): the driftline command is not beside python")
    builder = services["driftline-reference"]
    cmd = _command(builder)
    assert cmd[:2] == ["sh", "-c"] and len(cmd) == 3, cmd
    config_path = _driftline_config_path(services)
    (monitor,) = load_config(config_path).monitors
    (volume,) = [t for t in _named_volumes(builder) if str(monitor.reference_path).startswith(t.rstrip("/") + "/")]
    here = {CONFIG_IN_CONTAINER: str(tmp_path / "driftline.yaml"), volume: str(tmp_path / "volume"),
            "/tmp/": f"{tmp_path}/tmp/"}
    (tmp_path / "volume").mkdir()
    config_text = config_path.read_text()
    assert volume in config_text
    (tmp_path / "driftline.yaml").write_text(config_text.replace(volume, here[volume]))
    for container in here:
        assert container in cmd[2], f"{container} not in the driftline-reference command"
    script = re.sub("|".join(map(re.escape, here)), lambda m: here[m[0]], cmd[2])
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    res = subprocess.run(["sh", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    reference = tmp_path / "volume" / Path(monitor.reference_path).relative_to(volume)
    baseline = orjson.loads(reference.read_bytes()).get("performance")
    assert baseline, "the reference has no performance baseline: does the training data have a label column?"
    assert baseline["task"] == "binary" and abs(baseline["metrics"]["accuracy"] - (1 - synth.LABEL_ERROR)) < 0.02
    res = subprocess.run([str(bin_dir / "driftline"), "validate", "--config", str(tmp_path / "driftline.yaml")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_prometheus_scrapes_driftline_and_alerts_to_alertmanager(services):
    prom = services["prometheus"]
    binds = _binds(prom)
    config_path = _arg([a for c in _command(prom) for a in c.split("=", 1)], "--config.file")
    conf = yaml.safe_load(binds[config_path].read_text())
    targets = [t for job in conf["scrape_configs"] for sc in job.get("static_configs", [])
               for t in sc["targets"]]
    http_port = load_config(_driftline_config_path(services)).http.port
    assert f"driftline:{http_port}" in targets, targets
    am_targets = [t for am in conf["alerting"]["alertmanagers"] for sc in am["static_configs"]
                  for t in sc["targets"]]
    am_port = next(iter(_published(services["alertmanager"]).values()))
    assert am_targets == [f"alertmanager:{am_port}"]
    for rule_file in conf["rule_files"]:
        assert rule_file in binds and binds[rule_file].is_file(), f"{rule_file} is not mounted"
        rules = yaml.safe_load(binds[rule_file].read_text())
        exprs = " ".join(r["expr"] for g in rules["groups"] for r in g["rules"])
        assert "driftline_alert_firing" in exprs
        assert _driftline_series(exprs) <= _exported_series(), "a rule queries a series driftline does not export"


def test_alertmanager_and_grafana_files_exist(services):
    am = services["alertmanager"]
    config_path = _arg([a for c in _command(am) for a in c.split("=", 1)], "--config.file")
    assert yaml.safe_load(_binds(am)[config_path].read_text())["route"]["receiver"]
    grafana = _binds(services["grafana"])
    datasources = grafana["/etc/grafana/provisioning"] / "datasources"
    (ds,) = yaml.safe_load(next(datasources.glob("*.yml")).read_text())["datasources"]
    assert ds["url"] == f"http://prometheus:{next(iter(_published(services['prometheus']).values()))}"
    dashboards = list(grafana["/var/lib/grafana/dashboards"].glob("*.json"))
    assert dashboards and all(orjson.loads(p.read_bytes())["panels"] for p in dashboards)
    # the demo joins labels: its dashboard shows the model's accuracy and the label join
    exprs = " ".join(t["expr"] for p in dashboards for panel in orjson.loads(p.read_bytes())["panels"]
                     for t in panel.get("targets", []))
    for metric in ("driftline_model_performance", 'metric="accuracy"', "driftline_labels_total",
                   "driftline_label_join_waiting"):
        assert metric in exprs, f"no dashboard panel queries {metric}"
    # (a histogram's base name has no series: its panel stayed empty)
    assert _driftline_series(exprs) <= _exported_series(), "a panel queries a series driftline does not export"


def _driftline_series(exprs: str) -> set[str]:
    return set(re.findall(r"\bdriftline_[a-z_]+", exprs))


def _exported_series() -> set[str]:
    """The names of every sample a worker's /metrics can show (counters with _total,
    histograms with _bucket, _count and _sum), from a registry with every family filled."""
    import numpy as np
    from driftline.detectors.judgement import FeatureResult, WindowJudgement
    from driftline.detectors.performance_judge import PerformanceJudge
    from driftline.detectors.performance_sketch import PerformanceLayout, PerformanceSketch
    from driftline.streams.metrics import RuntimeStats, build_registry

    stats = RuntimeStats()
    stats.known("m", ["t"], "warning")
    x = FeatureResult("x", "numeric", 10, 0, 0.1, 0.1, 0.5, "wasserstein", 0.1, ks=0.1, wasserstein=0.1)
    pairs = PerformanceSketch(PerformanceLayout.binary())
    pairs.update(np.array([0.9, 0.1]), np.array([1.0, 0.0]))
    stats.judged("m", WindowJudgement((x,), x), [], {None: PerformanceJudge(None).judge(pairs)},
                 [(None, "data_drift", "x", "warning")])
    stats.invalid[("m", "invalid_json")] += 1
    stats.labels[("m", "pairs")] += 1
    stats.discarded["m"] += 1
    stats.last_event_ts["m"] = 1.0
    stats.consumer_lag[("t", 0)] = 0
    stats.join_waiting[("m", "labels")] = 0
    instruments = build_registry(stats)
    instruments.batch_seconds.observe(0.1)
    instruments.close_lag.labels("m").observe(0.1)
    return {s.name for family in instruments.registry.collect() for s in family.samples}


def test_ports_do_not_collide(services):
    seen: dict[int, str] = {}
    for name, s in services.items():
        for host_port in _published(s):
            assert host_port not in seen, f"host port {host_port}: {seen.get(host_port)} and {name}"
            seen[host_port] = name
    assert {3000, 9090, 9092, 9093, 9464} <= seen.keys()


def test_mounted_and_copied_files_exist(services):
    for name, s in services.items():
        for target, source in _binds(s).items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) is missing"
    copies = re.findall(r"^COPY\s+(.+)$", (DOCKER / "Dockerfile").read_text(), re.M)
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    for line in copies:
        for src in (s for s in line.split()[:-1] if not s.startswith("--")):
            assert (ROOT / src).exists(), f"Dockerfile copies {src}, which is not in the repo"
            assert f"!{src}" in ignore, f"{src} is excluded from the build context by Dockerfile.dockerignore"
    # every package directory of pyproject.toml goes into the image
    package_dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    copied = {src.rstrip("/") for line in copies for src in line.split()[:-1]}
    assert set(package_dirs.values()) <= copied


# --------------------------------------------------------------------------- tools, when present


def test_promtool_and_amtool_accept_the_files(tmp_path, services):
    promtool, amtool = shutil.which("promtool"), shutil.which("amtool")
    # `make test` installs both (scripts/system-deps.sh): their absence is a failure, not a skip
    assert promtool and amtool, "promtool / amtool missing: apt-get install prometheus prometheus-alertmanager"
    if promtool:
        prom_binds = _binds(services["prometheus"])
        conf = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
        # rule files at their repo paths, since /etc/prometheus is the container's
        conf["rule_files"] = [str(prom_binds[f]) for f in conf["rule_files"]]
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(conf))
        res = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
    if amtool:
        res = subprocess.run([amtool, "check-config", str(DOCKER / "alertmanager.yml")],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr


# --------------------------------------------------------------------------- demo producer


def _load_demo_producer():
    spec = importlib.util.spec_from_file_location("driftline_demo_producer", DOCKER / "demo_producer.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run_demo_producer(monkeypatch, *args: str) -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value) of every message the demo producer sends, with a fake Producer."""
    mod = _load_demo_producer()
    sent: list[tuple[str, bytes, bytes]] = []

    class FakeProducer:
        def __init__(self, conf):
            assert conf["partitioner"] == "murmur2_random"

        def produce(self, topic, value, key):
            sent.append((topic, key, value))

        def poll(self, _timeout):
            return 0

        def flush(self, _timeout):
            return 0

    monkeypatch.setattr(mod, "Producer", FakeProducer)
    assert mod.main(list(args)) == 0
    return sent


# 3000 events at once, drifting from event 1500
_DRIFTING = ("--total", "3000", "--rate", "1000000", "--drift-after", "0.0015")


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def test_demo_producer_sends_wall_clock_events_that_drift(monkeypatch):
    before = datetime.now(UTC).timestamp()
    sent = _run_demo_producer(monkeypatch, "--topic", "t", "--labels-topic", "l", *_DRIFTING)
    sent = [m for m in sent if m[0] == "t"]
    assert len(sent) == 3000
    events = [orjson.loads(v) for _, _, v in sent]
    assert [k for _, k, _ in sent] == [e["event_id"].encode() for e in events]
    stamps = [_epoch(e["timestamp"]) for e in events]
    assert stamps == sorted(stamps) and before - 1 <= stamps[0] and stamps[-1] <= before + 60
    # events fit the demo config, and the drift (from event 1500) shows in the DE share
    (monitor,) = load_config(DOCKER / "demo-config.yaml").monitors
    assert set(events[0]["features"]) == {f.name for f in monitor.features}
    de = [sum(e["features"]["country"] == "DE" for e in part) / len(part)
          for part in (events[:1500], events[1500:])]
    assert de[0] < 0.15 < 0.2 < de[1], de


def test_demo_producer_sends_labels_after_their_predictions(monkeypatch):
    sent = _run_demo_producer(monkeypatch, "--topic", "t", "--labels-topic", "l", *_DRIFTING)
    assert {t for t, _, _ in sent} == {"t", "l"}
    # by key: position in the send order, index in the stream, event
    sent_predictions = [(pos, k, v) for pos, (t, k, v) in enumerate(sent) if t == "t"]
    predictions = {k: (pos, n, orjson.loads(v)) for n, (pos, k, v) in enumerate(sent_predictions)}
    labels = [(pos, k, orjson.loads(v)) for pos, (t, k, v) in enumerate(sent) if t == "l"]
    assert len(predictions) == 3000 and len(labels) == 3000
    (monitor,) = load_config(DOCKER / "demo-config.yaml").monitors
    right: dict[bool, list[bool]] = {False: [], True: []}
    for pos, key, label in labels:
        assert not instance_errors("label_event", label), label
        assert key == label["event_id"].encode() and key in predictions, "labels are keyed by event id"
        pred_pos, n, event = predictions.pop(key)
        assert pred_pos < pos, f"the label of {key!r} was sent before its prediction"
        assert label["label"] in (0, 1)
        # after its prediction in event time, well within the window's grace (so it is joined)
        assert 0 < _epoch(label["timestamp"]) - _epoch(event["timestamp"]) < monitor.window.grace / 2
        right[n >= 1500].append(label["label"] == event["prediction"]["label"])
    assert not predictions, "every prediction gets its label"
    # the model's accuracy falls at the drift point: 0.90 -> 0.75
    before, after = (sum(r) / len(r) for r in (right[False], right[True]))
    assert abs(before - (1 - synth.LABEL_ERROR)) < 0.03, before
    assert abs(after - (1 - synth.DEMO_LABEL_ERROR)) < 0.04, after


def test_demo_producer_without_labels_topic_sends_only_predictions(monkeypatch):
    sent = _run_demo_producer(monkeypatch, "--topic", "t", "--labels-topic", "", "--total", "500",
                              "--rate", "1000000")
    assert len(sent) == 500 and {t for t, _, _ in sent} == {"t"}


def test_demo_producer_help_runs():
    res = subprocess.run([sys.executable, str(DOCKER / "demo_producer.py"), "--help"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "--drift-after" in res.stdout, res.stderr


def test_demo_producer_below_one_event_per_second_sleeps_between_events(monkeypatch):
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        assert len(naps) < 50, f"the producer loops without producing: {naps[:5]}"

    monkeypatch.setattr(time, "sleep", sleep)
    sent = _run_demo_producer(monkeypatch, "--topic", "t", "--labels-topic", "", "--total", "2", "--rate", "0.5")
    assert len(sent) == 2 and len(naps) == 2
    assert naps[0] > 1.5, "the next event is due 2 s after the first"
    stamps = [_epoch(orjson.loads(v)["timestamp"]) for _, _, v in sent]
    assert stamps[1] - stamps[0] == pytest.approx(2.0, abs=0.01)
