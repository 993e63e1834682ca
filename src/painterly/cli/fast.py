"""``painterly fast``: stylise images, folders or videos in one forward pass, with a
trained per-style model (``--model``) or any style through AdaIN (``--style``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from painterly.cli.arg_types import numbers
from painterly.cli.progress import ProgressBar
from painterly.errors import ConfigError, ImageError
from painterly.files import IMAGE_EXTENSIONS, check_output_path
from painterly.image.options import ORIGINAL_COLORS
from painterly.methods.feedforward.options import METHODS, FastOptions

if TYPE_CHECKING:
    import torch
    from PIL import Image

__all__ = ["add_parser", "make_stylizer", "mask_function", "onnx_model", "run",
           "stylize_one", "stylize_one_onnx"]


_DEFAULTS = FastOptions()


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from painterly.methods.feedforward.bundled import list_fast_models

    bundled = ", ".join(list_fast_models()) or "none"
    p = sub.add_parser("fast", help="stylise images, folders or videos in milliseconds (trained models, AdaIN)")
    p.add_argument("inputs", nargs="*", metavar="CONTENT", help="images, folders of images, or one video file")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", "-m", help=f"trained style model (.pt) or bundled name: {bundled}")
    src.add_argument("--style", "-s", action="append",
                     help="any style image or built-in name, via AdaIN; repeat to mix")
    p.add_argument("--style-weights", type=numbers, help="AdaIN mix weights, e.g. 0.7,0.3")
    p.add_argument("--alpha", type=float, default=None,
                   help=f"--style: content-style trade-off, 0 to 1 (default: {_DEFAULTS.alpha}; "
                        f"{_DEFAULTS.photo_alpha} with --photo)")
    p.add_argument("--style-scale", type=float, default=_DEFAULTS.style_scale,
                   help="AdaIN style image size relative to the photo")
    p.add_argument("--method", choices=METHODS, default=None,
                   help=f"how --style is applied: AdaIN (per-channel statistics) or WCT (whitening and colouring, "
                        f"full covariances) (default: {_DEFAULTS.method}; wct with --photo)")
    p.add_argument("--photo", action="store_true",
                   help="photorealistic: WCT, then a guided filter with the photo as guide so every edge stays "
                        "(the style is a photo too; needs --style)")
    p.add_argument("--adain-model", default=_DEFAULTS.adain_model,
                   help=f"AdaIN decoder (.pt) or bundled name (default: {_DEFAULTS.adain_model})")
    p.add_argument("--wct-model", default=_DEFAULTS.wct_model,
                   help=f"WCT reconstruction decoder (.pt) or bundled name (default: {_DEFAULTS.wct_model})")
    p.add_argument("-o", "--output", help="output image, folder (several inputs or a folder), or video")
    p.add_argument("--size", type=int, help="resize the long side first (default: keep the input size)")
    p.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size,
                   help=f"images or frames per forward pass (default: {_DEFAULTS.batch_size})")
    p.add_argument("--original-colors", choices=ORIGINAL_COLORS, help="keep the photo's colours")
    p.add_argument("--mask", help="where the style goes: a mask image (white = style), 'face' or 'background'")
    p.add_argument("--face-pass", action=argparse.BooleanOptionalAction, default=None,
                   help="re-stylise small faces at a finer stroke scale so they stay recognisable (default: on; "
                        "video: faces detected every 8th frame and followed by optical flow)")
    p.add_argument("--temporal", action=argparse.BooleanOptionalAction, default=True,
                   help="video: blend each frame with the previous output, warped by optical flow, where nothing "
                        "is occluded, so strokes do not flicker (default: on; --no-temporal: frame by frame)")
    p.add_argument("--temporal-weight", type=float, default=0.45,
                   help="video: share of the warped previous output, 0 to <1 (default 0.45)")
    p.add_argument("--contact-sheet", metavar="PNG", help="video: a sheet of every 10th frame, input over output")
    from painterly.cli.video import add_cut_options

    add_cut_options(p)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    p.add_argument("--runtime", choices=RUNTIMES, default="auto",
                   help="onnx: the model's ONNX copy on onnxruntime, images and videos, no torch (bundled "
                        "models; a video with --original-colors/--mask runs only the network on it); torch; "
                        "auto (default): onnx where it applies")
    p.add_argument("--export-onnx", metavar="FILE.onnx", help="export the model to ONNX (no CONTENT needed)")
    p.add_argument("--list", action="store_true", help="list the bundled models and how they were trained")
    return p


RUNTIMES = ("auto", "onnx", "torch")


def onnx_model(args: argparse.Namespace, videos: list[str]) -> Path | None:
    """The ONNX file to run on, when the light path applies (see ``--runtime``). A
    video with ``--original-colors`` or ``--mask`` runs the network on it inside the
    torch pipeline."""
    from painterly.methods.feedforward.onnx_runtime import onnx_model_for, onnxruntime_available

    why_not = ("AdaIN (--style)" if args.style else
               "--original-colors" if args.original_colors and not videos else
               "--mask" if args.mask and not videos else
               f"--device {args.device}" if args.device not in ("auto", "cpu") else
               "--export-onnx" if args.export_onnx else
               "onnxruntime is not installed" if not onnxruntime_available() else None)
    path = None if why_not else onnx_model_for(args.model)
    if path is None and why_not is None:
        why_not = f"no ONNX copy of {args.model}"
    if args.runtime == "onnx" and path is None:
        raise ConfigError(f"--runtime onnx does not apply here: {why_not}")
    return path if args.runtime != "torch" else None


def _run_onnx(args: argparse.Namespace, onnx_file: Path, use_face_pass: bool, t0: float) -> int:
    """Images through onnxruntime, the face pass included (MTCNN on onnxruntime): no torch."""
    from painterly.events import ItemEvent
    from painterly.files import check_output_path, expand_inputs
    from painterly.image.io import load_image, save_image
    from painterly.methods.feedforward.onnx_runtime import OnnxStylizer

    net = OnnxStylizer(onnx_file)
    files = expand_inputs(args.inputs)
    out = Path(args.output)
    single = len(files) == 1 and not Path(args.inputs[0]).is_dir() and out.suffix
    if single:
        check_output_path(out)
    elif out.suffix and not out.is_dir():
        raise ImageError(f"{out}: several inputs need an output folder, not a file name")
    else:
        check_output_path(out, folder=True)
    face_pass = None
    if use_face_pass:
        from painterly.faces.light import LightFacePass

        face_pass = LightFacePass()
    skipped: list[str] = []
    start = time.perf_counter()
    with ProgressBar("images", unit="img", enabled=not single) as bar:
        for n, f in enumerate(files, start=1):
            try:
                img = load_image(f)
            except ImageError as exc:
                skipped.append(str(exc))
                bar(ItemEvent(step=n, total_steps=len(files), elapsed=time.perf_counter() - start, item=str(f),
                              skipped=str(exc)))
                continue
            result = stylize_one_onnx(args, net, face_pass, img)
            target = out if single else out / f"{f.stem}_{net.name}.png"
            save_image(result, target, protect=files)
            bar(ItemEvent(step=n, total_steps=len(files), elapsed=time.perf_counter() - start, item=str(f)))
    done = len(files) - len(skipped)
    print(f"wrote {out if single else f'{done} image(s) to {out}'} in {time.perf_counter() - t0:.2f} s on cpu "
          f"(onnxruntime){_faces_note(face_pass)}", file=sys.stderr)
    if skipped:
        print(f"skipped {len(skipped)} unreadable image(s):", file=sys.stderr)
        for reason in skipped:
            print(f"  {reason}", file=sys.stderr)
    return 1 if skipped and not done else 0


def stylize_one_onnx(args: argparse.Namespace, net: Any, face_pass: Any, img: Image.Image) -> Image.Image:
    """One image on the ONNX path (``painterly fast IMAGE`` and ``painterly batch``);
    ``face_pass``: a :class:`~painterly.faces.light.LightFacePass` or None. No torch."""
    import numpy as np
    from PIL import Image as PILImage

    from painterly.image.io import resize_long_side, scaled_size

    if args.size is not None:
        net.check_memory(*scaled_size(img.height, img.width, args.size))  # before the resize allocates it
        img = resize_long_side(img, args.size)
    else:
        net.check_memory(img.height, img.width)
    x = (np.asarray(img, dtype=np.float32) / 255.0).transpose(2, 0, 1)[None]
    if face_pass is None:
        y = net.stylize_array(x)[0]
    else:
        from concurrent.futures import ThreadPoolExecutor

        # the faces are found while the network runs (onnxruntime and numpy release the GIL)
        with ThreadPoolExecutor(1, thread_name_prefix="painterly-faces") as pool:
            found = pool.submit(face_pass.detect, img)
            y = net.stylize_array(x)[0]
            faces = found.result()
        y = face_pass(net.stylize_array, img, y, faces=faces)
    return PILImage.fromarray((y.transpose(1, 2, 0) * 255.0).round().astype(np.uint8), "RGB")


def _list() -> int:
    from painterly.methods.feedforward.bundled import list_fast_models
    from painterly.methods.feedforward.training import load_checkpoint

    for name, path in list_fast_models().items():
        data = load_checkpoint(path)
        cfg = data.get("config", {})
        what = {"adain": "AdaIN decoder (any style)", "wct": "WCT reconstruction decoder (any style)"}.get(
            data["kind"], f"style {Path(cfg.get('styles', ['?'])[0]).stem}")
        print(f"{name:18s} {what}; {data['step']} steps, {data['seconds']:.0f} s, {data['backbone']}, "
              f"{path.stat().st_size / 2**20:.1f} MB")
    return 0


def mask_function(spec: str, device: str) -> Any:
    """'face' / 'background' -> a per-image function; else a mask file, resized per image."""
    from painterly.methods.feedforward.common import load_mask

    if spec in ("face", "background"):
        from painterly.faces.detection import shared_detector
        from painterly.faces.masks import face_mask
        from painterly.image import tensor_to_pil

        detector = shared_detector(20.0, device)  # the process-wide MTCNN the face pass uses too

        def fn(x: torch.Tensor) -> torch.Tensor:
            faces = detector(tensor_to_pil(x))
            m = face_mask(faces, x.shape[-2], x.shape[-1])
            return m if spec == "face" else 1 - m

        return fn
    from painterly.image import load_image

    img = load_image(spec, name=f"mask {spec}")  # checked once, up front

    def from_file(x: torch.Tensor) -> torch.Tensor:
        return load_mask(img, (x.shape[-1], x.shape[-2]))

    return from_file


def _faces_note(face_pass: Any) -> str:
    if face_pass is None or not face_pass.faces_seen:
        return ""
    return f"; {face_pass.faces_seen} face(s) re-stylised at a finer stroke scale (--no-face-pass to skip)"


def fast_method(args: argparse.Namespace) -> str:
    """The arbitrary-style method: ``--method``, else WCT for ``--photo``, else the default."""
    return args.method or ("wct" if args.photo else _DEFAULTS.method)


def make_stylizer(args: argparse.Namespace, face_pass: Any, onnx: Path | None = None) -> tuple[Any, str, str, Any]:
    """The batch function (images, masks) -> stylised images, the output suffix, the
    device, and the memory check (height, width[, batch]). ``onnx``: run the per-style
    network on this ONNX copy where the device is the CPU."""
    from painterly.image import load_image
    from painterly.methods.feedforward import AdaINStylizer, FastStylizer
    from painterly.styles import resolve_style

    if args.style:
        styles = [resolve_style(s) for s in args.style]
        for s in styles:
            load_image(s)  # one-line error for a bad style before any work
        method = fast_method(args)
        alpha = args.alpha if args.alpha is not None else _DEFAULTS.photo_alpha if args.photo else _DEFAULTS.alpha
        if method == "wct":
            from painterly.methods.feedforward.wct import WCTStylizer

            arbitrary: AdaINStylizer = WCTStylizer(args.wct_model, device=args.device)
        else:
            arbitrary = AdaINStylizer(args.adain_model, device=args.device)

        def with_style(x: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
            return arbitrary.stylize_batch(x, styles, weights=args.style_weights, alpha=alpha,
                                           style_scale=args.style_scale, original_colors=args.original_colors,
                                           mask=masks, face_pass=face_pass, photo=args.photo)

        return with_style, "_".join(Path(s).stem for s in styles), str(arbitrary.device), arbitrary.check_memory
    if args.style_weights is not None or args.alpha is not None:
        raise ConfigError("--style-weights and --alpha are AdaIN controls; use them with --style")
    from painterly.device import resolve_device

    on_cpu = resolve_device(args.device).type == "cpu"
    net = FastStylizer(args.model, device=args.device, onnx=onnx if on_cpu else None)

    def with_net(x: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
        return net.stylize_tensor(x, original_colors=args.original_colors, mask=masks, face_pass=face_pass)

    return with_net, net.name, str(net.device), net.check_memory


def stylize_one(args: argparse.Namespace, stylize: Any, mask_fn: Any, check: Any, img: Image.Image) -> Image.Image:
    """One image through ``make_stylizer``'s function: the size check, the resize, the
    mask. ``painterly fast IMAGE`` and ``painterly batch`` both come through here."""
    from painterly.image import pil_to_tensor, resize_long_side, scaled_size, tensor_to_pil

    if args.size is not None:
        check(*scaled_size(img.height, img.width, args.size))  # before the resize allocates it
        img = resize_long_side(img, args.size)
    x = pil_to_tensor(img)
    return tensor_to_pil(stylize(x, mask_fn(x) if mask_fn else None))


def _run_images(
    args: argparse.Namespace, stylize: Any, mask_fn: Any, suffix: str, device: str, face_pass: Any, check: Any,
    t0: float,
) -> int:
    from painterly.files import expand_inputs
    from painterly.image import load_image, save_image
    from painterly.methods.feedforward.batch import stylize_images

    out = Path(args.output)
    files = expand_inputs(args.inputs)
    if len(files) == 1 and not Path(args.inputs[0]).is_dir() and out.suffix:
        check_output_path(out)
        result = stylize_one(args, stylize, mask_fn, check, load_image(files[0]))
        save_image(result, out, protect=files)
        print(f"wrote {out} ({result.width}x{result.height}) in {time.perf_counter() - t0:.2f} s on {device}"
              + _faces_note(face_pass), file=sys.stderr)
        return 0
    if out.suffix and not out.is_dir():
        raise ImageError(f"{out}: several inputs need an output folder, not a file name")
    check_output_path(out, folder=True)
    with ProgressBar("images", unit="img") as bar:
        report = stylize_images(stylize, files, out, suffix=suffix, size=args.size, batch_size=args.batch_size,
                                mask_fn=mask_fn, callback=bar, check_size=check)
    print(f"wrote {len(report.written)} image(s) to {out} in {time.perf_counter() - t0:.1f} s on {device}"
          + _faces_note(face_pass), file=sys.stderr)
    if report.skipped:
        print(f"skipped {len(report.skipped)} unreadable image(s):", file=sys.stderr)
        for _path, reason in report.skipped:
            print(f"  {reason}", file=sys.stderr)
        return 1 if not report.written else 0
    return 0


def run(args: argparse.Namespace) -> int:
    from painterly.image.video import is_video

    if args.list:
        return _list()
    FastOptions(alpha=_DEFAULTS.alpha if args.alpha is None else args.alpha, style_scale=args.style_scale,
                size=args.size, batch_size=args.batch_size)
    if args.export_onnx:
        from painterly.methods.feedforward import export_onnx

        path = export_onnx(args.model or args.adain_model, args.export_onnx)
        print(f"wrote {path}", file=sys.stderr)
        if not args.inputs:
            return 0
    if not args.inputs:
        raise ConfigError("give CONTENT images, a folder or a video (or --export-onnx / --list)")
    if not args.output:
        raise ConfigError("give -o OUTPUT (an image, a folder, or a video)")
    if (args.photo or args.method) and not args.style:
        raise ConfigError("--photo and --method apply to --style (any style image)")
    if args.model is None and args.style is None:
        args.model = _DEFAULTS.model
    t0 = time.perf_counter()
    # a GIF is a video only when the output is one too (an animated GIF to a .png is an image)
    out_is_image = Path(args.output).suffix.lower() in IMAGE_EXTENSIONS
    videos = [p for p in args.inputs if is_video(p) and not (Path(p).suffix.lower() == ".gif" and out_is_image)]
    if (args.start is not None or args.duration is not None) and not videos:
        raise ConfigError("--start and --duration cut a video; the input is not one")
    use_face_pass = args.face_pass if args.face_pass is not None else (_DEFAULTS.face_pass and not args.photo)
    onnx_file = onnx_model(args, videos)
    if onnx_file is not None and not (args.original_colors or args.mask):  # the light path: no torch
        if videos:
            from painterly.cli.video import run_light_video

            return run_light_video(args, videos[0], onnx_file, bool(use_face_pass), t0)
        return _run_onnx(args, onnx_file, bool(use_face_pass), t0)
    from painterly.faces.face_pass import FacePass

    face_pass = FacePass.fast(video=bool(videos), device=args.device) if use_face_pass else None
    stylize, suffix, device, check = make_stylizer(args, face_pass, onnx=onnx_file)
    mask_fn = mask_function(args.mask, device) if args.mask else None
    if videos:
        from painterly.cli.video import run_fast_video

        return run_fast_video(args, videos[0], stylize, mask_fn, check, t0)
    return _run_images(args, stylize, mask_fn, suffix, device, face_pass, check, t0)
