"""Valid configs: the DESIGN example, defaults, and how values are built."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from driftline.schemas.config import (
    AlertsConfig,
    Config,
    DriftConfig,
    FieldsConfig,
    HttpConfig,
    LimitsConfig,
    OutputsConfig,
    PerformanceConfig,
    PipelineConfig,
    QualityConfig,
    RetrainConfig,
    WindowConfig,
    load_config,
    parse_config,
    parse_duration,
)
from driftline.schemas.validate import load_schema

M = "name: fraud, source: predictions, features: {amount: {type: numeric}}"


def test_design_example_loads_with_defaults(write_config, design_config: str) -> None:
    path = write_config(design_config)
    config = load_config(path)
    assert isinstance(config, Config)
    assert config.source_path == path
    (m,) = config.monitors
    assert m.name == "fraud"
    assert (m.predictions_topic, m.labels_topic) == ("predictions", "labels")
    assert m.fields == FieldsConfig()
    assert [(f.name, f.type, f.path, f.min, f.max) for f in m.features] == [
        ("amount", "numeric", ("features", "amount"), 0.0, None),
        ("country", "categorical", ("features", "country"), None, None),
    ]
    assert m.prediction is not None
    assert (m.prediction.type, m.prediction.path) == ("numeric", ("prediction", "score"))
    assert m.reference_path == path.parent.absolute() / "refs" / "fraud.json"
    assert m.window == WindowConfig(size=300.0, slide=300.0, grace=30.0, idle_timeout=30.0)
    assert m.drift == DriftConfig()
    assert m.quality == QualityConfig()
    assert m.pipeline == PipelineConfig()
    assert m.alerts == AlertsConfig()
    assert m.retrain == RetrainConfig()
    assert config.kafka == {"bootstrap.servers": "localhost:9092"}
    assert config.outputs == OutputsConfig()
    assert config.http == HttpConfig()
    assert config.limits == LimitsConfig()
    assert config.processing_guarantee == "at_least_once"


def test_minimal_config_defaults() -> None:
    config = parse_config(
        {
            "monitors": [
                {"name": "m", "source": "events", "features": {"x": {"type": "categorical"}}}
            ]
        }
    )
    (m,) = config.monitors
    assert (m.predictions_topic, m.labels_topic) == ("events", None)
    assert m.prediction is None
    assert m.reference_path is None
    assert m.window == WindowConfig()
    assert config.kafka == {}
    assert config.source_path is None


def test_every_section_and_override() -> None:
    data = {
        "monitors": [
            {
                "name": "churn_v2",
                "source": {"predictions": "preds", "labels": None},
                "fields": {
                    "features": "payload.inputs",
                    "prediction": "out.class",
                    "timestamp": "meta.ts",
                },
                "features": {
                    "plan": {"type": "categorical"},
                    "age": {"type": "numeric", "path": "user.age", "max": 130},
                },
                "prediction": {"type": "categorical"},
                "reference": {"path": "/abs/ref.json"},
                "window": {"size": "1h", "slide": "15m", "grace": 0, "idle_timeout": "250ms"},
                "drift": {
                    "fdr_q": 0.05,
                    "numeric_effect": 1,
                    "categorical_effect": 0.2,
                    "min_count": 100,
                },
                "quality": {
                    "null_rate_increase": 0.1,
                    "out_of_range_rate": 0,
                    "new_category_rate": 1,
                },
                "alerts": {
                    "fire_after": 3,
                    "resolve_after": 4,
                    "severity": "critical",
                    "runbook": "https://x/rb",
                    "expire_after": None,
                },
                "retrain": {"enabled": False, "cooldown": "2d", "kinds": ["performance"]},
                "pipeline": {"invalid_rate": None, "late_rate": 0},
            }
        ],
        "kafka": {
            "group.id": "g",
            "enable.auto.commit": False,
            "session.timeout.ms": 45000,
            "x.ratio": 0.5,
        },
        "outputs": {"reports": "r", "alerts": "a", "retrain": "t", "dlq": "d"},
        "http": {"host": "0.0.0.0", "port": 0},
        "limits": {"max_event_bytes": 1000, "batch_size": 10},
        "processing_guarantee": "exactly_once",
    }
    config = parse_config(data, base_dir=Path("/etc/driftline"))
    (m,) = config.monitors
    assert m.labels_topic is None
    assert m.fields.features == ("payload", "inputs")
    assert m.fields.timestamp == ("meta", "ts")
    assert m.fields.event_id == ("event_id",)
    assert [f.path for f in m.features] == [("payload", "inputs", "plan"), ("user", "age")]
    assert m.features[1].max == 130.0
    assert m.prediction is not None and m.prediction.path == ("out", "class")
    assert m.reference_path == Path("/abs/ref.json")
    assert m.window == WindowConfig(size=3600.0, slide=900.0, grace=0.0, idle_timeout=0.25)
    assert m.drift == DriftConfig(
        fdr_q=0.05, numeric_effect=1.0, categorical_effect=0.2, min_count=100
    )
    assert isinstance(m.drift.numeric_effect, float)
    assert m.quality == QualityConfig(0.1, 0.0, 1.0)
    assert m.alerts == AlertsConfig(3, 4, "critical", "https://x/rb", expire_after=None)
    assert m.retrain == RetrainConfig(enabled=False, cooldown=172800.0, kinds=("performance",))
    assert m.pipeline == PipelineConfig(invalid_rate=None, late_rate=0.0)
    assert isinstance(m.pipeline.late_rate, float)
    assert config.kafka == data["kafka"]  # passed through as given
    assert config.outputs == OutputsConfig("r", "a", "t", "d")
    assert config.http == HttpConfig("0.0.0.0", 0)
    assert config.limits == LimitsConfig(1000, 10)
    assert config.processing_guarantee == "exactly_once"


def test_performance_defaults_follow_the_prediction_type() -> None:
    def monitor(**extra) -> dict:
        return {"name": "m", "source": "t", "features": {"x": {"type": "numeric"}}, **extra}

    config = parse_config({"monitors": [
        monitor(),
        monitor(name="n", prediction={"type": "numeric"}, performance={}),
        monitor(name="c", prediction={"type": "categorical"}, performance={}),
        monitor(name="r", prediction={"type": "numeric"}, performance={
            "task": "regression", "mae_increase": 0.25, "alpha": 0.05, "min_count": 100,
            "min": {"r2": 0.5}, "max": {"rmse": 3, "mae": 2.5}}),
        monitor(name="b", prediction={"type": "numeric"}, performance={
            "threshold": 0.3, "accuracy_drop": 0.1, "min": {"auc": 0.8, "accuracy": 0.9}}),
    ]})
    none, binary, classes, regression, tuned = (m.performance for m in config.monitors)
    assert none is None
    assert binary == PerformanceConfig(task="binary")
    assert classes == PerformanceConfig(task="classification")
    assert regression == PerformanceConfig(task="regression", alpha=0.05, mae_increase=0.25, min_count=100,
                                           min=(("r2", 0.5),), max=(("mae", 2.5), ("rmse", 3.0)))
    assert isinstance(regression.max[1][1], float)
    assert tuned == PerformanceConfig(task="binary", threshold=0.3, accuracy_drop=0.1,
                                      min=(("accuracy", 0.9), ("auc", 0.8)))
    assert config.limits.max_pending_labels == 1_000_000


@pytest.mark.parametrize(("value", "seconds"), [("30m", 1800.0), (0, 0.0), (None, None), ("__absent__", 3600.0)])
def test_limits_max_future(value, seconds) -> None:
    """A duration, or null for no check; 1h when not given."""
    limits = {} if value == "__absent__" else {"max_future": value}
    config = parse_config({"monitors": [{"name": "m", "source": "p", "features": {"x": {"type": "numeric"}}}],
                           "limits": limits})
    assert config.limits.max_future == seconds


def test_a_prediction_alone_does_not_judge_performance() -> None:
    # without a performance section a monitor joins no labels and records no baseline
    config = parse_config({"monitors": [{"name": "m", "source": {"predictions": "p", "labels": "l"},
                                         "features": {"x": {"type": "numeric"}},
                                         "prediction": {"type": "numeric"}}]})
    assert config.monitors[0].performance is None


def test_task_metrics_are_the_detectors_metrics() -> None:
    from driftline.detectors.performance_metrics import HIGHER_IS_BETTER, LOWER_IS_BETTER, METRICS
    from driftline.schemas.config import TASK_METRICS

    assert TASK_METRICS == METRICS
    section = load_schema("config")["$defs"]["monitor"]["properties"]["performance"]["properties"]
    assert set(section["min"]["properties"]) == HIGHER_IS_BETTER
    assert set(section["max"]["properties"]) == LOWER_IS_BETTER


def test_size_alone_means_tumbling(write_config) -> None:
    config = load_config(write_config(f"monitors: [{{{M}, window: {{size: 1m}}}}]"))
    assert (config.monitors[0].window.size, config.monitors[0].window.slide) == (60.0, 60.0)


def test_hopping_window_and_bare_seconds(write_config) -> None:
    config = load_config(write_config(f"monitors: [{{{M}, window: {{size: 600, slide: 2m}}}}]"))
    assert (config.monitors[0].window.size, config.monitors[0].window.slide) == (600.0, 120.0)


def test_reference_relative_to_config_dir(tmp_path) -> None:
    sub = tmp_path / "conf"
    sub.mkdir()
    path = sub / "c.yaml"
    path.write_text(f"monitors: [{{{M}, reference: {{path: ../refs/r.json}}}}]")
    assert load_config(path).monitors[0].reference_path == sub / ".." / "refs" / "r.json"


def test_yaml12_floats(write_config) -> None:
    config = load_config(write_config(f"monitors: [{{{M}, drift: {{fdr_q: 1e-3}}}}]"))
    assert config.monitors[0].drift.fdr_q == pytest.approx(0.001)


def test_source_as_plain_string_and_several_monitors(write_config) -> None:
    text = f"monitors: [{{{M}}}, {{name: other, source: preds-2, features: {{a.b-c: {{type: categorical}}}}}}]"
    config = load_config(write_config(text))
    assert [m.name for m in config.monitors] == ["fraud", "other"]
    assert config.monitors[1].features[0].path == ("features", "a.b-c")


_SECTIONS = {
    "outputs": OutputsConfig,
    "http": HttpConfig,
    "limits": LimitsConfig,
}
_MONITOR_SECTIONS = {
    "fields": FieldsConfig,
    "window": WindowConfig,
    "drift": DriftConfig,
    "quality": QualityConfig,
    "alerts": AlertsConfig,
    "retrain": RetrainConfig,
    "performance": PerformanceConfig,
    "pipeline": PipelineConfig,
}


def _schema_defaults(section: dict) -> dict:
    return {k: v["default"] for k, v in section["properties"].items() if "default" in v}


def _as_config_value(cls: type, name: str, value: object) -> object:
    default = next(f.default for f in dataclasses.fields(cls) if f.name == name)
    if cls is FieldsConfig:
        return tuple(str(value).split("."))
    if isinstance(default, tuple):
        return tuple(value)  # type: ignore[arg-type]
    if isinstance(default, float) and isinstance(value, str):
        return parse_duration(value)
    return value


@pytest.mark.parametrize("name", [*_SECTIONS, *_MONITOR_SECTIONS])
def test_schema_keys_and_defaults_match_dataclasses(name: str) -> None:
    schema = load_schema("config")
    if name in _SECTIONS:
        cls, section = _SECTIONS[name], schema["properties"][name]
    else:
        cls, section = _MONITOR_SECTIONS[name], schema["$defs"]["monitor"]["properties"][name]
    assert set(section["properties"]) == {f.name for f in dataclasses.fields(cls)}
    built = {k: _as_config_value(cls, k, v) for k, v in _schema_defaults(section).items()}
    defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.name in built}
    assert built == defaults


def test_top_level_schema_matches_config() -> None:
    schema = load_schema("config")
    fields = {f.name for f in dataclasses.fields(Config)} - {"source_path"}
    assert set(schema["properties"]) == fields
    assert (
        schema["properties"]["processing_guarantee"]["default"]
        == Config.__dataclass_fields__["processing_guarantee"].default
    )


def test_the_readme_config_reference_loads_and_shows_the_defaults(write_config) -> None:
    """The README's config reference is a config that validates, and what it says are
    defaults are the defaults."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in readme.split("```yaml\n")[1:]]
    (text,) = [b for b in blocks if "processing_guarantee:" in b and b.startswith("monitors:")]
    config = load_config(write_config(text))
    (m,) = config.monitors
    assert (m.drift, m.quality, m.alerts, m.pipeline) == (DriftConfig(), QualityConfig(), AlertsConfig(),
                                                          PipelineConfig())
    assert config.outputs == OutputsConfig() and config.limits == LimitsConfig()
    assert config.http == HttpConfig() and m.performance is not None and m.performance.task == "binary"
