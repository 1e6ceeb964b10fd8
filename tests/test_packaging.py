"""pyproject.toml's metadata in the form current setuptools reads without deprecation warnings."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_license_is_an_spdx_expression_and_the_build_backend_can_read_it():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # a {text = ...} table makes setuptools >= 77 print a long deprecation warning on every install
    assert meta["project"]["license"] == "Apache-2.0"
    # an SPDX string is refused by setuptools < 77, so the build must not get an older one
    pins = [re.fullmatch(r"setuptools\s*>=\s*(\d+)(\.\d+)*", r) for r in meta["build-system"]["requires"]]
    assert [int(m.group(1)) >= 77 for m in pins if m] == [True], meta["build-system"]["requires"]
    # with a license expression, a License :: classifier is an error (PEP 639)
    assert not [c for c in meta["project"].get("classifiers", []) if c.startswith("License ::")]
