"""Errors raised by the schema layer."""

from __future__ import annotations


def _one_line(text: str) -> str:
    return " ".join(text.split())


class ConfigError(ValueError):
    """A configuration problem an operator can fix.

    ``path`` names the offending key, e.g. ``monitors[0].window.size``; it is ``""`` for
    problems with the file as a whole (missing, unreadable, not YAML). ``file`` is the
    config file, when known. ``str(error)`` is one line: ``"<path>: <what is wrong>"``
    (for file-level problems the file name stands in for the path).

    >>> str(ConfigError("monitors[0].window.size", "must be greater than 0"))
    'monitors[0].window.size: must be greater than 0'
    >>> str(ConfigError("", "file not found", file="conf.yaml"))
    'conf.yaml: file not found'
    """

    def __init__(self, path: str, message: str, *, file: str | None = None) -> None:
        super().__init__(path, message)
        self.path = path
        self.message = message
        self.file = file

    def __str__(self) -> str:
        where = self.path or self.file or "config"
        return _one_line(f"{where}: {self.message}")


class InvalidInstanceError(ValueError):
    """A document (event, report, alert, ...) that does not match its JSON Schema.

    ``kind`` is the schema (``"alert"``), ``path`` the offending location
    (``features.amount.psi``), ``errors`` every problem found as ``"<path>: <message>"``.
    """

    def __init__(self, kind: str, path: str, message: str, errors: list[str]) -> None:
        super().__init__(kind, path, message)
        self.kind = kind
        self.path = path
        self.message = message
        self.errors = errors

    def __str__(self) -> str:
        more = f" (+{len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        return _one_line(f"{self.kind}: {self.path or '<root>'}: {self.message}{more}")
