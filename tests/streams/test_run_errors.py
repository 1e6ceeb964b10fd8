"""`driftline run` fails clearly, with one line and exit 2, when it cannot start (exit 1 when the
brokers do not answer: that may pass); secrets in the kafka section never appear in what it
prints. Once `run` has set up its JSON logs, that line is a JSON log line too (logger
``driftline``, level ``error``)."""

from __future__ import annotations

import socket
import subprocess
import sys

import orjson
import pytest

from driftline import synth

SECRET = "hunter2-do-not-print"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_with_kafka_settings(tmp_path, settings: str, extra: str = "", command: str = "run") -> subprocess.CompletedProcess:
    """``driftline run`` (or ``command``) on the synthetic monitor with ``settings`` added to
    its kafka section."""
    cfg = synth.config_yaml("reference.json", bootstrap=f"127.0.0.1:{_closed_port()}").replace(
        "kafka: {", f"kafka: {{{settings}, ")
    (tmp_path / "driftline.yaml").write_text(cfg + "http: {port: 0}\n" + extra)
    from driftline.streams.cli import main

    rows = synth.training_rows(__import__("numpy").random.default_rng(0), 500)
    synth.write_lines(tmp_path / "t.jsonl", rows)
    assert main(["reference", "build", "--config", str(tmp_path / "driftline.yaml"), "--monitor", "fraud",
                 "--input", str(tmp_path / "t.jsonl"), "--out", str(tmp_path / "reference.json")]) == 0
    return subprocess.run([sys.executable, "-m", "driftline", command, "--config", str(tmp_path / "driftline.yaml")],
                          capture_output=True, text=True, timeout=120)


def _one_error_line(proc: subprocess.CompletedProcess, code: int = 2) -> str:
    assert proc.returncode == code, proc.stderr
    ours = [line for line in proc.stderr.splitlines() if line.startswith("driftline: error:")]
    logged = [orjson.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    ours += [f"driftline: error: {e['msg']}" for e in logged if (e["logger"], e["level"]) == ("driftline", "error")]
    assert len(ours) == 1, proc.stderr
    assert SECRET not in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    return ours[0]


def test_unreachable_broker_exits_1_without_leaking_secrets(tmp_path):
    """Exit 1, a runtime failure: `run --workers` starts such a worker again (an outage passes),
    where exit 2 (a config error) would stop it for good."""
    proc = _run_with_kafka_settings(
        tmp_path, f"sasl.username: svc, sasl.password: {SECRET}, security.protocol: SASL_PLAINTEXT, "
                  "sasl.mechanism: PLAIN, socket.connection.setup.timeout.ms: 2000")
    line = _one_error_line(proc, code=1)
    assert "cannot reach the brokers" in line and "127.0.0.1:" in line
    # librdkafka's own lines ("%3|...|FAIL|..." by the hundred) go through the JSON logs
    assert not [x for x in proc.stderr.splitlines() if x.startswith("%")], proc.stderr[:2000]


@pytest.mark.parametrize(("settings", "extra", "says"), [
    ("no.such.setting: 1", "", 'No such configuration property: "no.such.setting"'),
    (f"partitioner: {SECRET}", "", 'configuration property "partitioner"'),   # value not quoted there
    (f"security.protocol: {SECRET}", "", 'invalid value for configuration property "security.protocol"'),
    ("enable.idempotence: false", "processing_guarantee: exactly_once\n",
     "`transactional.id` requires `enable.idempotence=true`"),
])
@pytest.mark.parametrize("command", ["run", "validate"])
def test_settings_librdkafka_refuses_exit_2_naming_the_key_not_the_value(tmp_path, settings, extra, says, command):
    line = _one_error_line(_run_with_kafka_settings(tmp_path, settings, extra, command))
    assert says in line and "fix the kafka section of the config" in line


@pytest.mark.parametrize(("kafka", "command"), [("kafka: {bootstrap.servers: ''}", "validate"),
                                               ("kafka: {bootstrap.servers: ''}", "run"), ("", "run")])
def test_no_brokers_named_exits_2_at_once_naming_the_key(tmp_path, kafka, command):
    """An empty ``bootstrap.servers``, or no kafka section for run (validate accepts a config
    without one: it may be for replay only)."""
    _run_with_kafka_settings(tmp_path, "client.id: x", command="validate")   # the reference
    cfg = tmp_path / "driftline.yaml"
    text = "\n".join(line for line in cfg.read_text().splitlines() if not line.startswith("kafka:"))
    cfg.write_text(f"{text}\n{kafka}\n")
    proc = subprocess.run([sys.executable, "-m", "driftline", command, "--config", str(cfg)],
                          capture_output=True, text=True, timeout=120)
    assert _one_error_line(proc) == ("driftline: error: kafka.bootstrap.servers: not set; name the brokers "
                                     "to start from (host:port, comma-separated)")


def test_config_errors_under_kafka_name_the_key_not_the_value(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "monitors: [{name: f, source: t, features: {x: {type: numeric}}}]\n"
        f"kafka: {{sasl.password: [{SECRET}]}}\n")
    proc = subprocess.run([sys.executable, "-m", "driftline", "validate", "--config", str(tmp_path / "c.yaml")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "sasl.password" in proc.stderr
    assert SECRET not in proc.stderr


def test_run_says_once_what_it_will_not_do_with_labels(tmp_path):
    import logging

    from driftline.schemas.config import load_config
    from driftline.streams.run import warn_unjoined_labels

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("driftline.run")
    logger.addHandler(handler)
    plain = synth.config_yaml("reference.json")
    configs = {
        "a": plain,    # performance, but no labels topic
        "b": plain.replace("source: {predictions: predictions}", "source: {predictions: predictions, labels: labels}"),
        "c": synth.config_yaml("reference.json", performance=None).replace(
            "source: {predictions: predictions}", "source: {predictions: predictions, labels: labels}"),
        "d": synth.config_yaml("reference.json", performance=None),
    }
    said = {}
    try:
        for name, text in configs.items():
            (tmp_path / f"{name}.yaml").write_text(text)
            records.clear()
            warn_unjoined_labels(load_config(tmp_path / f"{name}.yaml"))
            said[name] = [(r.levelno, r.getMessage()) for r in records]
    finally:
        logger.removeHandler(handler)
    assert said["b"] == said["d"] == []       # it judges performance on its labels / reads none
    assert said["a"] == [(logging.WARNING, "monitors ['fraud'] have a `performance:` section but no "
                          "`source.labels` topic, so run judges no performance (replay does, with --labels)")]
    assert said["c"] == [(logging.WARNING, "monitors ['fraud'] name a labels topic but have no `performance:` "
                          "section, so run does not read their labels (add `performance: {}` to judge the model on them)")]


def test_a_metrics_port_in_use_exits_2_naming_it_before_the_broker_is_tried(tmp_path):
    _run_with_kafka_settings(tmp_path, "socket.connection.setup.timeout.ms: 2000", command="validate")
    cfg = tmp_path / "driftline.yaml"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg.write_text(cfg.read_text().replace("http: {port: 0}", f"http: {{port: {port}}}"))
        proc = subprocess.run([sys.executable, "-m", "driftline", "run", "--config", str(cfg)],
                              capture_output=True, text=True, timeout=120)
    line = _one_error_line(proc)
    # the broker (unreachable here) was not tried: the port is the first thing checked
    assert line.startswith(f"driftline: error: http: cannot listen on 127.0.0.1:{port} (Address already in use)")
    assert "own http.port" in line


def test_a_metrics_address_that_is_not_this_machines_exits_2_without_the_port_hint(tmp_path):
    _run_with_kafka_settings(tmp_path, "socket.connection.setup.timeout.ms: 2000", command="validate")
    cfg = tmp_path / "driftline.yaml"
    # 192.0.2.1 (TEST-NET-1, RFC 5737) is no address of this machine: bind fails at once
    cfg.write_text(cfg.read_text().replace("http: {port: 0}", "http: {host: 192.0.2.1, port: 0}"))
    proc = subprocess.run([sys.executable, "-m", "driftline", "run", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=120)
    line = _one_error_line(proc)
    assert line.startswith("driftline: error: http: cannot listen on 192.0.2.1:0 (")
    assert line.endswith("check http.host and http.port") and "own http.port" not in line


def test_the_supervisor_starts_again_a_worker_that_found_no_broker(tmp_path):
    """An outage at start-up is no config error: `run --workers` keeps starting the worker
    (it stopped for good at the first exit 2, and nothing ran once the brokers were back)."""
    import signal
    import time

    _run_with_kafka_settings(tmp_path, "socket.connection.setup.timeout.ms: 1000", command="validate")
    proc = subprocess.Popen([sys.executable, "-m", "driftline", "run", "--config", str(tmp_path / "driftline.yaml"),
                             "--workers", "2"], stderr=subprocess.PIPE, text=True)
    restarted, lines = False, []
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and not restarted:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            entry = orjson.loads(line) if line.startswith("{") else {}
            restarted = entry.get("msg") == "worker started again"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=60)
        lines.append(rest)
    assert restarted, "".join(lines)
    failed = [orjson.loads(x) for x in lines if x.startswith("{") and "worker failed" in x]
    assert failed and failed[0]["code"] == 1, "".join(lines)
