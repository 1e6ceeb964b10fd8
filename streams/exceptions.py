"""Errors of the streaming layer. Each message tells the operator what to do; the CLI prints
it on one line and exits 2 (1 for ``TransactionFailed``, ``DeliveryFailed`` and
``BrokersUnreachable``, runtime failures that a restart may cure)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from driftline.schemas.messages import suggest

if TYPE_CHECKING:
    from driftline.schemas.config import Config


class DriftlineError(Exception):
    """Base of the user-facing errors of ``streams``."""


class ReferenceProfileError(DriftlineError):
    """A reference profile is missing, unreadable, or does not fit the monitor's config."""


class InputError(DriftlineError):
    """An input file (events, labels, training data) cannot be read."""


class UnknownMonitor(InputError):
    """``--monitor`` names no monitor of the config."""

    def __init__(self, name: str, config: Config) -> None:
        names = [m.name for m in config.monitors]
        super().__init__(f"no monitor named {name!r} in {config.source_path or 'the config'} (its monitors: "
                         f"{', '.join(map(repr, names))}){suggest(name, names)}")


class KafkaSetupError(DriftlineError):
    """The broker is unreachable or a topic cannot be used."""


class BrokersUnreachable(KafkaSetupError):
    """The brokers did not answer (at start-up, or in time while a worker restores its state):
    maybe a wrong address, maybe an outage. A runtime failure (exit 1), so that ``run
    --workers`` (and a process supervisor) starts the worker again, and it resumes once the
    brokers are back."""


class TransactionFailed(DriftlineError):
    """Exactly-once mode: a checkpoint's transaction could not commit (the worker stops)."""


class DeliveryFailed(DriftlineError):
    """Outputs, partials or checkpoints could not be delivered to the broker (a runtime failure:
    the worker stops before committing, so a restart redoes the work since its last checkpoint)."""


class ListenError(DriftlineError):
    """The metrics and health endpoint cannot listen on its configured address."""


class StateMismatch(KafkaSetupError):
    """Saved state (a checkpoint or a partial) was built under another reference, feature list
    or window size than the monitor now has."""
