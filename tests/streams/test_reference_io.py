"""Training data read by ``driftline reference build`` (streams/reference_io.py): odd files
give one-line errors or the values the live decoders would read."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from driftline.schemas.config import load_config
from driftline.streams.exceptions import InputError
from driftline.streams.reference_io import build_profile

CONFIG = """
monitors:
  - name: m
    source: p
    features:
      x: {type: numeric}
      c: {type: categorical}
"""


@pytest.fixture
def monitor(tmp_path: Path):
    (tmp_path / "c.yaml").write_text(CONFIG)
    return load_config(tmp_path / "c.yaml").monitors[0]


def test_an_empty_text_is_a_category_in_json_and_null_in_csv(tmp_path: Path, monitor) -> None:
    # the live decoder reads "" as a category: a JSON reference must too, or unchanged data
    # would show a new category and a null rate fallen to 0
    rows = [orjson.dumps({"x": float(i), "c": ["a", "b", ""][i % 3]}) for i in range(30)]
    (tmp_path / "t.jsonl").write_bytes(b"\n".join(rows))
    ref = build_profile(monitor, tmp_path / "t.jsonl").categorical["c"]
    assert ref.null_rate == 0.0 and "" in ref.categories
    (tmp_path / "t.csv").write_text("x,c\n" + "".join(f"{i},{['a', 'b', ''][i % 3]}\n" for i in range(30)))
    ref = build_profile(monitor, tmp_path / "t.csv").categorical["c"]
    assert ref.null_rate == pytest.approx(1 / 3) and "" not in ref.categories


def test_a_row_whose_features_are_no_object_is_refused_naming_it(tmp_path: Path, monitor) -> None:
    # live, such an event is a dead letter (wrong_type): its values are no nulls of the reference
    rows = [{"features": {"x": 1.0, "c": "a"}}, {"features": {"x": 2.0, "c": "b"}}, {"features": 5},
            {"features": None}]
    (tmp_path / "t.jsonl").write_bytes(b"\n".join(map(orjson.dumps, rows)))
    monitor = load_config_text(tmp_path, CONFIG.replace("x: {type: numeric}", "x: {type: numeric, path: features.x}")
                               .replace("c: {type: categorical}", "c: {type: categorical, path: features.c}"))
    with pytest.raises(InputError, match=r"feature 'x', row 3: features must be an object \(or null\), got int 5"):
        build_profile(monitor, tmp_path / "t.jsonl")
    del rows[2]                                             # a null object: null values, as live
    (tmp_path / "t.jsonl").write_bytes(b"\n".join(map(orjson.dumps, rows)))
    assert build_profile(monitor, tmp_path / "t.jsonl").numeric["x"].null_rate == pytest.approx(1 / 3)


def load_config_text(tmp_path: Path, text: str):
    (tmp_path / "c2.yaml").write_text(text)
    return load_config(tmp_path / "c2.yaml").monitors[0]


def test_reference_build_says_how_many_rows_it_read(tmp_path: Path, capsys) -> None:
    """Every row, even where features are null (it said the largest non-null count)."""
    from driftline.streams.cli import main

    (tmp_path / "c.yaml").write_text(CONFIG)
    rows = [{"x": None if i % 4 == 0 else float(i), "c": None if i % 5 == 0 else "ab"[i % 2]} for i in range(1200)]
    (tmp_path / "t.jsonl").write_bytes(b"\n".join(map(orjson.dumps, rows)))
    assert main(["reference", "build", "--config", str(tmp_path / "c.yaml"), "--monitor", "m",
                 "--input", str(tmp_path / "t.jsonl"), "--out", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{tmp_path / 'r.json'}: reference for 'm' from 1200 rows, 1 numeric + 1 categorical features",
                   "warning: feature 'x' has 900 values (not null) in 1200 rows: a thin reference for it (coarse "
                   "bins; its tests need larger shifts to alert); profile 1,000 values or more"]


def test_a_reference_built_under_other_bounds_is_refused(tmp_path: Path) -> None:
    """The data-quality rule holds the out-of-range rate against the reference's, measured under
    the bounds in force at build time: changed bounds need a new reference."""
    from driftline.streams.cli import main

    bounded = CONFIG.replace("x: {type: numeric}", "x: {type: numeric, max: 5}") + "    reference: {path: r.json}\n"
    (tmp_path / "c.yaml").write_text(bounded)
    (tmp_path / "t.jsonl").write_bytes(b"\n".join(orjson.dumps({"x": float(i % 10), "c": "ab"[i % 2]})
                                                   for i in range(1000)))
    assert main(["reference", "build", "--config", str(tmp_path / "c.yaml"), "--monitor", "m",
                 "--input", str(tmp_path / "t.jsonl"), "--out", str(tmp_path / "r.json")]) == 0
    assert main(["validate", "--config", str(tmp_path / "c.yaml")]) == 0
    (tmp_path / "c.yaml").write_text(bounded.replace("max: 5}", "max: 50}"))
    assert main(["validate", "--config", str(tmp_path / "c.yaml")]) == 2
    # a reference written before bounds were recorded is not checked
    ref = orjson.loads((tmp_path / "r.json").read_bytes())
    del ref["features"]["x"]["bounds"]
    (tmp_path / "r.json").write_bytes(orjson.dumps(ref))
    assert main(["validate", "--config", str(tmp_path / "c.yaml")]) == 0
