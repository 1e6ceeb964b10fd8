"""Broken configs: each names the exact key and says what is expected, on one line."""

from __future__ import annotations

import pytest
from driftline.schemas.config import load_config
from driftline.schemas.exceptions import ConfigError

# "@M" stands for a minimal valid monitor body.
M = "name: fraud, source: predictions, features: {amount: {type: numeric}}"

# fmt: off
CASES = [
    # (id, yaml, expected path, message fragment)
    ("duration-words", "monitors: [{@M, window: {size: 5 minutes}}]",
     "monitors[0].window.size", '"5 minutes" is not a duration like 30s, 5m, 1h'),
    ("unknown-monitor-key", "monitors: [{name: fraud, source: p, featurs: {a: {type: numeric}}}]",
     "monitors[0].featurs", 'unknown key (allowed: name, source, fields, features'),
    ("typo-suggestion", "monitors: [{name: fraud, source: p, featurs: {a: {type: numeric}}}]",
     "monitors[0].featurs", 'did you mean "features"?'),
    ("kafka-list", "monitors: [{@M}]\nkafka: [a, b]",
     "kafka", "expected a mapping, got a list"),
    ("group-id-topic-name", "monitors: [{@M}]\nkafka: {group.id: 'fraud team'}",
     "kafka.group.id", '"fraud team" names the internal topic "driftline.fraud team.partials", which is not a '
                       'Kafka topic name'),
    ("duration-seconds-too-long", "monitors: [{@M}]\nlimits: {checkpoint_interval: 1e15}", "limits.checkpoint_interval",
     "1000000000000000.0 is longer than the limit of 3650d"),
    ("float-too-large", "monitors: [{@M}]\nlimits: {batch_bytes: 1e19}", "limits.batch_bytes", "number is too large"),
    ("float-way-too-large", "monitors: [{@M}]\nlimits: {max_event_bytes: 1e30}", "limits.max_event_bytes",
     "number is too large"),
    ("pipeline-rate-above-one", "monitors: [{@M, pipeline: {invalid_rate: 5}}]", "monitors[0].pipeline.invalid_rate",
     "must be at most 1, got 5"),
    ("pipeline-rate-text", "monitors: [{@M, pipeline: {late_rate: 1%}}]", "monitors[0].pipeline.late_rate",
     "a share between 0 and 1, or null (not watched)"),
    ("pipeline-unknown-key", "monitors: [{@M, pipeline: {lag: 5}}]", "monitors[0].pipeline.lag",
     "unknown key (allowed: invalid_rate, late_rate)"),
    ("group-id-empty", "monitors: [{@M}]\nkafka: {group.id: ''}", "kafka.group.id", "is empty; name the consumer group"),
    ("group-id-blank", "monitors: [{@M}]\nkafka: {group.id: ' '}", "kafka.group.id", "is empty; name the consumer group"),
    ("group-id-too-long", "monitors: [{@M}]\nkafka: {group.id: " + "g" * 231 + "}",
     "kafka.group.id", "at most 249 characters"),
    ("kafka-value-type", "monitors: [{@M}]\nkafka: {sasl.password: [s3cret]}",
     "kafka.sasl.password", "expected a string, number or boolean, got a list"),
    ("no-monitors-key", "kafka: {}",
     "monitors", "required key is missing"),
    ("empty-monitors", "monitors: []",
     "monitors", "expected a non-empty list of monitors, got an empty list"),
    ("unknown-top-key", "monitors: [{@M}]\nmetrics: {port: 1}",
     "metrics", "unknown key (allowed: monitors, kafka, outputs, http, limits, processing_guarantee)"),
    ("missing-source", "monitors: [{name: fraud, features: {a: {type: numeric}}}]",
     "monitors[0].source", "required key is missing"),
    ("bad-name", "monitors: [{name: Fraud Model, source: p, features: {a: {type: numeric}}}]",
     "monitors[0].name", "is not a monitor name of lowercase letters"),
    ("duplicate-names", "monitors: [{@M}, {@M}]",
     "monitors[1].name", "monitor names must be unique"),
    ("source-list", "monitors: [{name: fraud, source: [a], features: {a: {type: numeric}}}]",
     "monitors[0].source", "expected a topic name or a mapping"),
    ("labels-are-predictions",
     "monitors: [{name: fraud, source: {predictions: p, labels: q}, features: {a: {type: numeric}}},"
     " {name: risk, source: {predictions: q}, features: {a: {type: numeric}}}]",
     "monitors[0].source.labels", '"q" is the predictions topic of monitors[1]; labels need a topic of their own'),
    ("source-bad-topic", "monitors: [{name: fraud, source: 'my topic', features: {a: {type: numeric}}}]",
     "monitors[0].source", '"my topic" is not a Kafka topic name'),
    ("source-missing-predictions", "monitors: [{name: fraud, source: {labels: l}, features: {a: {type: numeric}}}]",
     "monitors[0].source.predictions", "required key is missing"),
    ("empty-features", "monitors: [{name: fraud, source: p, features: {}}]",
     "monitors[0].features", "expected a non-empty mapping of feature name"),
    ("feature-name", "monitors: [{name: fraud, source: p, features: {'bad name': {type: numeric}}}]",
     "monitors[0].features.bad name", "is not a feature name"),
    ("feature-type-enum", "monitors: [{name: fraud, source: p, features: {a: {type: numerical}}}]",
     "monitors[0].features.a.type", 'expected one of numeric, categorical, got "numerical"'),
    ("feature-shorthand", "monitors: [{name: fraud, source: p, features: {a: numeric}}]",
     "monitors[0].features.a", "expected a feature mapping like {type: numeric, min: 0}, got a string"),
    ("min-gt-max", "monitors: [{name: fraud, source: p, features: {a: {type: numeric, min: 5, max: 1}}}]",
     "monitors[0].features.a.min", "must not be greater than max"),
    ("min-on-categorical", "monitors: [{name: fraud, source: p, features: {c: {type: categorical, min: 0}}}]",
     "monitors[0].features.c.min", "only numeric features take min/max"),
    ("feature-bad-path", "monitors: [{name: fraud, source: p, features: {a: {type: numeric, path: 'x..y'}}}]",
     "monitors[0].features.a.path", "is not a dotted field path"),
    ("path-inside-a-value", "monitors: [{@M, fields: {timestamp: event_id.at}}]",
     "monitors[0].fields.timestamp", '"event_id.at" lies inside the value of monitors[0].fields.event_id'),
    ("prediction-holds-features", "monitors: [{@M, prediction: {type: numeric}, fields: {prediction: features}}]",
     "monitors[0].features.amount", '"features.amount" lies inside the value of monitors[0].fields.prediction'),
    ("size-not-multiple", "monitors: [{@M, window: {size: 7m, slide: 5m}}]",
     "monitors[0].window.size", "must be a whole multiple of window.slide (5m), got 7m"),
    ("slide-zero", "monitors: [{@M, window: {size: 5m, slide: 0s}}]",
     "monitors[0].window.slide", "must be longer than 0"),
    ("slide-gt-size", "monitors: [{@M, window: {size: 1m, slide: 5m}}]",
     "monitors[0].window.slide", "must not be longer than window.size (1m)"),
    ("grace-negative", "monitors: [{@M, window: {grace: -5}}]",
     "monitors[0].window.grace", "-5 is not a duration"),
    ("window-null", "monitors: [{@M, window: }]",
     "monitors[0].window", "expected a mapping, got nothing (null)"),
    ("fdr-q-one", "monitors: [{@M, drift: {fdr_q: 1}}]",
     "monitors[0].drift.fdr_q", "strictly between 0 and 1"),
    ("effect-zero", "monitors: [{@M, drift: {categorical_effect: 0}}]",
     "monitors[0].drift.categorical_effect", "must be greater than 0, got 0"),
    ("fire-after-zero", "monitors: [{@M, alerts: {fire_after: 0}}]",
     "monitors[0].alerts.fire_after", "must be at least 1, got 0"),
    ("resolve-after-float", "monitors: [{@M, alerts: {resolve_after: 1.5}}]",
     "monitors[0].alerts.resolve_after", "expected an integer, got a number"),
    ("expire-after-zero", "monitors: [{@M, alerts: {expire_after: 0}}]",
     "monitors[0].alerts.expire_after", "must be at least 1, got 0"),
    ("severity-enum", "monitors: [{@M, alerts: {severity: critcal}}]",
     "monitors[0].alerts.severity", 'did you mean "critical"?'),
    ("retrain-kind", "monitors: [{@M, retrain: {kinds: [data_drift, drift]}}]",
     "monitors[0].retrain.kinds[1]", 'got "drift"'),
    ("retrain-enabled-type", "monitors: [{@M, retrain: {enabled: 'sometimes'}}]",
     "monitors[0].retrain.enabled", "expected true or false, got a string"),
    ("prediction-path-key", "monitors: [{@M, prediction: {type: numeric, path: x}}]",
     "monitors[0].prediction.path", "unknown key (allowed: type)"),
    ("reference-no-path", "monitors: [{@M, reference: {file: r.json}}]",
     "monitors[0].reference.file", "unknown key (allowed: path)"),
    ("output-topic-invalid", "monitors: [{@M}]\noutputs: {dlq: '..'}",
     "outputs.dlq", "is not a Kafka topic name"),
    ("output-topic-reused", "monitors: [{@M}]\noutputs: {alerts: driftline.reports}",
     "outputs.alerts", "is already the topic of outputs.reports"),
    ("source-predictions-empty",
     "monitors: [{name: f, source: {predictions: ''}, features: {x: {type: numeric}}}]",
     "monitors[0].source.predictions", "is not a Kafka topic name"),
    ("output-is-the-changelog", "monitors: [{@M}]\noutputs: {dlq: driftline.driftline.changelog}",
     "outputs.dlq", 'is the changelog topic driftline keeps for group "driftline"'),
    ("source-is-the-partials-topic",
     "monitors: [{name: f, source: driftline.g1.partials, features: {x: {type: numeric}}}]\nkafka: {group.id: g1}",
     "monitors[0].source.predictions", 'is the partials topic driftline keeps for group "g1"'),
    ("output-is-source", "monitors: [{@M}]\noutputs: {reports: predictions}",
     "outputs.reports", "driftline must not read its own output"),
    ("http-port", "monitors: [{@M}]\nhttp: {port: 70000}",
     "http.port", "must be at most 65535, got 70000"),
    ("limits-batch", "monitors: [{@M}]\nlimits: {batch_size: 0}",
     "limits.batch_size", "must be at least 1"),
    ("guarantee", "monitors: [{@M}]\nprocessing_guarantee: exactly_twice",
     "processing_guarantee", "expected one of at_least_once, exactly_once"),
    ("transactional-id", "monitors: [{@M}]\nkafka: {transactional.id: pod-0}",
     "kafka.transactional.id", "is used only with processing_guarantee: exactly_once"),
    ("cooperative", "monitors: [{@M}]\nkafka: {partition.assignment.strategy: cooperative-sticky}",
     "kafka.partition.assignment.strategy", "cooperative-sticky is not supported"),
    ("roundrobin-with-labels", "monitors: [{@M}, {name: g, source: {predictions: p2, labels: l2}, "
     "features: {x: {type: numeric}}, prediction: {type: numeric}, performance: {}}]\n"
     "kafka: {partition.assignment.strategy: roundrobin}",
     "kafka.partition.assignment.strategy", "monitors[1] joins labels, which needs partition p of its predictions"),
    ("group-protocol", "monitors: [{@M}]\nkafka: {group.protocol: consumer}",
     "kafka.group.protocol", "only the classic group protocol is supported"),
    ("fields-typo", "monitors: [{@M, fields: {timestmp: ts}}]",
     "monitors[0].fields.timestmp", 'did you mean "timestamp"?'),
    ("nan", "monitors: [{@M, drift: {fdr_q: .nan}}]",
     "monitors[0].drift.fdr_q", "must be a finite number"),
    ("huge-int", "monitors: [{@M, drift: {numeric_effect: 1000000000000000000000000000000}}]",
     "monitors[0].drift.numeric_effect", "number is too large"),
    ("non-string-key", "monitors: [{name: fraud, source: p, features: {1: {type: numeric}}}]",
     "monitors[0].features", "key 1 is not text"),
    ("performance-no-prediction", "monitors: [{@M, performance: {alpha: 0.05}}]",
     "monitors[0].performance", "needs a prediction to compare labels with"),
    ("performance-task-enum", "monitors: [{@M, prediction: {type: numeric}, performance: {task: ranking}}]",
     "monitors[0].performance.task", "expected one of binary, classification, regression"),
    ("performance-task-prediction", "monitors: [{@M, prediction: {type: categorical}, performance: {task: regression}}]",
     "monitors[0].performance.task", '"regression" needs a numeric prediction, this monitor\'s is categorical'),
    ("performance-binary-categorical", "monitors: [{@M, prediction: {type: categorical}, performance: {task: binary}}]",
     "monitors[0].performance.task", '"binary" needs a numeric prediction'),
    ("performance-threshold-task", "monitors: [{@M, prediction: {type: categorical}, performance: {threshold: 0.3}}]",
     "monitors[0].performance.threshold", "only task binary takes threshold, this monitor's task is classification"),
    ("performance-threshold-range", "monitors: [{@M, prediction: {type: numeric}, performance: {threshold: 2}}]",
     "monitors[0].performance.threshold", "2 is not a score threshold between 0 and 1"),
    ("performance-alpha", "monitors: [{@M, prediction: {type: numeric}, performance: {alpha: 0}}]",
     "monitors[0].performance.alpha", "strictly between 0 and 1"),
    ("performance-min-task", "monitors: [{@M, prediction: {type: categorical}, performance: {min: {auc: 0.8}}}]",
     "monitors[0].performance.min.auc", "auc is not a metric of task classification (it has accuracy, balanced_accuracy)"),
    ("performance-min-error", "monitors: [{@M, prediction: {type: numeric}, performance: {min: {mae: 1}}}]",
     "monitors[0].performance.min.mae", "unknown key (allowed: accuracy, balanced_accuracy"),
    ("performance-min-above-1", "monitors: [{@M, prediction: {type: numeric}, performance: {min: {accuracy: 1.5}}}]",
     "monitors[0].performance.min.accuracy", "must be at most 1, got 1.5"),
    ("performance-max-negative", "monitors: [{@M, prediction: {type: numeric}, performance: {task: regression, max: {rmse: -1}}}]",
     "monitors[0].performance.max.rmse", "must be at least 0, got -1"),
    ("performance-mae-increase-task", "monitors: [{@M, prediction: {type: numeric}, performance: {mae_increase: 0.2}}]",
     "monitors[0].performance.mae_increase", "only task regression takes mae_increase"),
    ("performance-accuracy-drop-regression",
     "monitors: [{@M, prediction: {type: numeric}, performance: {task: regression, accuracy_drop: 0.1}}]",
     "monitors[0].performance.accuracy_drop", "judged on mae_increase"),
    ("performance-typo", "monitors: [{@M, prediction: {type: numeric}, performance: {treshold: 0.4}}]",
     "monitors[0].performance.treshold", 'did you mean "threshold"?'),
    ("limits-max-pending-labels", "monitors: [{@M}]\nlimits: {max_pending_labels: 0}",
     "limits.max_pending_labels", "must be at least 1, got 0"),
    ("limits-max-future-words", "monitors: [{@M}]\nlimits: {max_future: an hour}",
     "limits.max_future", '"an hour" is not a duration like 30s, 5m, 1h'),
    ("limits-max-future-negative", "monitors: [{@M}]\nlimits: {max_future: -1}",
     "limits.max_future", "-1 is not a duration like 30s, 5m, 1h"),
    ("limits-max-future-bool", "monitors: [{@M}]\nlimits: {max_future: off}",
     "limits.max_future", "expected a duration like 30s, 5m, 1h, or null (no check), got a boolean"),
    ("limits-max-future-list", "monitors: [{@M}]\nlimits: {max_future: [1h]}",
     "limits.max_future", "expected a duration like 30s, 5m, 1h, or null (no check), got a list"),
    ("limits-max-future-fraction", "monitors: [{@M}]\nlimits: {max_future: 0.5ms}",
     "limits.max_future", '"0.5ms" is not a whole number of milliseconds'),
    ("limits-max-future-too-long", "monitors: [{@M}]\nlimits: {max_future: 4000d}",
     "limits.max_future", '"4000d" is longer than the limit of 3650d'),
]
# fmt: on


@pytest.mark.parametrize(
    ("text", "path", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_config(write_config, text: str, path: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write_config(text.replace("@M", M)))
    error = info.value
    assert error.path == path, str(error)
    assert fragment in error.message, str(error)
    assert str(error) == f"{path}: {error.message}"
    assert "\n" not in str(error)


@pytest.mark.parametrize("text", [
    "monitors: " + "[" * 300 + "]" * 300,                                   # PyYAML's own recursion
    "monitors: " + "[" * 40 + "]" * 40,                                     # parsed; checked before the rest
    "monitors:\n" + "".join("  " * (i + 1) + "-\n" for i in range(2000)),  # block style
])
def test_a_config_nested_too_deep_is_one_error_not_a_recursion(write_config, text: str) -> None:
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: nested more than 32 levels deep: not a driftline config"


def test_a_float_bound_beyond_the_integers_is_fine(write_config) -> None:
    """Only integer settings (sizes, counts) refuse 1e19: a feature's bounds are floats."""
    config = load_config(write_config("monitors: [{name: m, source: p, features: {wei: {type: numeric, max: 1.0e+21}}}]"))
    assert config.monitors[0].features[0].max == 1e21


def test_case_table_is_big_enough() -> None:
    assert len(CASES) >= 15
    assert len({c[0] for c in CASES}) == len(CASES)


def test_kafka_values_are_never_shown(write_config) -> None:
    text = f"monitors: [{{{M}}}]\nkafka: {{sasl.password: [hunter2-secret]}}"
    with pytest.raises(ConfigError) as info:
        load_config(write_config(text))
    assert "hunter2" not in str(info.value)
    assert info.value.path == "kafka.sasl.password"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("monitors:\n  - name: a\n   source: p\n", "not valid YAML at line 3, column"),
        ("monitors: [{name: a, name: b}]", "duplicate key 'name'"),
        ("", "the config is empty"),
        ("- a\n- b\n", 'expected a mapping with a "monitors" list, got a list'),
        ("monitors: [\n", "not valid YAML at line 2"),
        ("!!python/object:os.system {}", "not valid YAML at line 1"),
    ],
    ids=["indent", "duplicate-key", "empty", "top-level-list", "unclosed", "unsafe-tag"],
)
def test_file_level_errors(write_config, text: str, fragment: str) -> None:
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.path == ""
    assert info.value.file == str(path)
    assert str(info.value).startswith(f"{path}: ")
    assert fragment in str(info.value)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="file not found") as info:
        load_config(tmp_path / "nope.yaml")
    assert info.value.path == ""


def test_directory_and_binary(tmp_path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    binary = tmp_path / "x.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)


def test_config_error_is_a_value_error() -> None:
    error = ConfigError("a.b", "bad")
    assert isinstance(error, ValueError)
    assert str(error) == "a.b: bad"
