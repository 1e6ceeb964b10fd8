"""librdkafka settings of driftline's clients: pass-through, defaults, and exactly-once mode."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

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
