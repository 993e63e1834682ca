"""``painterly study``: the grid's cells, labels, records, and its bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from painterly import GatysConfig
from painterly.cli.main import main
from painterly.errors import ConfigError
from painterly.methods.study import parse_values, run_study


def test_parse_values_types_and_errors() -> None:
    assert parse_values("layer-weights", ["deep-heavy", "0/0/0.1/0.4/0.5"]) == ["deep-heavy", (0, 0, 0.1, 0.4, 0.5)]
    assert parse_values("style-weight", ["3", "10"]) == [3.0, 10.0]
    assert parse_values("iterations", ["5"]) == [5]
    assert parse_values("identity-budget", ["none", "0.3"]) == [None, 0.3]
    with pytest.raises(ConfigError, match="cannot vary 'colour'"):
        parse_values("colour", ["1"])
    with pytest.raises(ConfigError, match="at least one value"):
        parse_values("style-weight", ["", " "])
    with pytest.raises(ConfigError, match="expected a number"):
        parse_values("style-weight", ["lots"])


def test_grid_reuses_style_targets_and_keeps_order(tiny_images, lite0) -> None:
    content, style = tiny_images
    base = GatysConfig(size=40, iterations=2, coarse_iterations=1, min_size=20, backbone="efficientnet-lite0")
    cells = run_study(content, style, {"style_weight": [3.0, 30.0], "layer_weights": ["deep-heavy", "balanced"]},
                      config=base)
    assert [c.label for c in cells] == [
        "style-weight=3.0, layer-weights=deep-heavy", "style-weight=3.0, layer-weights=balanced",
        "style-weight=30.0, layer-weights=deep-heavy", "style-weight=30.0, layer-weights=balanced"]
    assert all(c.image.size == (40, 33) for c in cells)
    assert cells[0].losses != cells[3].losses
    with pytest.raises(ConfigError, match="65 cells"):
        run_study(content, style, {"style_weight": list(range(1, 14)), "tv_weight": [1, 2, 3, 4, 5]}, config=base)


def test_cli_writes_sheet_csv_json(tiny_images, tmp_path: Path, capsys) -> None:
    content, style = tiny_images
    out = tmp_path / "sheet.png"
    code = main(["study", str(content), "-s", str(style), "--vary", "style-weight=3,30", "--vary",
                 "tv-weight=1,3,10", "--size", "40", "-o", str(out), "-q"])
    assert code == 0, capsys.readouterr().err
    rows = json.loads(out.with_suffix(".json").read_text())
    assert len(rows) == 6 and rows[0]["style_weight"] == 3.0 and rows[5]["tv_weight"] == 10.0
    assert {"total", "content", "style", "tv", "seconds", "identity"} <= set(rows[0])
    assert len(out.with_suffix(".csv").read_text().strip().splitlines()) == 7
    sheet = Image.open(out)
    assert sheet.width > 3 * 40 and sheet.height > 2 * 40


def test_cli_bad_input(tiny_images, tmp_path: Path, capsys) -> None:
    content, style = tiny_images
    out = tmp_path / "s.png"
    for vary, text in ((["--vary", "colour=1,2"], "cannot vary"), (["--vary", "style-weight="], "at least one"),
                       (["--vary", "style-weight"], "NAME=V1"),
                       (["--vary", "style-weight=" + ",".join(map(str, range(1, 10))), "--vary",
                         "tv-weight=1,2,3,4,5,6,7,8"], "72 cells")):
        code = main(["study", str(content), "-s", str(style), *vary, "-o", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and text in err and len(err.strip().splitlines()) == 1, (vary, err)
        assert not out.exists()
