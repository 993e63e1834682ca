"""``painterly study``: one photo, one style, a grid of settings -> a labelled sheet
plus a CSV and JSON of every cell's losses, time and identity."""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
from pathlib import Path
from typing import Any

from painterly.cli.progress import ProgressBar
from painterly.errors import ConfigError
from painterly.methods.study import MAX_CELLS

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("study", help="a parameter study: a grid of settings on one photo, as one labelled sheet")
    p.add_argument("content", help="content image (photo)")
    p.add_argument("--style", "-s", action="append", required=True, help="style image or built-in name")
    p.add_argument("--vary", action="append", required=True, metavar="NAME=V1,V2,...",
                   help="a parameter and its values, e.g. layer-weights=deep-heavy,balanced,shallow-heavy or "
                        "style-weight=3,10,30 (layer weights as numbers: 0/0/0.1/0.4/0.5); repeat for a grid "
                        f"(at most {MAX_CELLS} cells)")
    p.add_argument("-o", "--output", required=True, help="the sheet (.png); NAME.csv and NAME.json go beside it")
    p.add_argument("--size", type=int, help="output long side of every cell (default: the library's)")
    p.add_argument("--device", help="auto, cpu, cuda or mps")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return p


def _parse_vary(items: list[str]) -> dict[str, list[Any]]:
    from painterly.methods.study import parse_values

    vary: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--vary {item!r}: expected NAME=V1,V2,...")
        name, values = item.split("=", 1)
        key = name.strip().replace("-", "_")
        if key in vary:
            raise ConfigError(f"--vary {name}: given twice")
        vary[key] = parse_values(name.strip(), values.split(","))
    return vary


def run(args: argparse.Namespace) -> int:
    from painterly.files import check_not_input, write_json
    from painterly.image import load_image
    from painterly.methods.config import GatysConfig
    from painterly.methods.study import run_study
    from painterly.report import grid_sheet
    from painterly.styles import resolve_style

    vary = _parse_vary(args.vary)
    cells_n = 1
    for values in vary.values():
        cells_n *= len(values)
    if cells_n > MAX_CELLS:
        raise ConfigError(f"a study of {cells_n} cells is too large (at most {MAX_CELLS}); vary fewer values")
    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"{out}: the sheet is a .png file")
    styles = [resolve_style(s) for s in args.style]
    for src in [args.content, *styles]:
        load_image(src)
        check_not_input(out, [src], "input image")
    base = GatysConfig(**{k: v for k, v in (("size", args.size), ("device", args.device)) if v is not None})
    bar = ProgressBar("cell", enabled=not args.quiet)

    def on_cell(cell: Any, i: int, n: int) -> None:
        bar.write(f"cell {i}/{n} {cell.label}: loss {cell.losses['total']:.4g}, {cell.seconds:.1f} s")

    try:
        cells = run_study(args.content, styles, vary, config=base, callback=bar, on_cell=on_cell)
    finally:
        bar.close()
    names = list(vary)
    cols = len(list(itertools.product(*list(vary.values())[1:]))) if len(names) > 1 else len(vary[names[0]])
    grid = [cells[i : i + cols] for i in range(0, len(cells), cols)]
    tiles = [[(_caption(c, names), c.image) for c in row] for row in grid]
    first = names[0].replace("_", "-")
    row_labels = [f"{first}={r[0].row()[names[0]]}" for r in grid] if len(names) > 1 else []
    col_labels = [", ".join(f"{k.replace('_', '-')}={c.row()[k]}" for k in names[1:]) for c in grid[0]] \
        if len(names) > 1 else [f"{first}={c.row()[names[0]]}" for c in grid[0]]
    title = f"painterly study: {Path(args.content).name} x {', '.join(Path(s).stem for s in styles)}"
    grid_sheet(tiles, out, title=title, row_labels=row_labels, col_labels=col_labels)
    rows = [c.row() for c in cells]
    write_json(out.with_suffix(".json"), rows)
    from painterly.files import atomic_path

    with atomic_path(out.with_suffix(".csv")) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out} ({len(cells)} cells) with {out.with_suffix('.csv').name} and {out.with_suffix('.json').name}",
          file=sys.stderr)
    return 0


def _caption(cell: Any, names: list[str]) -> str:
    row = cell.row()
    ident = f", id {row['identity']:.2f}" if row["identity"] is not None else ""
    return f"loss {row['total']:.3g}{ident}\n{row['seconds']:.1f} s, {row['steps']} steps"
