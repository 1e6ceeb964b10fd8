"""The examples in the docstrings of every ``streams`` module run (``detectors`` ones run through
pytest's --doctest-modules; ``streams`` is not on its test paths)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import driftline.streams
import pytest

MODULES = sorted(m.name for m in pkgutil.iter_modules(driftline.streams.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(f"driftline.streams.{name}")
    assert doctest.testmod(module).failed == 0
