"""``painterly stylize --photo``: photorealistic transfer (Luan et al.), its flags and run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from painterly.cli.arg_types import number
from painterly.cli.progress import ProgressBar
from painterly.errors import ConfigError
from painterly.methods import GatysConfig, Stylizer
from painterly.methods.photo import PhotoConfig

__all__ = ["add_photo_options", "run_photo"]

_PHOTO_DEFAULTS = PhotoConfig()


def add_photo_options(p: argparse.ArgumentParser) -> None:
    ph = p.add_argument_group("photorealistic (photo in, photo out: Luan et al.)")
    ph.add_argument("--photo", action="store_true",
                    help="keep every edge of the photo and move only colours and tones (matting-Laplacian "
                         "regulariser, regions matched, guided-filter finish); the style is a photo too")
    ph.add_argument("--content-mask", action="append", default=[], metavar="PNG",
                    help="--photo: a region of the content (white = in); pair each with a --style-mask")
    ph.add_argument("--style-mask", action="append", default=[], metavar="PNG",
                    help="--photo: the matching region of the style image")
    ph.add_argument("--photo-weight", type=number, metavar="W",
                    help=f"--photo: matting-Laplacian weight (default: {_PHOTO_DEFAULTS.laplacian_weight:g})")
    ph.add_argument("--regions", action=argparse.BooleanOptionalAction, default=None,
                    help="--photo: match face, hair, sky and the rest automatically (default: on)")


def run_photo(args: argparse.Namespace, out: Path, inputs: list[Path], config: GatysConfig) -> int:
    """Photorealistic Gatys: regions, matting Laplacian, guided filter."""
    from painterly.files import write_json
    from painterly.image import load_image, save_image, scaled_size
    from painterly.methods.photo import load_mask_pairs, stylize_photo

    if len(args.style) != 1:
        raise ConfigError("--photo takes one style photo")
    given = {"laplacian_weight": args.photo_weight, "regions": args.regions}
    pcfg = PhotoConfig(**{k: v for k, v in given.items() if v is not None})
    content = load_image(args.content)
    style = load_image(args.style[0])
    h, w = scaled_size(content.height, content.width, config.size)
    regions = None
    if args.content_mask or args.style_mask:
        regions, notes = load_mask_pairs(args.content_mask, args.style_mask, (w, h), style.size)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
    stylizer = Stylizer(list(args.style), config)
    print(f"backbone: {stylizer.choice.name} ({stylizer.choice.reason})", file=sys.stderr)
    with ProgressBar(enabled=not args.quiet) as bar:
        photo = stylize_photo(stylizer, content, pcfg, regions=regions, callback=bar)
    result = photo.result
    save_image(photo.image, out, protect=inputs)
    write_json(out.with_suffix(".json"), {
        "content": str(args.content), "style": str(args.style[0]), "output": str(out), "mode": "photo",
        "config": config.to_dict(), "photo": pcfg.__dict__, "regions": photo.regions,
        "final_losses": result.losses, "seconds": round(result.elapsed, 3), "steps": result.steps})
    if args.loss_plot and result.history:
        from painterly.report import loss_curve

        loss_curve(result.history, args.loss_plot)
    if args.contact_sheet:
        from painterly.report import contact_sheet

        contact_sheet([("content", content), ("style", style), ("result", photo.image)], args.contact_sheet)
    print(f"wrote {out} ({photo.image.width}x{photo.image.height}, photorealistic) in {result.elapsed:.1f} s, "
          f"{result.steps} steps; regions: {', '.join(photo.regions) or 'whole image'}", file=sys.stderr)
    if result.interrupted:
        print(f"painterly: interrupted after {result.steps} steps; best image so far written to {out}",
              file=sys.stderr)
        return 130
    return 0


