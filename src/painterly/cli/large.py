"""``painterly stylize --max-memory / --dry-run``: large images by tiles, and the plan."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["dry_run", "memory_size"]


def memory_size(text: str) -> float:
    """'3GB', '800MB', '1.5G', '2' (GB) -> bytes."""
    t = text.strip().upper().removesuffix("B")
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    factor = units.get(t[-1:])
    try:
        value = float(t[:-1] if factor else t) * (factor or 2**30)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size like 3GB or 800MB, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive size, got {text!r}")
    return value


def dry_run(args: argparse.Namespace, stylizer: Any) -> int:
    """The plan of the run, without running it."""
    from painterly.image import load_image, scaled_size
    from painterly.methods.tiles import SECONDS_PER_EVAL_MEGAPIXEL

    content = load_image(args.content)
    h, w = stylizer.check_memory(*scaled_size(content.height, content.width, stylizer.config.size))
    plans = stylizer.plan(h, w)
    print(f"plan for {w}x{h} on {stylizer.device} with {stylizer.choice.name}, budget "
          f"{stylizer.budget() / 2**30:.2f} GB:")
    for p in plans:
        how = (f"{p.tiles} tiles of {p.tile} px, {p.evaluations()} evaluations" if p.tile
               else f"whole, {p.evaluations()} evaluations")
        print(f"  {p.size[1]:5d}x{p.size[0]:<5d} {how}; peak {p.peak / 2**30:.2f} GB, about {p.seconds():.0f} s")
    total = sum(p.seconds() for p in plans)
    print(f"predicted peak {max(p.peak for p in plans) / 2**30:.2f} GB; about {total:.0f} s of optimisation "
          f"(at {SECONDS_PER_EVAL_MEGAPIXEL} s per evaluation and megapixel: 2 CPU cores, efficientnet-lite0)")
    return 0
