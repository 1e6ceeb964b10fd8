"""Data contracts: JSON Schemas (package data) for events, config, reports, alerts, retrain
requests and dead letters, with the config loader and validators.

Import from the submodules: ``driftline.schemas.config`` (``load_config``, dataclasses),
``driftline.schemas.exceptions`` (``ConfigError``), ``driftline.schemas.validate``
(``validate_instance``), ``driftline.schemas.dlq`` (dead-letter headers and records).
"""
