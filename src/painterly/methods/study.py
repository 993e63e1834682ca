"""Parameter studies: one photo, one style, a grid of settings, one sheet.

The tables people make by hand (layer-weight presets x alpha/beta ratios x
iterations) as one call: every cell is a full portrait run with its settings; the
style targets are computed once per distinct target setting and shared by the cells
(:meth:`~painterly.methods.gatys.Stylizer.with_config`).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from painterly.errors import ConfigError
from painterly.events import Callback
from painterly.image import ImageInput, load_image
from painterly.methods.config import LAYER_WEIGHT_PRESETS, GatysConfig
from painterly.methods.gatys import Stylizer
from painterly.methods.portrait import PortraitConfig, find_faces, stylize_portrait

__all__ = ["MAX_CELLS", "StudyCell", "parse_values", "run_study", "study_parameters"]

MAX_CELLS = 64
_NOT_STUDIED = {"device", "weights", "fit_memory", "seed", "style_blend", "content_layers", "style_layers",
                "backbone", "keep_identity", "background_style", "selim", "face_aware", "min_face_size"}


def study_parameters() -> dict[str, Any]:
    """Parameter name -> its default, for every setting a study may vary."""
    gatys = {f.name: f.default for f in dataclasses.fields(GatysConfig) if f.name not in _NOT_STUDIED}
    portrait = {f.name: f.default for f in dataclasses.fields(PortraitConfig) if f.name not in _NOT_STUDIED}
    return {**gatys, **portrait}


def parse_values(name: str, values: Sequence[str]) -> list[Any]:
    """Typed values of a varied parameter (``name`` with '-' or '_'); one-line errors."""
    key = name.replace("-", "_")
    params = study_parameters()
    if key not in params:
        raise ConfigError(f"cannot vary {name!r}; choose from {', '.join(p.replace('_', '-') for p in params)}")
    values = [v.strip() for v in values if v.strip()]
    if not values:
        raise ConfigError(f"{name}: give at least one value to vary")
    default = params[key]
    out: list[Any] = []
    for v in values:
        if key == "layer_weights":
            out.append(v if v in LAYER_WEIGHT_PRESETS else tuple(_number(name, x) for x in v.split("/")))
        elif key == "identity_budget" and v.lower() in ("none", "off"):
            out.append(None)
        elif isinstance(default, bool):
            out.append(v.lower() in ("1", "true", "yes", "on"))
        elif isinstance(default, int) and not isinstance(default, bool) and key != "identity_budget":
            out.append(int(_number(name, v)))
        elif isinstance(default, (int, float)) or default is None:
            out.append(_number(name, v) if key != "init" else v)
        else:
            out.append(v)
    return out


def _number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name}: expected a number, got {text!r}") from None


@dataclass
class StudyCell:
    settings: dict[str, Any]  # the varied parameters of this cell
    image: Image.Image
    losses: dict[str, float]
    identity: list[float | None]
    seconds: float
    steps: int

    @property
    def label(self) -> str:
        return ", ".join(f"{k.replace('_', '-')}={_show(v)}" for k, v in self.settings.items())

    def row(self) -> dict[str, Any]:
        known = [d for d in self.identity if d is not None]
        return {**{k: _show(v) for k, v in self.settings.items()}, **self.losses,
                "identity": max(known) if known else None, "seconds": round(self.seconds, 2), "steps": self.steps}


def _show(value: Any) -> Any:
    return "/".join(f"{v:g}" for v in value) if isinstance(value, tuple) else value


def run_study(
    content: ImageInput,
    styles: ImageInput | Sequence[ImageInput],
    vary: dict[str, list[Any]],
    *,
    config: GatysConfig | None = None,
    portrait: PortraitConfig | None = None,
    callback: Callback | None = None,
    on_cell: Any = None,
) -> list[StudyCell]:
    """Run every combination of ``vary`` (parameter -> values) over the base
    ``config``/``portrait``; cells in row-major order of ``vary``'s keys."""
    if not vary:
        raise ConfigError("give at least one parameter to vary")
    n = 1
    for name, values in vary.items():
        if not values:
            raise ConfigError(f"{name.replace('_', '-')}: give at least one value to vary")
        n *= len(values)
    if n > MAX_CELLS:
        raise ConfigError(f"a study of {n} cells is too large (at most {MAX_CELLS}); vary fewer values")
    base = config or GatysConfig()
    pbase = portrait or PortraitConfig()
    image = load_image(content)
    gatys_fields = {f.name for f in dataclasses.fields(GatysConfig)}
    first: Stylizer | None = None
    cells: list[StudyCell] = []
    faces = None
    for combo in itertools.product(*vary.values()):
        settings = dict(zip(vary, combo, strict=True))
        cfg = base.replace(**{k: v for k, v in settings.items() if k in gatys_fields})
        pcfg = dataclasses.replace(pbase, **{k: v for k, v in settings.items() if k not in gatys_fields})
        stylizer = Stylizer(styles, cfg) if first is None else first.with_config(cfg)
        first = first or stylizer
        if faces is None and pcfg.face_aware is not False:
            from painterly.faces.detection import shared_detector

            faces = find_faces(stylizer, image, shared_detector(pcfg.min_face_size, stylizer.device))
        t0 = time.perf_counter()
        res = stylize_portrait(stylizer, image, pcfg, callback=callback, faces=faces or [])
        cell = StudyCell(settings, res.image, res.result.losses, res.identity, time.perf_counter() - t0,
                         res.result.steps)
        cells.append(cell)
        if on_cell is not None:
            on_cell(cell, len(cells), n)
    return cells
