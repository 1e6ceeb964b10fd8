"""Monitor configuration: frozen dataclasses built from a YAML file validated against
``config.schema.json``.

The dataclasses are the contract the rest of the code uses. ``load_config`` reads YAML
(DESIGN 3.2), validates it against the JSON Schema, applies the checks a schema cannot express
(unique monitor names, window size a multiple of slide, min <= max, ...) and builds them.
Every problem raises :class:`~driftline.schemas.exceptions.ConfigError` naming the exact key.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from driftline.schemas.durations import (
    DURATION_HINT,
    DurationRangeError,
    format_duration,
    parse_duration,
)
from driftline.schemas.exceptions import ConfigError
from driftline.schemas.messages import format_path, pick, render, show
from driftline.schemas.validate import validator_for
from driftline.schemas.yaml_io import read_yaml

__all__ = [
    "AlertsConfig",
    "Config",
    "ConfigError",
    "DriftConfig",
    "FeatureConfig",
    "FeatureType",
    "FieldsConfig",
    "HttpConfig",
    "LimitsConfig",
    "MonitorConfig",
    "OutputsConfig",
    "PerformanceConfig",
    "PredictionConfig",
    "QualityConfig",
    "RetrainConfig",
    "WindowConfig",
    "load_config",
    "parse_config",
    "parse_duration",
]

FeatureType = Literal["numeric", "categorical"]
PerformanceTask = Literal["binary", "classification", "regression"]
# The metrics of each task (as detectors/performance_metrics.METRICS; a test keeps them equal)
# and the prediction type each task reads.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "auc", "log_loss",
               "base_rate"),
    "classification": ("accuracy", "balanced_accuracy"),
    "regression": ("mae", "rmse", "bias", "r2"),
}
_TASK_PREDICTION = {"binary": "numeric", "classification": "categorical", "regression": "numeric"}
# Keys of the performance section that only one task uses.
_TASK_ONLY = {"threshold": "binary", "mae_increase": "regression"}


@dataclass(frozen=True)
class FeatureConfig:
    name: str
    type: FeatureType
    path: tuple[str, ...]  # dotted path split; default: fields.features path + (name,)
    min: float | None = None  # numeric only: values below are "out of range"
    max: float | None = None  # numeric only: values above are "out of range"


@dataclass(frozen=True)
class PredictionConfig:
    type: FeatureType
    path: tuple[str, ...]  # from fields.prediction, default ("prediction", "score")


@dataclass(frozen=True)
class FieldsConfig:
    event_id: tuple[str, ...] = ("event_id",)
    timestamp: tuple[str, ...] = ("timestamp",)
    model_version: tuple[str, ...] = ("model_version",)
    features: tuple[str, ...] = ("features",)
    prediction: tuple[str, ...] = ("prediction", "score")
    label: tuple[str, ...] = ("label",)


@dataclass(frozen=True)
class WindowConfig:
    size: float = 300.0  # seconds (from "5m")
    slide: float = 300.0  # seconds; slide < size = hopping; size must be a multiple of slide
    grace: float = 30.0  # seconds
    idle_timeout: float = 30.0  # seconds


@dataclass(frozen=True)
class DriftConfig:
    fdr_q: float = 0.01  # Benjamini-Hochberg level across a window's features
    numeric_effect: float = 0.1  # minimum Wasserstein / reference std for numeric drift
    categorical_effect: float = 0.1  # minimum Jensen-Shannon distance for categorical drift
    min_count: int = 30  # windows with fewer non-null values are not judged


@dataclass(frozen=True)
class QualityConfig:
    # each rate is an issue above the reference's own rate + this, and significantly above it
    null_rate_increase: float = 0.05  # share of null values
    out_of_range_rate: float = 0.01  # share of numeric values outside [min, max]
    new_category_rate: float = 0.05  # share of categorical values in categories the reference does not list


@dataclass(frozen=True)
class PipelineConfig:
    # a window's rate is an issue above this ceiling and significantly so (binomial test at
    # drift.fdr_q); None: not watched. 1%: a healthy producer sends no malformed events, and
    # a grace that fits the stream leaves next to none late; more is a fault to look at
    invalid_rate: float | None = 0.01  # dead letters among the events read while they came
    late_rate: float | None = 0.01  # events that arrived after their windows had closed


@dataclass(frozen=True)
class AlertsConfig:
    fire_after: int = 1  # consecutive bad windows before an alert fires
    resolve_after: int = 2  # consecutive good windows before it resolves
    severity: Literal["info", "warning", "critical"] = "warning"
    # the alert's runbook link; "{kind}" becomes the anchor of its kind (data-drift, ...)
    runbook: str = "https://github.com/driftline/driftline/blob/main/README.md#{kind}"
    per_version: bool = False  # also alert per model version (canary vs champion), not only overall
    # consecutive windows without a verdict (too few values, or no events of its model version)
    # after which a firing alert resolves, said in its evidence; None: it waits for a verdict
    expire_after: int | None = 12


@dataclass(frozen=True)
class RetrainConfig:
    enabled: bool = True
    cooldown: float = 3600.0  # seconds of event time between two requests of a monitor
    kinds: tuple[str, ...] = ("data_drift", "prediction_drift", "performance")


@dataclass(frozen=True)
class PerformanceConfig:
    """Metrics on joined labels and when they alert (detectors/performance_judge.py). A monitor
    has one only when its config has a ``performance`` section (``performance: {}`` for the
    defaults): only then does ``replay --labels`` join labels to it and ``reference build``
    record the baseline."""

    task: PerformanceTask = "binary"  # from prediction.type when not given
    threshold: float = 0.5  # binary: a score >= threshold predicts class 1
    alpha: float = 0.01  # level of the one-sided test against the reference's performance
    accuracy_drop: float = 0.05  # effect floor: accuracy at least this far below the reference's
    mae_increase: float = 0.1  # effect floor (regression): MAE at least this share above the reference's
    min_count: int = 30  # windows with fewer joined labels are not judged
    min: tuple[tuple[str, float], ...] = ()  # (metric, floor): alert when the metric is below
    max: tuple[tuple[str, float], ...] = ()  # (metric, ceiling): alert when the metric is above


@dataclass(frozen=True)
class MonitorConfig:
    name: str
    predictions_topic: str
    labels_topic: str | None
    fields: FieldsConfig
    features: tuple[FeatureConfig, ...]
    prediction: PredictionConfig | None
    reference_path: Path | None  # resolved relative to the config file's directory
    window: WindowConfig
    drift: DriftConfig
    quality: QualityConfig
    alerts: AlertsConfig
    retrain: RetrainConfig
    performance: PerformanceConfig | None = None  # None: no performance section, labels not joined
    pipeline: PipelineConfig = PipelineConfig()


@dataclass(frozen=True)
class OutputsConfig:
    reports: str = "driftline.reports"
    alerts: str = "driftline.alerts"
    retrain: str = "driftline.retrain"
    dlq: str = "driftline.dlq"


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 9464


@dataclass(frozen=True)
class LimitsConfig:
    max_event_bytes: int = 1_048_576  # larger events go to the DLQ (reason "too_large")
    batch_size: int = 5000  # events decoded per batch
    batch_bytes: int = 4_194_304  # and at most this many bytes of raw events per decoded batch
    checkpoint_interval: float = 5.0  # seconds between checkpoints of state + offsets (run)
    max_pending_labels: int = 1_000_000  # replay: labels waiting for their prediction; more is an error
    # run and the Faust adapter: labels, and predictions, that may wait in the label join of one
    # partition and monitor (each); beyond it the oldest leave. Both go into the partition's
    # checkpoint, one Kafka message of at most 64 MiB: 200,000 of each with 36-character ids
    # measured 27 MB of JSON and 138 MB of memory, so the default is half that
    max_join_waiting: int = 100_000
    # run and the Faust adapter: a prediction event whose time is more than this many seconds
    # after its Kafka record's timestamp goes to the dead letters (future_timestamp) instead of
    # moving its partition's watermark (None: no check). Producer clock skew is seconds to
    # minutes; an hour leaves room for batching producers while still catching wrong-timezone
    # and far-future bugs
    max_future: float | None = 3600.0
    # model versions of one window with a report of their own; the events of further versions
    # count in the all-versions report only. Each version of each open window holds a whole
    # sketch, so a payload field that is not a version (an id) would grow the state with every
    # event; champion, canary and shadow models, or an A/B/n test, stay well below 20
    max_model_versions: int = 20


@dataclass(frozen=True)
class Config:
    monitors: tuple[MonitorConfig, ...]
    kafka: dict[str, Any] = field(default_factory=dict)  # librdkafka settings, passed through
    outputs: OutputsConfig = OutputsConfig()
    http: HttpConfig = HttpConfig()
    limits: LimitsConfig = LimitsConfig()
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    source_path: Path | None = None


def load_config(path: str | Path) -> Config:
    """Read, validate and build a config file; raises ConfigError (file name in ``.file``)."""
    data = read_yaml(path)
    try:
        config = parse_config(data, base_dir=Path(path).absolute().parent)
    except ConfigError as exc:
        exc.file = exc.file or str(path)
        raise
    return dataclasses.replace(config, source_path=Path(path))


def parse_config(data: Any, base_dir: Path | None = None) -> Config:
    """Validate already-parsed YAML/JSON data and build a :class:`Config`.

    Relative ``reference.path`` values are resolved against ``base_dir`` when given.
    """
    if data is None:
        raise ConfigError("", 'the config is empty; expected a mapping with a "monitors" list')
    _check_plain(data, [])
    error = pick(validator_for("config").iter_errors(data))
    if error is not None:
        raise ConfigError(*render(error))
    monitors = tuple(
        _monitor(m, f"monitors[{i}]", base_dir) for i, m in enumerate(data["monitors"])
    )
    _check_unique_names(monitors)
    outputs = _section(OutputsConfig, data.get("outputs"), "outputs")
    _check_group_topics(group_id(data.get("kafka") or {}))
    _check_outputs(outputs, monitors, group_id(data.get("kafka") or {}))
    _check_group_protocol(data.get("kafka") or {}, monitors)
    guarantee = data.get("processing_guarantee", "at_least_once")
    if (data.get("kafka") or {}).get("transactional.id") and guarantee != "exactly_once":
        raise ConfigError("kafka.transactional.id", "is used only with processing_guarantee: exactly_once "
                          "(Kafka transactions); remove it or set that guarantee")
    return Config(
        monitors=monitors,
        kafka=dict(data.get("kafka") or {}),
        outputs=outputs,
        http=_section(HttpConfig, data.get("http"), "http"),
        limits=_section(LimitsConfig, data.get("limits"), "limits"),
        processing_guarantee=guarantee,
    )


_T = TypeVar("_T")
_DURATIONS = frozenset({"size", "slide", "grace", "idle_timeout", "cooldown", "checkpoint_interval",
                        "max_future"})
_MAX_INT = 2**63


def _check_plain(data: Any, path: list[Any]) -> None:
    """What JSON Schema cannot see: YAML's non-string keys (``1:``, ``yes:``), ``.nan``, ``.inf``
    and integers too large for librdkafka or a float."""
    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(key, str):
                raise ConfigError(
                    format_path(path), f'key {key!r} is not text; write it in quotes ("{key}")'
                )
            _check_plain(value, [*path, key])
    elif isinstance(data, list):
        for i, value in enumerate(data):
            _check_plain(value, [*path, i])
    elif isinstance(data, float) and not math.isfinite(data):
        raise ConfigError(format_path(path), "must be a finite number (not .nan or .inf)")
    elif isinstance(data, int) and not isinstance(data, bool) and abs(data) >= _MAX_INT:
        raise ConfigError(format_path(path), "number is too large")


def _section(cls: type[_T], data: dict[str, Any] | None, path: str) -> _T:
    """Build a defaults-only dataclass from a schema-valid mapping (same key names)."""
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not data or f.name not in data:
            continue
        value = data[f.name]
        if f.name in _DURATIONS:
            # null only where the schema allows it (max_future: no check)
            value = None if value is None else _duration(value, f"{path}.{f.name}")
        elif isinstance(f.default, tuple):
            value = tuple(value)
        elif isinstance(f.default, float):
            value = None if value is None else float(value)   # null only where the schema allows it
        elif isinstance(f.default, int) and not isinstance(f.default, bool):
            if isinstance(value, float) and abs(value) >= _MAX_INT:
                # JSON Schema counts 1e19 as an integer; no size or count can take it
                raise ConfigError(f"{path}.{f.name}", "number is too large")
            value = None if value is None else int(value)   # null only where the schema allows it
        kwargs[f.name] = value
    return cls(**kwargs)


def _duration(value: Any, path: str) -> float:
    try:
        return parse_duration(value)
    except DurationRangeError as exc:
        raise ConfigError(path, f"{show(value)} {exc.reason}") from None
    except ValueError:
        raise ConfigError(path, f"{show(value)} is not {DURATION_HINT}") from None


def _dotted(text: str) -> tuple[str, ...]:
    return tuple(text.split("."))


def _monitor(m: dict[str, Any], path: str, base_dir: Path | None) -> MonitorConfig:
    fields = FieldsConfig(**{k: _dotted(v) for k, v in (m.get("fields") or {}).items()})
    source = m["source"]
    if isinstance(source, str):
        predictions, labels = source, None
    else:
        predictions, labels = source["predictions"], source.get("labels")
    features = tuple(
        _feature(name, spec, fields, f"{path}.features.{name}")
        for name, spec in m["features"].items()
    )
    prediction = None
    if "prediction" in m:
        prediction = PredictionConfig(type=m["prediction"]["type"], path=fields.prediction)
    reference_path = None
    if "reference" in m:
        reference_path = Path(m["reference"]["path"]).expanduser()
        if base_dir is not None and not reference_path.is_absolute():
            reference_path = base_dir / reference_path
    _check_paths(fields, features, prediction, path)
    return MonitorConfig(
        name=m["name"],
        predictions_topic=predictions,
        labels_topic=labels,
        fields=fields,
        features=features,
        prediction=prediction,
        reference_path=reference_path,
        window=_window(m.get("window") or {}, f"{path}.window"),
        drift=_section(DriftConfig, m.get("drift"), f"{path}.drift"),
        quality=_section(QualityConfig, m.get("quality"), f"{path}.quality"),
        alerts=_section(AlertsConfig, m.get("alerts"), f"{path}.alerts"),
        retrain=_section(RetrainConfig, m.get("retrain"), f"{path}.retrain"),
        performance=_performance(m.get("performance"), f"{path}.performance", prediction),
        pipeline=_section(PipelineConfig, m.get("pipeline"), f"{path}.pipeline"),
    )


def _performance(data: dict[str, Any] | None, path: str,
                 prediction: PredictionConfig | None) -> PerformanceConfig | None:
    if data is None:
        return None
    if prediction is None:
        raise ConfigError(path, "needs a prediction to compare labels with; add "
                                "prediction: {type: numeric} (or categorical)")
    task = data.get("task") or ("binary" if prediction.type == "numeric" else "classification")
    if _TASK_PREDICTION[task] != prediction.type:
        raise ConfigError(f"{path}.task", f'"{task}" needs a {_TASK_PREDICTION[task]} prediction, '
                                          f"this monitor's is {prediction.type}")
    for key, only in _TASK_ONLY.items():
        if key in data and task != only:
            raise ConfigError(f"{path}.{key}", f"only task {only} takes {key}, this monitor's task is {task}")
    if "accuracy_drop" in data and task == "regression":
        raise ConfigError(f"{path}.accuracy_drop", "task regression is judged on mae_increase, not accuracy_drop")
    bounds = {}
    for key in ("min", "max"):
        for metric in data.get(key) or {}:
            if metric not in TASK_METRICS[task]:
                raise ConfigError(f"{path}.{key}.{metric}", f"{metric} is not a metric of task {task} "
                                                            f"(it has {', '.join(TASK_METRICS[task])})")
        bounds[key] = tuple(sorted((k, float(v)) for k, v in (data.get(key) or {}).items()))
    plain = {k: v for k, v in data.items() if k not in ("task", "min", "max")}
    return dataclasses.replace(_section(PerformanceConfig, plain, path), task=task, **bounds)


def _feature(name: str, spec: dict[str, Any], fields: FieldsConfig, path: str) -> FeatureConfig:
    lo, hi = spec.get("min"), spec.get("max")
    if spec["type"] != "numeric":
        for key in ("min", "max"):
            if key in spec:
                raise ConfigError(
                    f"{path}.{key}",
                    f"only numeric features take min/max, this one is {spec['type']}",
                )
    if lo is not None and hi is not None and lo > hi:
        raise ConfigError(f"{path}.min", f"must not be greater than max ({hi}), got {lo}")
    feature_path = _dotted(spec["path"]) if "path" in spec else (*fields.features, name)
    return FeatureConfig(
        name=name,
        type=spec["type"],
        path=feature_path,
        min=None if lo is None else float(lo),
        max=None if hi is None else float(hi),
    )


def _window(data: dict[str, Any], path: str) -> WindowConfig:
    if "slide" not in data and "size" in data:
        data = {**data, "slide": data["size"]}  # only a size given: tumbling windows
    window = _section(WindowConfig, data, path)
    for key in ("size", "slide", "idle_timeout"):
        if getattr(window, key) <= 0:
            raise ConfigError(f"{path}.{key}", f"must be longer than 0, got {show(data[key])}")
    if window.slide > window.size:
        raise ConfigError(
            f"{path}.slide",
            f"must not be longer than window.size ({format_duration(window.size)}), "
            f"got {format_duration(window.slide)}",
        )
    ratio = window.size / window.slide
    if not math.isclose(ratio, round(ratio), rel_tol=1e-9, abs_tol=1e-9):
        raise ConfigError(
            f"{path}.size",
            f"must be a whole multiple of window.slide ({format_duration(window.slide)}), "
            f"got {format_duration(window.size)}",
        )
    return window


def _check_paths(fields: FieldsConfig, features: tuple[FeatureConfig, ...],
                 prediction: PredictionConfig | None, path: str) -> None:
    """No value a monitor reads lies inside another (an event could never hold both: every one
    would be a dead letter); one value read under two names is fine."""
    named = [(f"{path}.fields.event_id", fields.event_id), (f"{path}.fields.timestamp", fields.timestamp),
             (f"{path}.fields.model_version", fields.model_version)]
    if prediction is not None:
        named.append((f"{path}.fields.prediction", prediction.path))
    named += [(f"{path}.features.{f.name}", f.path) for f in features]
    for i, (key, p) in enumerate(named):
        for other_key, other in named[:i]:
            n = min(len(p), len(other))
            if p[:n] == other[:n] and p != other:     # one value read twice is fine
                where = "lies inside the value of" if len(p) > n else "holds the value of"
                raise ConfigError(key, f'"{".".join(p)}" {where} {other_key} ("{".".join(other)}"); '
                                       "each value needs a path of its own")


def _check_unique_names(monitors: tuple[MonitorConfig, ...]) -> None:
    first: dict[str, int] = {}
    for i, monitor in enumerate(monitors):
        if monitor.name in first:
            raise ConfigError(
                f"monitors[{i}].name",
                f'"{monitor.name}" is already the name of monitors[{first[monitor.name]}]; '
                "monitor names must be unique",
            )
        first[monitor.name] = i


def _check_group_protocol(kafka: dict[str, Any], monitors: tuple[MonitorConfig, ...]) -> None:
    """The worker takes its assignments whole (eager rebalancing): refuse the protocols that
    hand them out piece by piece; and a label join needs partition p of both topics on one
    worker, which only ``range`` gives."""
    strategy = str(kafka.get("partition.assignment.strategy", "range"))
    if "cooperative" in strategy:
        raise ConfigError("kafka.partition.assignment.strategy", "cooperative-sticky is not supported; "
                          "use range (the default) or roundrobin")
    joined = [i for i, m in enumerate(monitors) if m.labels_topic is not None]
    if joined and strategy.split(",")[0].strip() != "range":
        raise ConfigError("kafka.partition.assignment.strategy", f"monitors[{joined[0]}] joins labels, which needs "
                          "partition p of its predictions and labels topics on one worker: only range "
                          "(the default) assigns them so")
    if str(kafka.get("group.protocol", "classic")) != "classic":
        raise ConfigError("kafka.group.protocol", "only the classic group protocol is supported")


# The consumer group when kafka.group.id is not set; it names the internal topics.
DEFAULT_GROUP = "driftline"


def group_id(kafka: dict[str, Any]) -> str:
    """The consumer group of the workers, from the ``kafka`` settings."""
    return str(kafka.get("group.id", DEFAULT_GROUP))


def internal_topics(group: str) -> dict[str, str]:
    """The topics a group of workers keeps to itself: its partial sketches and its changelog."""
    return {"partials": f"driftline.{group}.partials", "changelog": f"driftline.{group}.changelog"}


# Kafka's rule for topic names (Topic.validate): these characters, at most 249 of them.
_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def _check_group_topics(group: str) -> None:
    """The group id names the internal topics: it must make legal topic names. (An empty one
    would, but librdkafka cannot build a consumer without a group: it aborts the process.)"""
    if not group.strip():
        raise ConfigError("kafka.group.id", "is empty; name the consumer group of the workers (it also names "
                                            f"their internal topics; the default is {DEFAULT_GROUP!r})")
    for topic in internal_topics(group).values():
        if not _TOPIC_NAME.fullmatch(topic):
            raise ConfigError("kafka.group.id", f"{show(group)} names the internal topic {show(topic)}, which is not a "
                                                f"Kafka topic name (letters, digits, '.', '_' and '-', at most 249 "
                                                f"characters): choose a group id of those characters")


def _check_outputs(outputs: OutputsConfig, monitors: tuple[MonitorConfig, ...], group: str) -> None:
    used: dict[str, str] = {}
    internal = {topic: name for name, topic in internal_topics(group).items()}
    for f in dataclasses.fields(outputs):
        topic = getattr(outputs, f.name)
        if topic in used:
            raise ConfigError(
                f"outputs.{f.name}",
                f'"{topic}" is already the topic of outputs.{used[topic]}; each output needs its own topic',
            )
        if topic in internal:
            raise ConfigError(f"outputs.{f.name}", f'"{topic}" is the {internal[topic]} topic driftline keeps '
                              f'for group "{group}"; choose another topic')
        used[topic] = f.name
    predictions = {m.predictions_topic: i for i, m in enumerate(monitors)}
    for i, monitor in enumerate(monitors):
        if monitor.labels_topic in predictions:
            j = predictions[monitor.labels_topic]
            raise ConfigError(f"monitors[{i}].source.labels",
                              f'"{monitor.labels_topic}" is the predictions topic of monitors[{j}]; labels '
                              f"need a topic of their own")
        for key, topic in (
            ("predictions", monitor.predictions_topic),
            ("labels", monitor.labels_topic),
        ):
            if topic in used:
                raise ConfigError(
                    f"outputs.{used[topic]}",
                    f'"{topic}" is also a source topic (monitors[{i}].source.{key}); '
                    "driftline must not read its own output",
                )
            if topic in internal:
                raise ConfigError(f"monitors[{i}].source.{key}", f'"{topic}" is the {internal[topic]} topic '
                                  f'driftline keeps for group "{group}"; it is not a source of events')
