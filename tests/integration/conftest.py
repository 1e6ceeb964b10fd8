"""Fixtures for tests against a real single-node Kafka 4.x broker (kafka/broker.py).

The broker is started once per session (jars are fetched with Maven on first use
and cached in ~/.cache/driftline/kafka-jars/<version>).  If it cannot start, the
tests using it ERROR: they are never skipped.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BROKER_PY = ROOT / "kafka" / "broker.py"


def _load_broker_module():
    """Import kafka/broker.py by path (kafka/ is not a package)."""
    name = "driftline_kafka_broker"
    mod = sys.modules.get(name)
    if mod is None:
        spec = importlib.util.spec_from_file_location(name, BROKER_PY)
        assert spec is not None and spec.loader is not None, BROKER_PY
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod  # before exec: dataclasses/typing look it up
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            del sys.modules[name]
            raise
    return mod


broker = _load_broker_module()


@pytest.fixture(scope="session")
def kafka() -> Iterator[Any]:
    """A started ``LocalKafka``; ``kafka.bootstrap`` is ``"127.0.0.1:PORT"``."""
    k = broker.LocalKafka()
    t0 = time.monotonic()
    k.start()  # raises (-> test error, not skip) with the broker log tail on failure
    print(f"\n[kafka] {broker.KAFKA_VERSION} at {k.bootstrap}, started in "
          f"{time.monotonic() - t0:.1f}s")  # fmt: skip
    try:
        yield k
    finally:
        k.stop()


# '.' and '_' are legal but collide with each other in Kafka's metric names: avoid both.
_UNSAFE = re.compile(r"[^a-zA-Z0-9-]+")


@pytest.fixture
def topic_factory(kafka, request) -> Iterator[Callable[..., str]]:
    """``topic_factory(prefix="t", partitions=1, config=None) -> name``.

    Creates a uniquely named topic (test name + random suffix), waits for its
    partition leaders, and deletes it after the test.
    """
    created: list[str] = []
    test_name = _UNSAFE.sub("-", request.node.name)[:80].strip("-")

    def make(
        prefix: str = "t", partitions: int = 1, config: Mapping[str, Any] | None = None
    ) -> str:
        name = f"{_UNSAFE.sub('-', prefix)}-{test_name}-{uuid.uuid4().hex[:10]}"
        kafka.create_topic(name, partitions, config)
        created.append(name)
        return name

    yield make
    if created and kafka.running:
        try:
            kafka.delete_topics(*created, timeout=10)
        except Exception as e:  # cleanup only; the broker is thrown away anyway
            print(f"[kafka] could not delete topics {created}: {e}")
