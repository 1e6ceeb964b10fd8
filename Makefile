# driftline: `make demo` runs the main job, `make test` runs every test. Both install what they
# need on a fresh machine: a virtualenv with the Python packages, the Kafka jars from Maven
# Central, and Debian packages (Java, Maven, Prometheus, Alertmanager) when they are missing.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-out

.PHONY: all venv system-deps kafka-jars test test-unit lint demo demo-replay bench clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Java and Maven run the Kafka broker of the tests and the demo (installed only when missing).
system-deps:
	@bash scripts/system-deps.sh

kafka-jars: venv system-deps
	$(PY) kafka/broker.py jars

lint: venv
	$(VENV)/bin/ruff check .

test: venv kafka-jars
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

test-unit: venv
	$(PY) -m pytest -q -m "not kafka"

# The first demo: a synthetic stream whose drift begins halfway (and the model's accuracy with
# it, on the joined labels), replayed through driftline.
demo-replay: venv
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	$(PY) -m driftline.synth demo --dir $(DEMO_DIR)
	cd $(DEMO_DIR) && ../$(VENV)/bin/driftline reference build --config driftline.yaml --monitor fraud --input training.jsonl --out reference.json
	cd $(DEMO_DIR) && ../$(VENV)/bin/driftline replay --config driftline.yaml --input events.jsonl --labels labels.jsonl --out out
	@echo "--- alerts ---"
	@$(PY) -m driftline.show $(DEMO_DIR)/out/alerts.jsonl

# The main job: a local Kafka broker, a live synthetic stream drifting after a minute,
# `driftline run`, and the alerts printed as they fire (DEMO_SECONDS=150 by default).
demo: venv kafka-jars
	$(PY) -m driftline.demo --dir $(DEMO_DIR)

bench: venv
	$(PY) benchmarks/replay_throughput.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) build *.egg-info
