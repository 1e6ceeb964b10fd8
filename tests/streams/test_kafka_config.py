"""librdkafka settings of driftline's clients: pass-through, defaults, and exactly-once mode."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
import time

import confluent_kafka
import pytest
from driftline.streams.kafka_config import (
    consumer_config,
    producer_config,
    reader_config,
    transactional_id,
)

SETTINGS = {"bootstrap.servers": "b:9092", "group.id": "g", "sasl.password": "s", "linger.ms": 20,
            "isolation.level": "read_uncommitted"}


def test_settings_pass_through_to_the_client_that_understands_them():
    c, p = consumer_config(SETTINGS), producer_config(SETTINGS)
    assert c["sasl.password"] == p["sasl.password"] == "s"
    assert "linger.ms" not in c and p["linger.ms"] == 20
    assert "group.id" not in p and c["group.id"] == "g"
    assert c["enable.auto.commit"] is False        # driftline commits after its checkpoint


def test_at_least_once_clients_are_not_transactional():
    assert "transactional.id" not in producer_config({**SETTINGS, "transactional.id": "t"})
    assert consumer_config(SETTINGS)["isolation.level"] == "read_uncommitted"   # the user's choice stands
    assert "isolation.level" not in reader_config(SETTINGS)


def test_exactly_once_clients_are_transactional_and_read_committed():
    p = producer_config(SETTINGS, transactional_id="driftline.g.h.0")
    assert p["transactional.id"] == "driftline.g.h.0" and p["enable.idempotence"] is True
    assert consumer_config(SETTINGS, read_committed=True)["isolation.level"] == "read_committed"
    assert reader_config(SETTINGS, read_committed=True)["isolation.level"] == "read_committed"


def test_transactional_ids_differ_by_worker_and_keep_across_restarts():
    ids = [transactional_id(SETTINGS, i) for i in range(3)]
    assert len(set(ids)) == 3
    restarted = subprocess.run(   # another process on this host: the same ids
        [sys.executable, "-c", "from driftline.streams.kafka_config import transactional_id; "
                               f"print([transactional_id({SETTINGS!r}, i) for i in range(3)])"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert restarted == repr(ids)
    assert ids[1].startswith("driftline.g.") and ids[1].endswith(".1")
    host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname())   # ids allow no other characters
    assert ids[0] == f"driftline.g.{host}.0"
    # an operator's stable name replaces group and host (e.g. a StatefulSet pod's)
    assert transactional_id({**SETTINGS, "transactional.id": "pod-7"}, 2) == "pod-7.2"


@pytest.mark.parametrize(("key", "user_codec"), [
    (None, None), ("compression.type", "zstd"), ("compression.codec", "gzip"),
])
def test_compression_defaults_to_lz4_unless_the_user_names_a_codec(key, user_codec):
    conf = producer_config(SETTINGS if key is None else {**SETTINGS, key: user_codec})
    codecs = {k: v for k, v in conf.items() if k in ("compression.type", "compression.codec")}
    assert codecs == ({"compression.type": "lz4"} if key is None else {key: user_codec})


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def effective_codec(conf: dict) -> str:
    """The codec a real librdkafka producer ends up with: it has no getter, but its ``conf``
    debug log dumps the configuration it was created with (no broker needed)."""
    handler, log = _Lines(), logging.getLogger("driftline.test.rdkafka_conf")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        producer = confluent_kafka.Producer({**conf, "debug": "conf"}, logger=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            producer.poll(0.1)       # delivers the queued log lines to the logger
            found = [m.group(1) for line in handler.lines
                     if (m := re.search(r"compression\.codec = (\S+)", line))]
            if found:
                return found[-1]
        raise AssertionError(f"no compression.codec in librdkafka's conf dump: {handler.lines[:20]}")
    finally:
        log.removeHandler(handler)


def test_librdkafka_uses_the_codec_the_user_named():
    user = {"bootstrap.servers": "127.0.0.1:1", "compression.codec": "gzip"}
    assert effective_codec(producer_config(user)) == "gzip"
    # both keys at once: the last one set wins, which is why the default must stay out
    assert effective_codec({**user, "compression.type": "lz4"}) == "lz4"
    assert effective_codec(producer_config({"bootstrap.servers": "127.0.0.1:1"})) == "lz4"


def test_check_settings_reaches_nothing_and_refuses_what_run_refuses():
    """``driftline validate``'s check: no connection to the brokers (under either name) nor to
    an OIDC token endpoint, all of them a listening socket here; a bad key is refused."""
    import contextlib
    import threading

    from driftline.streams.exceptions import KafkaSetupError
    from driftline.streams.kafka_config import check_settings

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        srv.settimeout(0.2)
        where = f"127.0.0.1:{srv.getsockname()[1]}"
        accepted: list[socket.socket] = []

        def accept() -> None:
            while not done.is_set():
                with contextlib.suppress(OSError):    # the accept timeout: look at done again
                    accepted.append(srv.accept()[0])

        done = threading.Event()
        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        oidc = {"security.protocol": "SASL_SSL", "sasl.mechanisms": "OAUTHBEARER", "sasl.oauthbearer.method": "oidc",
                "sasl.oauthbearer.client.id": "cid", "sasl.oauthbearer.client.secret": "s3cret",
                "sasl.oauthbearer.token.endpoint.url": f"http://{where}/token"}
        for settings in ({"bootstrap.servers": where}, {"bootstrap.servers": where, "metadata.broker.list": where},
                         {"bootstrap.servers": where, **oidc}):
            t0 = time.monotonic()
            check_settings(settings, exactly_once=True)
            assert time.monotonic() - t0 < 10
        time.sleep(1.0)       # a client that did connect would have by now
        done.set()
        thread.join()
        for c in accepted:
            c.close()
    assert accepted == []
    with pytest.raises(KafkaSetupError, match='No such configuration property: "bogus"'):
        check_settings({"bootstrap.servers": where, "bogus": 1})
    with pytest.raises(KafkaSetupError, match=r"kafka\.bootstrap\.servers: not set"):
        check_settings({"bootstrap.servers": " "})
