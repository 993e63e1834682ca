"""Pictures for people: loss curves and contact sheets."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from painterly.files import atomic_path
from painterly.image.io import save_image

__all__ = ["contact_sheet", "grid_sheet", "loss_curve"]


def _atomic_save_fig(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def loss_curve(history: Sequence[dict[str, Any]], path: str | os.PathLike, *, xlabel: str = "step (loss evaluations)",
               title: str = "painterly: loss per step (terms unweighted; total weighted)") -> Path:
    """Plot total/content/style/tv (weighted terms as logged) against step; one colour
    band per scale of the coarse-to-fine schedule (when ``size`` is given). Writes a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(path)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    steps = [h["step"] for h in history]
    for key, colour in (("total", "black"), ("content", "tab:blue"), ("style", "tab:red"), ("tv", "tab:green")):
        values = [h[key] for h in history if key in h]
        if values and len(values) == len(steps):
            ax.plot(steps, values, label=key, color=colour, lw=1.2)
    scales = sorted({h["scale"] for h in history})
    for s in scales:
        xs = [h["step"] for h in history if h["scale"] == s]
        size = next(h["size"] for h in history if h["scale"] == s)
        ax.axvspan(min(xs) - 0.5, max(xs) + 0.5, color=("0.93" if s % 2 else "0.97"), zorder=0)
        if size and size[0]:
            ax.text(min(xs), 1.0, f"{size[1]}x{size[0]}", transform=ax.get_xaxis_transform(), va="top", fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss (log)")
    ax.legend(loc="upper right")
    ax.set_title(title)
    fig.tight_layout()
    _atomic_save_fig(fig, out)
    plt.close(fig)
    return out


def contact_sheet(tiles: Sequence[tuple[str, Image.Image]], path: str | os.PathLike, *, height: int = 256) -> Path:
    """Lay out labelled images in rows of four at a common height; writes a PNG."""
    font = ImageFont.load_default()
    label_h = 18
    scaled = [(label, img.resize((max(1, round(img.width * height / img.height)), height))) for label, img in tiles]
    rows = [scaled[i : i + 4] for i in range(0, len(scaled), 4)]
    width = max(sum(im.width for _, im in row) + 8 * (len(row) + 1) for row in rows)
    sheet = Image.new("RGB", (width, len(rows) * (height + label_h + 8) + 8), "white")
    draw = ImageDraw.Draw(sheet)
    y = 8
    for row in rows:
        x = 8
        for label, im in row:
            sheet.paste(im, (x, y + label_h))
            draw.text((x, y + 2), label, fill="black", font=font)
            x += im.width + 8
        y += height + label_h + 8
    return save_image(sheet, path)


def grid_sheet(
    cells: Sequence[Sequence[tuple[str, Image.Image]]], path: str | os.PathLike, *, title: str = "",
    row_labels: Sequence[str] = (), col_labels: Sequence[str] = (), height: int = 200,
) -> Path:
    """A labelled grid: ``cells[r][c]`` = (caption, image); row and column headings on
    the left and top. Writes a PNG."""
    font = ImageFont.load_default()
    line = 14
    scaled = [[(cap, im.resize((max(1, round(im.width * height / im.height)), height))) for cap, im in row]
              for row in cells]
    col_w = [max(row[c][1].width for row in scaled if c < len(row)) for c in range(max(len(r) for r in scaled))]
    left = 8 + (max((len(t) for t in row_labels), default=0) * 6 + 8 if row_labels else 0)
    top = 8 + (line + 4 if title else 0) + (line + 4 if col_labels else 0)
    cell_h = height + 2 * line + 10
    sheet = Image.new("RGB", (left + sum(w + 8 for w in col_w), top + len(scaled) * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((8, 6), title, fill="black", font=font)
    x = left
    for c, w in enumerate(col_w):
        if c < len(col_labels):
            draw.text((x, top - line - 2), col_labels[c], fill="black", font=font)
        x += w + 8
    for r, row in enumerate(scaled):
        y = top + r * cell_h
        if r < len(row_labels):
            draw.text((8, y + height // 2), row_labels[r], fill="black", font=font)
        x = left
        for c, (cap, im) in enumerate(row):
            sheet.paste(im, (x, y))
            for i, text in enumerate(cap.split("\n")[:2]):
                draw.text((x, y + height + 2 + i * line), text, fill="black", font=font)
            x += col_w[c] + 8
    return save_image(sheet, path)
