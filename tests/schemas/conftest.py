from __future__ import annotations

from pathlib import Path

import pytest

# DESIGN 3.2, verbatim.
DESIGN_CONFIG = """\
monitors:
  - name: fraud                          # [a-z0-9_-]+, unique
    source: {predictions: predictions, labels: labels}   # topic names; labels optional
    fields: {event_id: event_id, timestamp: timestamp, model_version: model_version,
             features: features, prediction: prediction.score, label: label}   # defaults
    features:
      amount:  {type: numeric, min: 0}
      country: {type: categorical}
    prediction: {type: numeric}          # or categorical (class labels)
    reference: {path: refs/fraud.json}   # built by `driftline reference build`
    window: {size: 5m, slide: 5m, grace: 30s, idle_timeout: 30s}   # slide < size = hopping
kafka: {bootstrap.servers: localhost:9092}      # any librdkafka setting passes through;
                                                # group.id defaults to driftline, auto.offset.reset to latest
outputs:                                        # defaults shown; key = monitor name, value = JSON
  reports: driftline.reports
  alerts: driftline.alerts
  retrain: driftline.retrain
  dlq: driftline.dlq
http: {host: 127.0.0.1, port: 9464}             # /metrics, /healthz, /readyz
"""


@pytest.fixture
def design_config() -> str:
    return DESIGN_CONFIG


@pytest.fixture
def write_config(tmp_path: Path):
    def write(text: str, name: str = "driftline.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
