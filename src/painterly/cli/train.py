"""``painterly train style|adain``: flags -> training config -> one training run.

Defaults come from :class:`FastTrainConfig` and :class:`AdaINTrainConfig`; a flag left
out is not passed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from painterly.cli.arg_types import number, numbers
from painterly.cli.progress import ProgressBar
from painterly.methods.config import LAYER_WEIGHT_PRESETS
from painterly.methods.feedforward import AdaINTrainConfig, FastTrainConfig
from painterly.methods.feedforward.wct import WCTTrainConfig

__all__ = ["add_parser", "run"]

_FAST = FastTrainConfig()
_ADAIN = AdaINTrainConfig()
_WCT = WCTTrainConfig()


def _common(p: argparse.ArgumentParser, defaults: Any) -> None:
    def d(name: str) -> str:
        return f" (default: {getattr(defaults, name)})"

    p.add_argument("--content", required=True, help="folder of content photos (searched recursively)")
    p.add_argument("-o", "--output", required=True, help="checkpoint to write (.pt); written every --checkpoint-every")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --output")
    p.add_argument("--half", action="store_true", help="finish with fp16 weights only (small, for shipping)")
    p.add_argument("--report-dir", help="sample sheets and loss curve (default: OUTPUT_report/)")
    g = p.add_argument_group("training")
    for name, typ, text in (
        ("steps", int, "optimisation steps"), ("batch_size", int, "crops per step"),
        ("crop_size", int, "square crop side in pixels"), ("lr", number, "Adam learning rate"),
        ("content_weight", number, "content loss weight"), ("style_weight", number, "style loss weight"),
        ("checkpoint_every", int, "save checkpoint, samples and loss curve every N steps"),
        ("seed", int, "random seed"),
    ):
        if hasattr(defaults, name):  # a WCT decoder has no content/style weights
            g.add_argument("--" + name.replace("_", "-"), type=typ, default=argparse.SUPPRESS, help=text + d(name))
    g.add_argument("--backbone", default=argparse.SUPPRESS, help="loss network / encoder" + d("backbone"))
    g.add_argument("--weights", default=argparse.SUPPRESS, help="VGG-19 weights file (torchvision format)")
    g.add_argument("--device", default=argparse.SUPPRESS, help="auto, cpu, cuda or mps" + d("device"))


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train a fast feed-forward model (per style, or AdaIN / WCT for any style)")
    kinds = p.add_subparsers(dest="kind", parser_class=type(p))
    s = kinds.add_parser("style", help="train a network for one style (Johnson et al.)")
    s.add_argument("--style", "-s", action="append", required=True, dest="styles",
                   help="style image or built-in name; repeat to blend")
    s.add_argument("--style-weights", type=numbers, dest="style_blend", default=argparse.SUPPRESS,
                   help="blend weights, e.g. 0.7,0.3")
    _common(s, _FAST)
    g = s.add_argument_group("objective and network")
    g.add_argument("--tv-weight", type=number, default=argparse.SUPPRESS, help=f"(default: {_FAST.tv_weight})")
    g.add_argument("--face-weight", type=number, default=argparse.SUPPRESS,
                   help=f"content weight multiplier on faces MTCNN finds in the training photos "
                        f"(default: {_FAST.face_weight}, off)")
    g.add_argument("--style-size", type=int, default=argparse.SUPPRESS,
                   help=f"style image long side in pixels (default: {_FAST.style_size})")
    g.add_argument("--statistic", default=argparse.SUPPRESS, help=f"wasserstein or gram (default: {_FAST.statistic})")
    g.add_argument("--layer-weights", default=argparse.SUPPRESS,
                   type=lambda t: t if t in LAYER_WEIGHT_PRESETS else numbers(t),
                   help=f"{', '.join(LAYER_WEIGHT_PRESETS)} or numbers (default: {_FAST.layer_weights})")
    for name in ("width", "downsamples", "res_blocks"):
        g.add_argument("--" + name.replace("_", "-"), type=int, default=argparse.SUPPRESS,
                       help=f"network shape (default: {getattr(_FAST, name)})")
    a = kinds.add_parser("adain", help="train an AdaIN decoder for arbitrary styles (Huang and Belongie)")
    a.add_argument("--styles", required=True, dest="styles_dir", help="folder of style images")
    _common(a, _ADAIN)
    w = kinds.add_parser("wct", help="train a WCT reconstruction decoder for arbitrary styles (Li et al.; photos only)")
    _common(w, _WCT)
    g = w.add_argument_group("objective")
    g.add_argument("--pixel-weight", type=number, default=argparse.SUPPRESS,
                   help=f"L1 pixel reconstruction weight (default: {_WCT.pixel_weight})")
    g.add_argument("--feature-weight", type=number, default=argparse.SUPPRESS,
                   help=f"encoder-feature reconstruction weight (default: {_WCT.feature_weight})")
    return p


_NOT_CONFIG = {"command", "kind", "version", "content", "output", "resume", "half", "report_dir", "styles_dir"}


def run(args: argparse.Namespace) -> int:
    from painterly.methods.feedforward import train_adain, train_transformer

    if args.kind is None:
        print("painterly train: choose 'style', 'adain' or 'wct' (see painterly train --help)", file=sys.stderr)
        return 2
    options = {k: v for k, v in vars(args).items() if k not in _NOT_CONFIG}
    with ProgressBar("training") as bar:
        common = {"resume": args.resume, "half": args.half, "report_dir": args.report_dir, "on_step": bar}
        if args.kind == "style":
            options["styles"] = tuple(options["styles"])
            result = train_transformer(args.content, FastTrainConfig(**options), args.output, **common)
        elif args.kind == "wct":
            from painterly.methods.feedforward.wct import train_wct

            result = train_wct(args.content, WCTTrainConfig(**options), args.output, **common)
        else:
            result = train_adain(args.content, args.styles_dir, AdaINTrainConfig(**options), args.output, **common)
    last = result.history[-1] if result.history else {}
    report = args.report_dir or str(result.path.with_name(result.path.stem + "_report"))
    print(f"wrote {result.path} after {result.steps} steps in {result.seconds:.0f} s with {result.backbone}; "
          f"last loss {last.get('total', float('nan')):.4g}; samples and loss curve in {report}", file=sys.stderr)
    if result.skipped:
        print(f"skipped {len(result.skipped)} unreadable image(s):", file=sys.stderr)
        for _path, reason in result.skipped:
            print(f"  {reason}", file=sys.stderr)
    return 0
