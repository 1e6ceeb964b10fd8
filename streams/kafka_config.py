"""librdkafka settings for driftline's consumers, producers and admin clients.

Settings from the config's ``kafka:`` section pass through unchanged (SASL and SSL included);
driftline only fills in defaults. Values are never logged or put in error messages.
"""

from __future__ import annotations

import re
import socket
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer
from driftline.schemas.config import DEFAULT_GROUP, group_id

from .exceptions import KafkaSetupError
from .logs import kafka_logger

# The largest message driftline produces (librdkafka refuses bigger ones when they are sent,
# and its default, 1,000,000 bytes, is below both a checkpoint of a few open windows of a wide
# monitor, ~3 MB per window sketch at 1,000 features, and a dead letter holding an event of up
# to ``limits.max_event_bytes``, 1 MiB by default). driftline creates its own topics with this
# ``max.message.bytes``; messages are compressed (lz4), so far fewer bytes reach the broker.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# How often the worker's consumer refreshes its metadata (ms; librdkafka's default is 5
# minutes), so partitions added to a source topic join the windows within ~10 s; one small
# metadata request each time.
NEW_PARTITIONS_SEEN_MS = 10_000

# Settings only a consumer understands; librdkafka warns when a producer gets them.
_CONSUMER_ONLY = frozenset({
    "group.id", "group.instance.id", "auto.offset.reset", "enable.auto.commit",
    "auto.commit.interval.ms", "enable.auto.offset.store", "session.timeout.ms",
    "heartbeat.interval.ms", "max.poll.interval.ms", "partition.assignment.strategy",
    "fetch.min.bytes", "fetch.wait.max.ms", "fetch.max.bytes", "max.partition.fetch.bytes",
    "isolation.level", "group.protocol", "queued.min.messages", "queued.max.messages.kbytes",
    "enable.partition.eof", "check.crcs", "group.remote.assignor",
})
_PRODUCER_ONLY = frozenset({
    "acks", "linger.ms", "batch.size", "batch.num.messages", "compression.type", "compression.codec",
    "enable.idempotence", "transactional.id", "partitioner", "queue.buffering.max.messages",
    "queue.buffering.max.kbytes", "message.timeout.ms", "delivery.timeout.ms", "retries",
    "max.in.flight.requests.per.connection", "request.required.acks", "transaction.timeout.ms",
})


def consumer_config(settings: dict[str, Any], *, auto_commit: bool = False,
                    read_committed: bool = False) -> dict[str, Any]:
    """``read_committed``: see only committed transactions (exactly-once mode)."""
    conf = {k: v for k, v in settings.items() if k not in _PRODUCER_ONLY}
    conf.setdefault("group.id", DEFAULT_GROUP)
    conf.setdefault("auto.offset.reset", "latest")
    # driftline commits itself, and only after the checkpoint that matches the offsets
    conf["enable.auto.commit"] = auto_commit
    conf.setdefault("enable.partition.eof", False)
    # partitions added to a source topic are seen (and assigned) within this, not librdkafka's
    # 5 minutes: until then tier 2 judges windows without them
    conf.setdefault("topic.metadata.refresh.interval.ms", NEW_PARTITIONS_SEEN_MS)
    if read_committed:
        conf["isolation.level"] = "read_committed"
    return _logging(conf)


def producer_config(settings: dict[str, Any], *, transactional_id: str | None = None) -> dict[str, Any]:
    """``transactional_id``: a transactional producer (exactly-once mode); otherwise
    ``transactional.id`` is left out (the config refuses it outside exactly-once mode)."""
    conf = {k: v for k, v in settings.items() if k not in _CONSUMER_ONLY and k != "transactional.id"}
    conf.setdefault("partitioner", "murmur2_random")   # keys land where Java clients put them
    conf.setdefault("enable.idempotence", True)
    conf.setdefault("linger.ms", 5)
    conf.setdefault("message.max.bytes", MAX_MESSAGE_BYTES)
    # sketches and reports are JSON: ~5x smaller. compression.codec is librdkafka's alias of
    # compression.type: with both set, the one set last (our default) would win
    if "compression.type" not in conf and "compression.codec" not in conf:
        conf["compression.type"] = "lz4"
    if transactional_id is not None:
        conf["transactional.id"] = transactional_id
    return _logging(conf)


def transactional_id(settings: dict[str, Any], index: int) -> str:
    """The transactional id of worker ``index``: ``kafka.transactional.id`` when set, else
    ``driftline.<group>.<host name>``, then ``.<index>``.

    It must differ between workers running at the same time (two producers with one id fence
    each other) and should stay the same when a worker restarts: the restarted worker then
    aborts the transaction its predecessor left open at once, instead of the broker doing so
    after ``transaction.timeout.ms`` (until then, committed readers of the partitions it wrote
    wait). Hosts with changing names (pods of a Deployment) set ``kafka.transactional.id``
    from a stable name, e.g. a StatefulSet pod's.
    """
    prefix = settings.get("transactional.id")
    if not prefix:
        host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "host"
        prefix = f"driftline.{group_id(settings)}.{host}"
    return f"{prefix}.{index}"


def admin_config(settings: dict[str, Any]) -> dict[str, Any]:
    return _logging({k: v for k, v in settings.items() if k not in _CONSUMER_ONLY and k not in _PRODUCER_ONLY})


def reader_config(settings: dict[str, Any], *, read_committed: bool = False) -> dict[str, Any]:
    """A group-less consumer that reads a topic from the beginning (changelog restore)."""
    conf = {k: v for k, v in settings.items() if k not in _PRODUCER_ONLY and k not in _CONSUMER_ONLY}
    conf.update({"group.id": f"{group_id(settings)}.restore", "enable.auto.commit": False,
                 "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    if read_committed:
        conf["isolation.level"] = "read_committed"
    return _logging(conf)


def client(factory: Any, conf: dict[str, Any]) -> Any:
    """A librdkafka client; a setting it refuses is the user's to fix (exit 2, no traceback),
    told without the refused value (it may be a secret)."""
    try:
        return factory(conf)
    except KafkaException as exc:
        why = re.sub(r'[Ii]nvalid value "[^"]*"', "invalid value", exc.args[0].str())
        for value in {str(v) for v in conf.values() if len(str(v)) >= 4}:
            why = why.replace(value, "<value>")
        raise KafkaSetupError(f"kafka: {why}; fix the kafka section of the config") from None


def require_brokers(settings: dict[str, Any]) -> None:
    """``KafkaSetupError`` when the settings name no broker to start from."""
    if not any(str(settings.get(k, "")).strip() for k in ("bootstrap.servers", "metadata.broker.list")):
        raise KafkaSetupError("kafka.bootstrap.servers: not set; name the brokers to start from "
                              "(host:port, comma-separated)")


def check_settings(settings: dict[str, Any], exactly_once: bool = False) -> None:
    """What ``driftline run`` refuses before it reaches a broker (``KafkaSetupError``, never
    showing a value): no broker named, or a setting librdkafka refuses (``exactly_once``: for
    a transactional producer). The clients are made without brokers and closed at once:
    nothing connects."""
    require_brokers(settings)
    client(Consumer, _offline(consumer_config(settings, read_committed=exactly_once))).close()
    tid = transactional_id(settings, 0) if exactly_once else None
    client(Producer, _offline(producer_config(settings, transactional_id=tid))).flush(0)


def _offline(conf: dict[str, Any]) -> dict[str, Any]:
    """``conf`` for a client that reaches nothing: no broker (under either name), no OIDC
    token request (librdkafka fetches a token when an ``oidc`` client is made; the OIDC
    settings are still checked), and no warning about any of it."""
    out = {k: v for k, v in conf.items() if k not in ("bootstrap.servers", "metadata.broker.list")}
    if str(out.get("sasl.oauthbearer.method", "")).lower() == "oidc":
        out["sasl.oauthbearer.token.endpoint.url"] = "http://127.0.0.1:0/"   # refused at once, locally
    return {**out, "bootstrap.servers": "", "log_level": 0}


def _logging(conf: dict[str, Any]) -> dict[str, Any]:
    """librdkafka logs through driftline's JSON logs (served as the client is polled), not as
    raw lines of its own on stderr."""
    conf["logger"] = kafka_logger()
    return conf
