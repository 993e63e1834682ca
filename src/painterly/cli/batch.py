"""``painterly batch``: many stylisations from a folder, a glob or a manifest, in this
process or on Ray.

Each item carries the flags of the single-image command it stands for (``painterly
fast`` for ``--model``/``--style``, ``painterly stylize`` with ``--gatys``); the flags
the batch does not know itself go to that command's own parser, so every option works
as it does there, with the same defaults. Workers get the content file's bytes and
return the image; only this process writes outputs and records.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path
from typing import Any

from painterly.batch.engines import Outcome
from painterly.batch.plan import BadRow, BatchItem, Row
from painterly.errors import ConfigError, PainterlyError

__all__ = ["add_parser", "render_item", "run"]

ENGINES = ("auto", "ray", "local")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "batch", help="stylise a folder, a glob or a manifest of images (in this process or on Ray)",
        description="Any flag of 'painterly fast' (with --model/--style) or of 'painterly stylize' (with --gatys) "
                    "may follow and applies to every item; a manifest's 'options' column adds per-row flags.",
    )
    p.add_argument("input", help="a folder, a glob ('photos/*.jpg'), an image, or a manifest (.csv or .jsonl with "
                                 "content, style, model, options, output)")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="output folder (records go there too)")
    p.add_argument("--gatys", action="store_true", help="optimise each image (painterly stylize) instead of a "
                                                        "feed-forward pass")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="ray (embedded local cluster, or --address), local (this process); auto: ray when "
                        "installed")
    p.add_argument("--address", help="join a running Ray cluster (host:port, ray://host:port or auto)")
    p.add_argument("--cpus-per-item", type=float, default=None,
                   help="CPUs per Ray worker, torch threads to match (default: 1 fast, 2 --gatys)")
    p.add_argument("--gpus-per-item", type=float, default=0, help="GPUs per Ray worker (default 0)")
    p.add_argument("--ext", default=".png", help="output extension (default .png)")
    p.add_argument("--no-identity", dest="identity", action="store_false",
                   help="skip the dlib identity measure in the records (fast items)")
    return p


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """``painterly batch``'s own arguments, and the single-image flags (each with its
    value) that go to every item: argparse cannot tell where an unknown flag's value
    ends, so the split uses the single-image parsers' own tables."""
    from painterly.cli.flags import command_parser

    root = argparse.ArgumentParser(prog="painterly")
    batch = add_parser(root.add_subparsers())
    own = {o: a.nargs != 0 for a in batch._actions for o in a.option_strings}
    item = {o: a.nargs != 0 for name in ("fast", "stylize") for a in command_parser(name)._actions
            for o in a.option_strings}
    mine: list[str] = []
    theirs: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        flag = token.split("=", 1)[0]
        if token.startswith("-") and flag not in own and flag in item and flag not in ("-h", "--help"):
            takes = item[flag] and "=" not in token
            theirs += argv[i : i + 1 + takes]
            i += 1 + takes
            continue
        mine.append(token)
        if token.startswith("-") and own.get(flag) and "=" not in token:
            mine += argv[i + 1 : i + 2]
            i += 1
        i += 1
    return mine, theirs


# -- items -----------------------------------------------------------------------------


def _command_parser(method: str) -> argparse.ArgumentParser:
    from painterly.cli.flags import command_parser

    return command_parser("stylize" if method == "gatys" else "fast")


def parse_item_args(parser: argparse.ArgumentParser, content: str, argv: list[str]) -> argparse.Namespace:
    """The single-image command's namespace for ``argv``; its usage error as ConfigError."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return parser.parse_args([content, "-o", "batch-item.png", *argv])
    except SystemExit:
        message = err.getvalue().strip().splitlines()
        raise ConfigError(message[-1].split("error: ", 1)[-1] if message else "bad options") from None


def _option_flags(options: str | dict[str, Any] | None, flags: dict[str, str]) -> list[str]:
    import shlex

    if options is None:
        return []
    if isinstance(options, str):
        return shlex.split(options)
    argv: list[str] = []
    for name, value in options.items():
        flag = flags.get(name) or flags.get(name.replace("-", "_"))
        if flag is None:
            raise ConfigError(f"unknown option {name!r}")
        if value is True:
            argv.append(flag)
        elif value is False:
            argv.append("--no-" + flag[2:])
        else:
            argv += [flag, ",".join(map(str, value)) if isinstance(value, list) else str(value)]
    return argv


def _label(ns: argparse.Namespace, method: str) -> str:
    if method == "gatys" and getattr(ns, "preset", None):
        return ns.preset
    if ns.style:
        return "_".join(Path(s).stem for s in ns.style)
    return Path(ns.model).stem if getattr(ns, "model", None) else "fast"


def plan_items(rows: list[Row], out_dir: Path, method: str, common: list[str], ext: str,
               identity: bool) -> tuple[list[BatchItem], list[BadRow]]:
    """One item per row, checked with the single-image parser; a row that does not
    parse, or names an output another row already has, is a bad row."""
    from painterly.cli.flags import flag_names

    parser = _command_parser(method)
    flags = flag_names(parser)
    items: list[BatchItem] = []
    bad: list[BadRow] = []
    taken: dict[Path, str] = {}
    for row in rows:
        try:
            argv = list(common)
            argv += [a for s in row.styles for a in ("--style", s)]
            if row.model:
                argv += ["--model", row.model]
            argv += _option_flags(row.options, flags)
            ns = parse_item_args(parser, str(row.content), argv)
            if method == "fast" and ns.model is None and not ns.style:
                argv += ["--model", "starry_night"]
                ns.model = "starry_night"
            if method == "gatys" and not ns.style and not ns.preset:
                raise ConfigError("no style: give --style (or a 'style' column)")
            name = row.output or f"{row.content.stem}_{_label(ns, method)}{ext}"
            output = (out_dir / name).resolve()
            if out_dir.resolve() not in output.parents:
                raise ConfigError(f"output {name!r} is outside the output folder")
            if output in taken:
                raise ConfigError(f"output {name} is also {taken[output]}'s; give the row an 'output'")
            taken[output] = row.where
            items.append(BatchItem(row.where, row.content, output, method, tuple(argv),
                                   {"argv": argv, "identity": identity}))
        except PainterlyError as exc:
            bad.append(BadRow(row.where, str(exc)))
    return items, bad


# -- the worker's side -----------------------------------------------------------------


def _fast(ns: argparse.Namespace, img: Any, cache: dict, measure: bool) -> Outcome:
    """As ``painterly fast IMAGE`` would: on onnxruntime where that applies, else torch."""
    from painterly.cli.fast import make_stylizer, mask_function, onnx_model, stylize_one, stylize_one_onnx
    from painterly.faces.face_pass import FacePass

    onnx_file = onnx_model(ns, [])
    if onnx_file is not None:
        key: tuple = ("onnx", str(onnx_file), ns.face_pass is not False)
        if key not in cache:
            from painterly.faces.light import LightFacePass
            from painterly.methods.feedforward.onnx_runtime import OnnxStylizer

            cache[key] = (OnnxStylizer(onnx_file, threads=_threads()),
                          LightFacePass() if ns.face_pass is not False else None)
        net, face_pass = cache[key]
        result = stylize_one_onnx(ns, net, face_pass, img)
        return Outcome(result, identity=_identity(img, result, ns.device) if measure else [])

    key = ("fast", ns.model, tuple(ns.style or ()), ns.adain_model, ns.wct_model, ns.method, ns.photo, ns.device,
           ns.face_pass is not False,
           tuple(ns.style_weights or ()), ns.alpha, ns.style_scale, ns.original_colors, ns.mask)
    if key not in cache:
        face_pass = FacePass(device=ns.device) if ns.face_pass is not False else None
        stylize, _suffix, device, check = make_stylizer(ns, face_pass)
        cache[key] = (stylize, check, mask_function(ns.mask, device) if ns.mask else None)
    stylize, check, mask_fn = cache[key]
    result = stylize_one(ns, stylize, mask_fn, check, img)
    return Outcome(result, identity=_identity(img, result, ns.device) if measure else [])


def _threads() -> int:
    """As many onnxruntime threads as torch has here (a Ray worker sets that to its CPUs)."""
    import torch

    return torch.get_num_threads()


def _identity(content: Any, result: Any, device: str) -> list[float | None]:
    from painterly.faces.detection import shared_detector
    from painterly.faces.identity import identity_distance

    out: list[float | None] = []
    for face in shared_detector(20.0, device)(content):
        try:
            out.append(round(identity_distance(content, result, face), 4))
        except PainterlyError:
            out.append(None)
    return out


def _gatys(ns: argparse.Namespace, img: Any, cache: dict) -> Outcome:
    from painterly.cli.stylize import config_from_args, portrait_config_from_args
    from painterly.faces.detection import shared_detector
    from painterly.methods import Stylizer
    from painterly.methods.portrait import stylize_portrait
    from painterly.styles import resolve_style

    if ns.preset == "sketch":
        from painterly.methods.sketch import SketchConfig, sketch_portrait

        sketch = sketch_portrait(img, SketchConfig(**({"size": ns.size} if ns.size else {})),
                                 device=ns.device or "auto")
        return Outcome(sketch.image, identity=list(sketch.identity))
    styles = [resolve_style(s) for s in ns.style]
    config, pconfig = config_from_args(ns), portrait_config_from_args(ns)
    key = ("gatys", tuple(styles), repr(config))
    if key not in cache:
        cache.clear()  # one stylizer (a backbone and its style targets) per worker at a time
        cache[key] = Stylizer(styles, config)
    stylizer = cache[key]
    portrait = stylize_portrait(stylizer, img, pconfig, detector=shared_detector(pconfig.min_face_size,
                                                                                  stylizer.device))
    return Outcome(portrait.image, identity=list(portrait.identity), notes=list(portrait.notes))


def render_item(item: BatchItem, data: bytes, cache: dict) -> Outcome:
    """One item, start to finish, on whichever worker: never raises for a bad item."""
    from painterly.image import decode_image

    t0 = time.perf_counter()
    try:
        if "parsers" not in cache:
            cache["parsers"] = {}
        parser = cache["parsers"].get(item.method) or cache["parsers"].setdefault(
            item.method, _command_parser(item.method))
        ns = parse_item_args(parser, str(item.content), list(item.argv))
        img = decode_image(data, str(item.content))
        if item.method == "gatys":
            out = _gatys(ns, img, cache)
        else:
            out = _fast(ns, img, cache, bool(item.options.get("identity", True)))
    except PainterlyError as exc:
        out = Outcome(error=str(exc))
    except Exception as exc:  # a bug must not end the batch: it is recorded with the item
        out = Outcome(error=f"internal error: {type(exc).__name__}: {exc}")
    out.seconds = time.perf_counter() - t0
    return out


# -- the command -----------------------------------------------------------------------


def _engine(args: argparse.Namespace) -> Any:
    from painterly.batch.engines import LocalEngine, RayEngine

    engine = args.engine
    if engine == "auto":
        try:
            import ray  # noqa: F401
            engine = "ray"
        except ImportError:
            engine = "local"
    if engine == "local":
        if args.address:
            raise ConfigError("--address needs --engine ray")
        return LocalEngine()
    cpus = args.cpus_per_item or (2.0 if args.gatys else 1.0)
    return RayEngine(args.address, cpus=cpus, gpus=args.gpus_per_item)


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from painterly.batch.plan import check_out_dir, read_rows
    from painterly.batch.run import run_batch
    from painterly.cli.progress import ProgressBar

    t0 = time.perf_counter()
    out = Path(args.output)
    ext = args.ext if args.ext.startswith(".") else "." + args.ext
    from PIL import Image

    if ext.lower() not in Image.registered_extensions():
        raise ConfigError(f"--ext {args.ext}: not an image extension (use .png or .jpg)")
    check_out_dir(out, args.input)
    rows, bad = read_rows(args.input)
    method = "gatys" if args.gatys else "fast"
    items, more_bad = plan_items(rows, out, method, extra, ext, args.identity)
    bad += more_bad
    if not items and bad:
        for b in bad:
            print(f"  {b.where}: {b.reason}", file=sys.stderr)
        raise ConfigError(f"no item of {args.input} can run ({len(bad)} bad)")
    from painterly.batch.engines import LocalEngine
    from painterly.batch.plan import pending_items

    engine = _engine(args) if pending_items(items, out) else LocalEngine()  # no cluster for nothing to do
    print(f"painterly: {len(items)} item(s), {method}, on {engine.name}"
          + (f" ({engine.workers} worker(s) on {engine.nodes} node(s))" if engine.name == "ray" else ""),
          file=sys.stderr)
    try:
        with ProgressBar("batch", unit="img") as bar:
            summary = run_batch(items, out, engine, render_item, bad_rows=bad, actors=method == "fast",
                                callback=bar)
    finally:
        engine.close()
    print(f"done {len(summary.done)}, skipped {len(summary.skipped)} (finished earlier), failed "
          f"{len(summary.failed)} in {time.perf_counter() - t0:.1f} s; records in {summary.records}",
          file=sys.stderr)
    for where, reason in summary.failed:
        print(f"  failed: {where}: {reason}", file=sys.stderr)
    if summary.interrupted:
        print("painterly: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 1 if summary.failed else 0
