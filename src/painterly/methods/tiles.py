"""Large images by tiles: plan, memory model and the tiled optimisation of one scale.

A scale whose predicted memory is past the budget is optimised in overlapping tiles:
every tile minimises its own content loss against the style targets of the whole
image (computed once for the full long side, so strokes keep one size across tiles),
and each tile is blended back with linear ramps in the overlaps, the next tile starting
from the result (so overlaps agree rather than average into a blur). The tile grid shifts
on every pass, so no seam stays at one place (the lesson of crowsonkb's and
neural-style's tiling); each pass starts from the blended result of the last.

Pure functions (:func:`plan_tiles`, :func:`ramp`, :func:`tile_side_for`,
:class:`MemoryModel`) are torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "MAX_SIDE",
    "RESIDENT_COARSE",
    "RESIDENT_TILED",
    "SECONDS_PER_EVAL_MEGAPIXEL",
    "TILE_PASSES",
    "MemoryModel",
    "ScalePlan",
    "Tile",
    "optimize_tiled",
    "overlap_for",
    "pass_shift",
    "plan_tiles",
    "ramp",
    "seam_lines",
    "tile_side_for",
    "tiled_terms",
]

MAX_SIDE = 16384  # sizes past this are refused

TILE_PASSES = 2  # passes over a shifted tile grid at a tiled scale (the seams of one are inside tiles of the next)
# bytes per *output* pixel held beside a scale smaller than the output (tiles or a coarse
# scale): the photo at the output size and, for portraits, its masks and weight maps (4 +
# 4 floats); beside a tiled scale also the image, the best image and the pass's copy (3 x 3
# floats), the content carried up from the scale below (3 floats, ``paint_above``) and the
# output photo (PIL, 3 bytes). Before these were counted, the 4096 px run (13.4 MP,
# face-aware, 3 GB) peaked at 4.45 GB: its tiles had been sized for the whole budget.
RESIDENT_COARSE = 4 * 8
RESIDENT_TILED = 4 * 20 + 3
SECONDS_PER_EVAL_MEGAPIXEL = 0.65  # efficientnet-lite0, L-BFGS, 2-core CPU (0.56 at 512 px, 0.65 at 1024 px, measured)


@dataclass
class ScalePlan:
    """One scale of a run: long side, (h, w), evaluations (per tile and pass: see
    :func:`~painterly.methods.tiles.optimize_tiled`), tile side or None, tile count,
    predicted peak memory in bytes."""

    long_side: int
    size: tuple[int, int]
    iterations: int
    tile: int | None
    tiles: int
    peak: float

    def evaluations(self) -> int:
        if self.tile is None:
            return self.iterations
        return self.tiles * TILE_PASSES * max(1, math.ceil(self.iterations / TILE_PASSES))

    def seconds(self) -> float:
        """Predicted optimisation time on the reference CPU."""
        h, w = self.size
        px = h * w * (1 + overlap_for(self.tile) / self.tile) ** 2 / self.tiles if self.tile else h * w  # overlaps
        return self.evaluations() * px / 1e6 * SECONDS_PER_EVAL_MEGAPIXEL


@dataclass(frozen=True)
class Tile:
    """Rows ``y0:y1`` and columns ``x0:x1`` of the image."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


def _spans(n: int, tile: int, overlap: int, offset: int) -> list[tuple[int, int]]:
    """Tile spans along one axis of length ``n``: stride ``tile - overlap``, the grid
    shifted by ``offset`` (mod stride). Tiles cut by the image's ends are kept as they
    are, so every seam moves with the offset; one narrower than a quarter tile joins
    its neighbour (which then spans up to 1.25 tiles)."""
    if tile >= n:
        return [(0, n)]
    stride = tile - overlap
    min_w = max(2 * overlap + 1, tile // 4)
    spans = []
    s = -(offset % stride)
    while True:
        spans.append([max(s, 0), min(s + tile, n)])
        if s + tile >= n:
            break
        s += stride
    if len(spans) > 1 and spans[0][1] - spans[0][0] < min_w:
        spans[1][0] = 0
        spans.pop(0)
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] < min_w:
        spans[-2][1] = n
        spans.pop()
    return [(a, b) for a, b in spans]


def plan_tiles(height: int, width: int, tile: int, overlap: int, offset: tuple[int, int] = (0, 0)) -> list[Tile]:
    """Overlapping tiles of about ``tile`` x ``tile`` (at most 1.25x along a side)
    covering ``height`` x ``width``; ``offset`` (dy, dx) shifts the grid so its seams
    move between passes."""
    if tile < 2 * overlap + 1:
        raise ValueError(f"tile {tile} too small for overlap {overlap}")
    return [Tile(y0, y1, x0, x1) for y0, y1 in _spans(height, tile, overlap, offset[0])
            for x0, x1 in _spans(width, tile, overlap, offset[1])]


def ramp(t: Tile, height: int, width: int, overlap: int) -> np.ndarray:
    """Blend weights (h, w) for tile ``t``: 1 inside, rising linearly over ``overlap``
    pixels from each edge that is not an image border; never exactly 0."""
    h, w = t.shape

    def axis(n: int, lo_border: bool, hi_border: bool) -> np.ndarray:
        a = np.ones(n, np.float32)
        k = min(overlap, n // 2)
        if k > 0:
            r = (np.arange(k, dtype=np.float32) + 1) / (k + 1)
            if not lo_border:
                a[:k] = np.minimum(a[:k], r)
            if not hi_border:
                a[n - k :] = np.minimum(a[n - k :], r[::-1])
        return a

    ay = axis(h, t.y0 == 0, t.y1 == height)
    ax = axis(w, t.x0 == 0, t.x1 == width)
    return ay[:, None] * ax[None, :]


@dataclass(frozen=True)
class MemoryModel:
    """Peak process memory of an optimisation at one image size: ``base`` (interpreter,
    torch, network weights, style targets) plus ``per_pixel`` bytes for every output
    pixel (activations kept for backward, their gradients, the optimiser's history).
    Calibrated per backbone from measured runs (benchmarks/large.py prints the check)."""

    base: float
    per_pixel: float

    def predict(self, height: int, width: int) -> float:
        return self.base + self.per_pixel * height * width

    def largest_square(self, budget: float) -> int:
        """The largest tile side whose run fits in ``budget`` bytes (0 if none)."""
        room = budget - self.base
        return int(math.sqrt(room / self.per_pixel)) if room > 0 else 0


def overlap_for(tile: int) -> int:
    """Tile overlap: a quarter of the tile, 4 to 48 px (blended over; the shallow
    layers' receptive field sees across it)."""
    return max(4, min(48, tile // 4))


def tile_side_for(model: MemoryModel, budget: float, minimum: int = 32, resident: float = 0.0) -> int:
    """The tile side for ``budget``, of which ``resident`` bytes are held beside the
    tiles (the whole image's tensors); raises ValueError when even ``minimum`` px does
    not fit."""
    side = model.largest_square(budget - resident)
    if side < minimum:
        need = model.predict(minimum, minimum) + resident
        raise ValueError(f"{budget / 2**30:.2f} GB is below what one {minimum} px tile needs; the smallest budget "
                         f"that works is about {math.ceil(need / 2**30 * 100) / 100:.2f} GB")
    return side


def optimize_tiled(
    image: Any,
    content: Any,
    objective_for: Callable[[Any, tuple[slice, slice]], Any],
    n_iter: int,
    tile: int,
    overlap: int,
    passes: int,
    run: Callable[[Any, Any, int], Any],
) -> Any:
    """Optimise ``image`` (1, 3, H, W) in tiles: ``passes`` passes over a shifted grid,
    ``ceil(n_iter / passes)`` evaluations per tile per pass, tiles in turn, each
    starting from what the tiles before it left. ``objective_for(content
    tile, (rows, columns))`` builds a tile's objective; ``run(tile image, objective, iterations)``
    optimises it and returns the tile's result. Returns the blended image."""
    import torch

    h, w = image.shape[-2:]
    per_pass = max(1, math.ceil(n_iter / passes))
    stride = max(1, tile - overlap)
    for p in range(passes):
        image = image.clone()
        for t in plan_tiles(h, w, tile, overlap, pass_shift(p, passes, stride)):
            where = (slice(t.y0, t.y1), slice(t.x0, t.x1))
            sl = (..., *where)
            start = image[sl].clone()
            result = run(start, objective_for(content[sl], where), per_pass)
            wt = torch.from_numpy(ramp(t, h, w, overlap)).to(image)[None, None]
            # tile by tile, each from the image its neighbours left (Gauss-Seidel): overlaps
            # agree instead of averaging two unrelated textures into a blur
            image[sl] = wt * result + (1 - wt) * start
    return image


def pass_shift(p: int, passes: int, stride: int) -> tuple[int, int]:
    """The grid offset (dy, dx) of pass ``p``: rows and columns move by different
    fractions of the stride, so no seam line repeats."""
    return round(p * stride / passes), round(p * stride / passes * 0.618) % stride


def seam_lines(height: int, width: int, tile: int, overlap: int, passes: int) -> tuple[set[int], set[int]]:
    """Rows and columns where a tile of any pass ends inside the image (for measuring
    seams: benchmarks/large.py)."""
    rows: set[int] = set()
    cols: set[int] = set()
    for p in range(passes):
        for t in plan_tiles(height, width, tile, overlap, pass_shift(p, passes, tile - overlap)):
            rows |= {v for v in (t.y0, t.y1) if 0 < v < height}
            cols |= {v for v in (t.x0, t.x1) if 0 < v < width}
    return rows, cols


def tiled_terms(image: Any, content: Any, objective_for: Callable[[Any, tuple[slice, slice]], Any],
                size: tuple[int, int], tile: int) -> dict[str, float]:
    """The loss terms of a tiled scale's result: each term's mean over a grid of tiles
    without overlap, weighted by area (the style term from each tile's own statistics:
    close to, not equal to, the whole image's, which would need it all in memory)."""
    import torch

    height, width = size
    sums: dict[str, float] = {}
    with torch.no_grad():
        for t in plan_tiles(height, width, tile, 0):
            where = (slice(t.y0, t.y1), slice(t.x0, t.x1))
            total, terms = objective_for(content[..., where[0], where[1]], where)(image[..., where[0], where[1]])
            share = (t.y1 - t.y0) * (t.x1 - t.x0) / (height * width)
            for k, v in {**terms, "total": total}.items():
                sums[k] = sums.get(k, 0.0) + share * float(v)
    return sums
