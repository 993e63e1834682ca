"""``painterly fast``: stylise images, folders or videos in one forward pass, with a
trained per-style model (``--model``) or any style through AdaIN (``--style``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch

from painterly.errors import ConfigError, ImageError
from painterly.methods.config import ORIGINAL_COLORS

__all__ = ["add_parser", "run"]


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from painterly.methods.fast import list_fast_models

    bundled = ", ".join(list_fast_models()) or "none"
    p = sub.add_parser("fast", help="stylise images, folders or videos in milliseconds (trained models, AdaIN)")
    p.add_argument("inputs", nargs="*", metavar="CONTENT", help="images, folders of images, or one video file")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", "-m", help=f"trained style model (.pt) or bundled name: {bundled}")
    src.add_argument("--style", "-s", action="append",
                     help="any style image or built-in name, via AdaIN; repeat to mix")
    p.add_argument("--style-weights", type=_floats, help="AdaIN mix weights, e.g. 0.7,0.3")
    p.add_argument("--alpha", type=float, default=1.0, help="AdaIN content-style trade-off, 0 to 1 (default: 1)")
    p.add_argument("--style-scale", type=float, default=1.0, help="AdaIN style image size relative to the photo")
    p.add_argument("--adain-model", default="adain", help="AdaIN decoder (.pt) or bundled name (default: adain)")
    p.add_argument("-o", "--output", help="output image, folder (several inputs or a folder), or video")
    p.add_argument("--size", type=int, help="resize the long side first (default: keep the input size)")
    p.add_argument("--batch-size", type=int, default=4, help="images or frames per forward pass (default: 4)")
    p.add_argument("--original-colors", choices=ORIGINAL_COLORS, help="keep the photo's colours")
    p.add_argument("--mask", help="where the style goes: a mask image (white = style), 'face' or 'background'")
    p.add_argument("--face-pass", action=argparse.BooleanOptionalAction, default=None,
                   help="re-stylise small faces at a finer stroke scale so they stay recognisable "
                        "(default: on for images, off for video)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    p.add_argument("--export-onnx", metavar="FILE.onnx", help="export the model to ONNX (no CONTENT needed)")
    p.add_argument("--list", action="store_true", help="list the bundled models and how they were trained")
    return p


def _list() -> int:
    from painterly.methods.fast import list_fast_models
    from painterly.methods.training import load_checkpoint

    for name, path in list_fast_models().items():
        data = load_checkpoint(path)
        cfg = data.get("config", {})
        what = "AdaIN decoder (any style)" if data["kind"] == "adain" else f"style {Path(cfg['styles'][0]).stem}"
        print(f"{name:18s} {what}; {data['step']} steps, {data['seconds']:.0f} s, {data['backbone']}, "
              f"{path.stat().st_size / 2**20:.1f} MB")
    return 0


def _mask_fn(spec: str, device: str) -> Any:
    """'face' / 'background' -> a per-image function; else a mask file, resized per image."""
    if spec in ("face", "background"):
        from painterly.faces import FaceDetector
        from painterly.faces.masks import face_mask
        from painterly.image import tensor_to_pil

        detector = FaceDetector(device=device)

        def fn(x: torch.Tensor) -> torch.Tensor:
            faces = detector(tensor_to_pil(x))
            m = face_mask(faces, x.shape[-2], x.shape[-1])
            return m if spec == "face" else 1 - m

        return fn
    from painterly.image import load_image

    img = load_image(spec, name=f"mask {spec}")  # checked once, up front

    def from_file(x: torch.Tensor) -> torch.Tensor:
        from painterly.methods.fast import load_mask

        return load_mask(img, (x.shape[-1], x.shape[-2]))

    return from_file


def _faces_note(face_pass: Any) -> str:
    if face_pass is None or not face_pass.faces_seen:
        return ""
    return f"; {face_pass.faces_seen} face(s) re-stylised at a finer stroke scale (--no-face-pass to skip)"


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from painterly.image import save_image
    from painterly.image.video import is_video
    from painterly.methods.adain import AdaINStylizer
    from painterly.methods.batch import expand_inputs, stylize_images, stylize_video
    from painterly.methods.fast import FacePass, FastStylizer, export_onnx
    from painterly.styles import resolve_style

    if args.list:
        return _list()
    if args.size is not None and args.size < 16:
        raise ConfigError(f"size must be at least 16 pixels, got {args.size}")
    if args.batch_size < 1:
        raise ConfigError(f"batch-size must be >= 1, got {args.batch_size}")
    if args.style_scale <= 0:
        raise ConfigError(f"style-scale must be > 0, got {args.style_scale}")
    if args.export_onnx:
        model = args.model or args.adain_model
        path = export_onnx(model, args.export_onnx)
        print(f"wrote {path}", file=sys.stderr)
        if not args.inputs:
            return 0
    if not args.inputs:
        raise ConfigError("give CONTENT images, a folder or a video (or --export-onnx / --list)")
    if not args.output:
        raise ConfigError("give -o OUTPUT (an image, a folder, or a video)")
    if args.model is None and args.style is None:
        args.model = "starry_night"
    t0 = time.perf_counter()
    videos = [p for p in args.inputs if is_video(p)]
    use_face_pass = args.face_pass if args.face_pass is not None else not videos
    face_pass = FacePass(device=args.device) if use_face_pass else None
    if args.style:
        styles = [resolve_style(s) for s in args.style]
        for s in styles:
            from painterly.image import load_image

            load_image(s)  # one-line error for a bad style before any work
        adain = AdaINStylizer(args.adain_model, device=args.device)
        suffix = "_".join(Path(s).stem for s in styles)

        def stylize(x: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
            side = round(max(x.shape[-2:]) * args.style_scale)
            if args.original_colors == "histogram":  # style recoloured to each photo: one at a time
                return torch.cat([
                    adain.stylize_tensor(x[i : i + 1], [adain.style_stats(s, side, x[i : i + 1]) for s in styles],
                                         weights=args.style_weights, alpha=args.alpha,
                                         mask=None if masks is None else masks[i : i + 1], face_pass=face_pass)
                    for i in range(x.shape[0])])
            stats = [adain.style_stats(s, side) for s in styles]  # cached per style and size
            return adain.stylize_tensor(x, stats, weights=args.style_weights, alpha=args.alpha,
                                        original_colors=args.original_colors, mask=masks, face_pass=face_pass)

        device = str(adain.device)
    else:
        if args.style_weights is not None or args.alpha != 1.0:
            raise ConfigError("--style-weights and --alpha are AdaIN controls; use them with --style")
        net = FastStylizer(args.model, device=args.device)
        suffix = net.name

        def stylize(x: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
            return net.stylize_tensor(x, original_colors=args.original_colors, mask=masks, face_pass=face_pass)

        device = str(net.device)
    mask_fn = _mask_fn(args.mask, device) if args.mask else None
    out = Path(args.output)
    if videos:
        if len(args.inputs) != 1:
            raise ConfigError("give one video at a time (or images and folders without videos)")
        from painterly.image.video import probe_video

        info = probe_video(videos[0])
        bar = tqdm(total=info.n_frames, unit="frame", desc="video", dynamic_ncols=True, file=sys.stderr)
        try:
            written = stylize_video(stylize, videos[0], out, size=args.size, batch_size=args.batch_size,
                                    mask_fn=mask_fn, on_frame=lambda n: bar.update(n - bar.n))
        finally:
            bar.close()
        print(f"wrote {written} ({bar.n} frames) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        return 0
    files = expand_inputs(args.inputs)
    single = len(files) == 1 and not Path(args.inputs[0]).is_dir()
    if single and out.suffix:
        from painterly.image import load_image, pil_to_tensor, resize_long_side, tensor_to_pil

        img = load_image(files[0])
        if args.size is not None:
            img = resize_long_side(img, args.size)
        x = pil_to_tensor(img)
        y = stylize(x, mask_fn(x) if mask_fn else None)
        save_image(tensor_to_pil(y), out, protect=files)
        print(f"wrote {out} ({img.width}x{img.height}) in {time.perf_counter() - t0:.2f} s on {device}"
              + _faces_note(face_pass), file=sys.stderr)
        return 0
    if out.suffix and not out.is_dir():
        raise ImageError(f"{out}: several inputs need an output folder, not a file name")
    bar = tqdm(total=len(files), unit="img", desc="images", dynamic_ncols=True, file=sys.stderr)
    try:
        report = stylize_images(stylize, files, out, suffix=suffix, size=args.size, batch_size=args.batch_size,
                                mask_fn=mask_fn, on_image=lambda _p: bar.update(1))
    finally:
        bar.close()
    print(f"wrote {len(report.written)} image(s) to {out} in {time.perf_counter() - t0:.1f} s on {device}"
          + _faces_note(face_pass), file=sys.stderr)
    if report.skipped:
        print(f"skipped {len(report.skipped)} unreadable image(s):", file=sys.stderr)
        for _path, reason in report.skipped:
            print(f"  {reason}", file=sys.stderr)
        return 1 if not report.written else 0
    return 0
