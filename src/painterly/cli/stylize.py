"""``painterly stylize``: flags -> GatysConfig -> one Stylizer run -> files.

Flag defaults come from :class:`painterly.GatysConfig` (no second copy here): a flag
left out is not passed, so the library's default applies.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from painterly.cli.arg_types import number, numbers
from painterly.cli.large import memory_size
from painterly.cli.progress import ProgressBar
from painterly.errors import ConfigError, ImageError, NonFiniteLossError
from painterly.events import Event
from painterly.files import check_not_input, check_output_path
from painterly.methods import GatysConfig, Stylizer
from painterly.methods.config import INITS, LAYER_WEIGHT_PRESETS, OPTIMIZERS, ORIGINAL_COLORS
from painterly.methods.portrait import PortraitConfig, PortraitResult, find_faces, stylize_portrait
from painterly.styles import BUILTIN_STYLES, resolve_style

__all__ = ["add_parser", "config_from_args", "run"]

_DEFAULTS = GatysConfig()
_PORTRAIT_DEFAULTS = PortraitConfig()


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _layer_weights(text: str) -> str | tuple[float, ...]:
    return text if text in LAYER_WEIGHT_PRESETS else numbers(text)


_OFF = "none"  # what ``--identity-budget none`` and ``--paint-above none`` hand on: the setting off (None)


def _or_off(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """argparse type: ``none`` or ``off`` (the setting off), else ``parse(text)``."""

    def convert(text: str) -> Any:
        return _OFF if text.lower() in ("none", "off") else parse(text)

    convert.__name__ = parse.__name__  # argparse names it in its message: "invalid int value"
    return convert


_budget = _or_off(number)
_paint_above = _or_off(int)


def _d(name: str) -> str:
    value = getattr(_DEFAULTS, name) if hasattr(_DEFAULTS, name) else getattr(_PORTRAIT_DEFAULTS, name)
    return f" (default: {value})"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("stylize", help="stylise a photo with one or more paintings (Gatys et al.)")
    p.add_argument("content", help="content image (photo)")
    p.add_argument("--style", "-s", action="append",
                   help=f"style image or built-in name ({', '.join(BUILTIN_STYLES)}); repeat to blend several")
    p.add_argument("--preset", choices=PRESETS,
                   help="sketch: a grey pencil drawing from the photo alone (no --style needed)")
    p.add_argument("--style-weights", type=numbers, dest="style_blend", help="blend weights, e.g. 0.7,0.3")
    p.add_argument("-o", "--output", required=True, help="output image (.png or .jpg)")
    g = p.add_argument_group("image")
    g.add_argument("--size", type=int, help="output long side in pixels" + _d("size"))
    g.add_argument("--style-scale", type=number, help="style image size relative to output" + _d("style_scale"))
    g.add_argument("--original-colors", choices=ORIGINAL_COLORS, help="keep the photo's colours")
    g.add_argument("--fit-memory", action="store_true", default=None,
                   help="downscale when the size does not fit (default: optimise the large scales in tiles)")
    g.add_argument("--max-memory", type=memory_size, metavar="SIZE",
                   help="memory budget, e.g. 3GB or 800MB: scales past it are optimised in overlapping tiles "
                        "(default: 80%% of what is free)")
    g.add_argument("--paint-above", type=_paint_above, metavar="PX",
                   help="scales past PX px sharpen the strokes painted below them instead of bringing the photo's "
                        "detail back (large outputs keep the smaller result's look); none: the photo at every "
                        "scale" + _d("paint_above"))
    g.add_argument("--dry-run", action="store_true",
                   help="print the plan (scales, tiles, predicted memory and time) and exit")
    n = p.add_argument_group("network and losses")
    n.add_argument("--backbone", help="auto, vgg19 or efficientnet-lite0" + _d("backbone"))
    n.add_argument("--weights", help="backbone weights file (torchvision format for vgg19)")
    n.add_argument("--pooling", choices=("avg", "max"), help="VGG pooling" + _d("pooling"))
    n.add_argument("--content-layers", type=_names, help="comma-separated tap names (backbone default)")
    n.add_argument("--style-layers", type=_names, help="comma-separated tap names (backbone default)")
    n.add_argument(
        "--layer-weights", type=_layer_weights,
        help=f"{', '.join(LAYER_WEIGHT_PRESETS)} or numbers" + _d("layer_weights"),
    )
    n.add_argument("--statistic", choices=("gram", "wasserstein"), help="style statistic" + _d("statistic"))
    n.add_argument("--content-weight", type=number, help="alpha" + _d("content_weight"))
    n.add_argument("--style-weight", type=number, help="beta" + _d("style_weight"))
    n.add_argument("--tv-weight", type=number, help="total variation" + _d("tv_weight"))
    o = p.add_argument_group("optimisation")
    o.add_argument("--optimizer", choices=OPTIMIZERS, help=_d("optimizer").strip())
    o.add_argument("--lr", type=number, help="Adam learning rate" + _d("lr"))
    o.add_argument("--init", help=f"{', '.join(INITS)} or an image file" + _d("init"))
    o.add_argument("--iterations", type=int, help="steps at the final scale" + _d("iterations"))
    o.add_argument("--coarse-iterations", type=int, help="steps at each coarser scale" + _d("coarse_iterations"))
    o.add_argument("--no-multiscale", dest="multiscale", action="store_false", default=None,
                   help="optimise at the final size only")
    o.add_argument("--min-size", type=int, help="coarsest scale's long side" + _d("min_size"))
    o.add_argument("--ema", type=number, help="average iterates with this decay, 0 = off" + _d("ema"))
    o.add_argument("--seed", type=int, help="random seed" + _d("seed"))
    o.add_argument("--device", help="auto, cpu, cuda or mps" + _d("device"))
    o.add_argument("--cuda-graphs", action=argparse.BooleanOptionalAction, help="replay each L-BFGS evaluation "
                   "as one CUDA graph (default: on CUDA devices)")
    f = p.add_argument_group("portraits")
    f.add_argument("--face-aware", dest="face_aware", action="store_true", default=None,
                   help="keep faces recognisable (default: on when a face is found)")
    f.add_argument("--no-face-aware", dest="face_aware", action="store_false", help="treat faces like the rest")
    f.add_argument("--face-paint", type=number, metavar="P",
                   help="how painted the face is, 0 (close to the photo) to 1 (painted like the rest, features "
                        "held)" + _d("face_paint"))
    f.add_argument("--identity-budget", type=_budget, metavar="D",
                   help="dlib distance the painting may spend on the face; 'none' to switch the measurements "
                        "off" + _d("identity_budget"))
    f.add_argument("--keep-identity", type=_budget, dest="identity_budget", metavar="D",
                   help="older name of --identity-budget")
    f.add_argument("--face-content-weight", type=number,
                   help="content weight multiplier on the face at --face-paint 0" + _d("face_content_weight"))
    f.add_argument("--face-style-weight", type=number,
                   help="style strength on the face at --face-paint 0" + _d("face_style_weight"))
    f.add_argument("--face-parts-weight", type=number,
                   help="content weight multiplier on eyes, brows, nose and mouth" + _d("face_parts_weight"))
    f.add_argument("--face-style-boost", type=number, metavar="X",
                   help="the most extra style the face takes when the identity budget is far from spent before "
                        "the last scale; 1 = off" + _d("face_style_boost"))
    f.add_argument("--background-style-weight", type=number,
                   help="style strength off the face" + _d("background_style_weight"))
    f.add_argument("--background-style", help="a different style image for the background")
    f.add_argument("--selim", action="store_true", default=None,
                   help="portrait style: warp the style's face onto ours and use gain maps (Selim et al. 2016)")
    f.add_argument("--face-pass", dest="face_pass", action="store_true", default=None,
                   help="re-stylise faces at a higher resolution (default: for faces under "
                        f"{_PORTRAIT_DEFAULTS.face_pass_below} px)")
    f.add_argument("--no-face-pass", dest="face_pass", action="store_false")
    f.add_argument("--min-face-size", type=number,
                   help="smallest face searched, px of the photo (of the copy faces are searched on, twice the "
                        "output's size, when the photo is larger)" + _d("min_face_size"))
    from painterly.cli.photo import add_photo_options

    add_photo_options(p)
    v = p.add_argument_group("video (CONTENT a video file, OUTPUT .mp4/.mov/.mkv/.webm/.gif)")
    v.add_argument("--later-iterations", type=int, default=60,
                   help="steps for each frame after the first, at the final size only (default 60)")
    v.add_argument("--long-term", type=lambda t: tuple(round(v) for v in numbers(t)), default=(1,),
                   metavar="1,2,4", help="earlier frames the temporal loss holds each frame to, each where no "
                                         "nearer one does (default 1: the previous frame only)")
    v.add_argument("--temporal-weight", type=number, default=50.0,
                   help="weight of the temporal loss to the previous output warped by optical flow (default 50)")
    from painterly.cli.video import add_cut_options

    add_cut_options(v)
    r = p.add_argument_group("records")
    r.add_argument("--snapshot-every", type=int, default=0, metavar="N", help="save the evolving image every N steps")
    r.add_argument("--snapshot-dir", help="where snapshots go (default: OUTPUT_snapshots/)")
    r.add_argument("--log", help="JSON-lines loss log, one line per step")
    r.add_argument("--loss-plot", help="loss-curve PNG")
    r.add_argument("--contact-sheet", help="PNG with content, style(s), result and the evolving image")
    r.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return p


_CONFIG_FIELDS = set(GatysConfig.__dataclass_fields__)


def _given(args: argparse.Namespace, fields: set[str]) -> dict[str, Any]:
    """The flags the user gave among ``fields`` (``none`` as None); the rest keep the library's defaults."""
    return {k: None if v == _OFF else v for k, v in vars(args).items() if k in fields and v is not None}


def config_from_args(args: argparse.Namespace) -> GatysConfig:
    """Only flags the user gave are passed; the rest keep the library's defaults."""
    return GatysConfig(**_given(args, _CONFIG_FIELDS))


_PORTRAIT_FIELDS = set(PortraitConfig.__dataclass_fields__)


def portrait_config_from_args(args: argparse.Namespace) -> PortraitConfig:
    return PortraitConfig(**_given(args, _PORTRAIT_FIELDS))


PRESETS = ("sketch",)


def _check_paths(args: argparse.Namespace) -> tuple[Path, list[Path]]:
    if not args.style and args.preset is None:
        raise ConfigError("give a painting with --style (or --preset sketch)")
    args.style = [resolve_style(s) for s in args.style or []]
    if args.background_style:
        args.background_style = resolve_style(args.background_style)
    out = Path(args.output)
    inputs = [Path(args.content), *map(Path, args.style)]
    if args.background_style:
        inputs.append(Path(args.background_style))
    from PIL import Image

    if out.suffix.lower() not in Image.registered_extensions():
        raise ImageError(f"{out}: unknown image extension {out.suffix!r} (use .png or .jpg)")
    if out.is_dir():
        raise ImageError(f"{out}: is a directory, expected an output file name")
    check_not_input(out, inputs, "input image")
    check_output_path(out)
    for path in (args.log, args.loss_plot, args.contact_sheet):
        if path:
            check_not_input(path, inputs, "input image")
            check_output_path(path)
    if args.snapshot_every:
        check_output_path(args.snapshot_dir or out.with_name(out.stem + "_snapshots"), folder=True)
    return out, inputs


class _Watcher:
    """Consumes the run's events: progress bar, JSON-lines log, snapshots with the
    identity distance, and frames for the contact sheet."""

    def __init__(self, args: argparse.Namespace, out: Path, content: Any, faces: list[Any]) -> None:
        self.args, self.content, self.faces = args, content, faces
        self.bar = ProgressBar(enabled=not args.quiet)
        self.snapshot_dir = Path(args.snapshot_dir) if args.snapshot_dir else out.with_name(out.stem + "_snapshots")
        self.log_fh = open(args.log, "w") if args.log else None  # noqa: SIM115 - closed in close()
        self.frames: list[tuple[str, Any]] = []
        self.frame_every = args.snapshot_every
        self._references: list[Any] = []

    def __call__(self, ev: Event) -> None:
        from painterly.image import save_image

        self.bar(ev)
        if self.log_fh is not None:
            self.log_fh.write(json.dumps({"step": ev.step, "scale": getattr(ev, "scale", 0),
                                          "size": list(getattr(ev, "size", (0, 0))),
                                          "elapsed": round(ev.elapsed, 4), **ev.losses}) + "\n")
        if not self.frame_every and self.args.contact_sheet:
            self.frame_every = max(1, math.ceil(ev.total_steps / 6))
        if not (self.frame_every and ev.step % self.frame_every == 0):
            return
        img = ev.image()
        if img is None:
            return
        if self.faces and self.args.snapshot_every:
            self.bar.write(self._identity_line(ev.step, img))
        if self.args.snapshot_every:
            save_image(img, self.snapshot_dir / f"step_{ev.step:05d}.png")
        if self.args.contact_sheet:
            self.frames.append((f"step {ev.step}", img))

    def _identity_line(self, step: int, img: Any) -> str:
        from painterly.faces.identity import embed, identity_distance

        try:
            if not self._references:  # the photo's face embeddings, once
                self._references.extend(embed(self.content, f) for f in self.faces)
            ids = [identity_distance(self.content, img, f, reference=r)
                   for f, r in zip(self.faces, self._references, strict=True)]
            return f"step {step}: identity distance " + ", ".join(f"{d:.3f}" for d in ids)
        except Exception as exc:  # too small or too blurred to embed yet
            return f"step {step}: identity distance not measurable ({exc})"

    def close(self) -> None:
        self.bar.close()
        if self.log_fh is not None:
            self.log_fh.close()


def _write_extras(args: argparse.Namespace, portrait: PortraitResult, content: Any, frames: list[Any]) -> None:
    from painterly.image import load_image
    from painterly.report import contact_sheet, loss_curve

    result = portrait.result
    if args.loss_plot and result.history:
        loss_curve(result.history, args.loss_plot)
    if args.contact_sheet:
        tiles = [("content", content), *((f"style {i + 1}", load_image(s)) for i, s in enumerate(args.style))]
        ids = [d for d in portrait.identity if d is not None]
        label = "result" + (f" (identity {max(ids):.2f})" if ids else "")
        tiles += [*frames, (label, result.image)]
        contact_sheet(tiles, args.contact_sheet)


def _summary(out: Path, portrait: PortraitResult) -> None:
    result = portrait.result
    print(
        f"wrote {out} ({result.image.width}x{result.image.height}) in {result.elapsed:.1f} s, {result.steps} steps; "
        f"loss {result.losses['total']:.4g} (content {result.losses['content']:.3g}, "
        f"style {result.losses['style']:.3g}, tv {result.losses['tv']:.3g})",
        file=sys.stderr,
    )
    if portrait.faces or portrait.identity:
        dists = ", ".join(f"{d:.3f}" if d is not None else "n/a" for d in portrait.identity)
        mode = "face-aware" if portrait.face_aware else "plain"
        print(f"faces: {len(portrait.faces)} ({mode}); identity distance input->output: {dists} "
              f"(same person below 0.6)", file=sys.stderr)


def _run_video(args: argparse.Namespace) -> int:
    """Ruder et al.: each frame from the previous output, warped by flow, plus a
    temporal loss; the audio kept."""
    from painterly.methods.gatys_video import stylize_video_gatys

    if not args.style:
        raise ConfigError("give a painting with --style")
    if args.later_iterations < 1 or not args.temporal_weight >= 0:
        raise ConfigError("--later-iterations must be >= 1 and --temporal-weight >= 0")
    from painterly.image.video import trimmed

    args.style = [resolve_style(s) for s in args.style]
    stylizer = Stylizer(list(args.style), config_from_args(args))
    print(f"backbone: {stylizer.choice.name} ({stylizer.choice.reason})", file=sys.stderr)
    with trimmed(args.content, args.start, args.duration) as clip, \
            ProgressBar("video", unit="frame", enabled=not args.quiet) as bar:
        result = stylize_video_gatys(stylizer, clip, args.output, later_iterations=args.later_iterations,
                                     temporal_weight=args.temporal_weight, callback=bar,
                                     face_aware=args.face_aware is not False, long_term=args.long_term)
        _report(args, clip, result)
    return 0


def _report(args: argparse.Namespace, clip: Path, result: Any) -> None:
    later = (result.seconds - result.first_frame_seconds) / max(1, result.frames - 1)
    print(f"wrote {result.path} ({result.frames} frames) in {result.seconds:.1f} s: first frame "
          f"{result.first_frame_seconds:.1f} s, then {later:.2f} s per frame", file=sys.stderr)
    from painterly.cli.video import report_clip

    report_clip(clip, result.path, args.contact_sheet, result.frames)


def run(args: argparse.Namespace) -> int:
    from painterly.faces.detection import shared_detector
    from painterly.image.video import is_video

    if is_video(args.content) and (Path(args.content).suffix.lower() != ".gif" or is_video(args.output)):
        return _run_video(args)
    if args.start is not None or args.duration is not None:
        raise ConfigError("--start and --duration cut a video; the input is not one")
    from painterly.files import write_json
    from painterly.image import load_image, save_image
    from painterly.records import run_record

    out, inputs = _check_paths(args)
    if args.preset == "sketch":
        from painterly.cli.sketch import run_sketch

        return run_sketch(args, out, inputs)
    if args.dry_run:
        from painterly.cli.large import dry_run

        return dry_run(args, Stylizer(list(args.style), config_from_args(args)))
    if args.photo:
        from painterly.cli.photo import run_photo

        return run_photo(args, out, inputs, config_from_args(args))
    if args.content_mask or args.style_mask or args.photo_weight is not None or args.regions is not None:
        raise ConfigError("--content-mask, --style-mask, --photo-weight and --regions go with --photo")
    if args.snapshot_every < 0:
        raise ConfigError("--snapshot-every must be >= 0")
    config = config_from_args(args)
    pconfig = portrait_config_from_args(args)
    content = load_image(args.content)
    for s in inputs[1:]:
        load_image(s)  # fail before the network loads
    out.parent.mkdir(parents=True, exist_ok=True)
    stylizer = Stylizer(list(args.style), config)
    print(f"backbone: {stylizer.choice.name} ({stylizer.choice.reason})", file=sys.stderr)
    detector = shared_detector(pconfig.min_face_size, stylizer.device)
    faces = find_faces(stylizer, content, detector) if pconfig.face_aware is not False else []
    watcher = _Watcher(args, out, content, faces)
    try:
        portrait = stylize_portrait(stylizer, content, pconfig, callback=watcher, detector=detector, faces=faces)
    except NonFiniteLossError as exc:
        if exc.last_good is not None:
            save_image(exc.last_good, out, protect=inputs)  # type: ignore[arg-type]
            print(f"painterly: error: {exc}; the last good image is in {out}", file=sys.stderr)
        else:
            print(f"painterly: error: {exc}", file=sys.stderr)
        return 1
    finally:
        watcher.close()
    result = portrait.result
    save_image(result.image, out, protect=inputs)
    exit_code = 0
    if result.interrupted:
        print(f"painterly: interrupted after {result.steps} steps; best image so far written to {out}",
              file=sys.stderr)
        exit_code = 130
    write_json(out.with_suffix(".json"), run_record(portrait, stylizer, content=args.content, styles=args.style,
                                                    output=out, portrait_config=pconfig))
    _write_extras(args, portrait, content, watcher.frames)
    _summary(out, portrait)
    return exit_code
