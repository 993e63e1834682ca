"""``painterly`` entry point: parse, dispatch, and turn user errors into one line and
exit code 2 (no traceback)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

from painterly.cli.flags import as_flags, flag_names
from painterly.errors import PainterlyError

__all__ = ["entry", "finish", "main"]

EXIT_USAGE = 2
# what to install when a command meets a missing engine ("painterly fast" on onnxruntime needs no torch)
_OPTIONAL = {
    "torch": "pip install torch (CPU: pip install torch --index-url https://download.pytorch.org/whl/cpu)",
    "onnxruntime": "pip install 'painterly[onnx]'",
    "ray": "pip install 'painterly[ray]'",
}
EXIT_INTERRUPTED = 130
# commands that run one job and exit: they keep freed tensor memory for reuse (see
# painterly.device.keep_freed_memory); the web server, which lives on between jobs, does not
_ONE_JOB = ("stylize", "fast", "train", "study", "batch")


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (no usage dump) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


class _NoteHandler(logging.Handler):
    def __init__(self, flags: dict[str, str]) -> None:
        super().__init__()
        self.flags = flags

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        tqdm.write(f"note: {as_flags(record.getMessage(), self.flags)}", file=sys.stderr)


# name -> one-line help; each command's module (painterly.cli.NAME) is imported only
# when that command runs or its own --help is asked for, so the start stays light
COMMANDS = {
    "stylize": "stylise a photo with one or more paintings (Gatys et al.)",
    "faces": "face detection, verification and recognition",
    "serve": "web page and HTTP API for stylisation jobs",
    "fast": "stylise images, folders or videos in milliseconds (trained models, AdaIN)",
    "train": "train a fast feed-forward model (per style, or AdaIN for any style)",
    "study": "a parameter study: a grid of settings on one photo, as one labelled sheet",
    "batch": "stylise a folder, a glob or a manifest of images (in this process or on Ray)",
    "backbones": "list the loss networks and where their weights come from",
}


def build_parser(only: str | None = "*") -> argparse.ArgumentParser:
    """The full parser (``only="*"``), or one whose only real subcommand is ``only``
    (the others are listed by name and help, without importing their modules)."""
    import importlib

    parser = _Parser(prog="painterly", description="Neural style transfer that keeps faces recognisable.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for name, text in COMMANDS.items():
        if name != "backbones" and only in ("*", name):
            importlib.import_module(f"painterly.cli.{name}").add_parser(sub)
        else:
            sub.add_parser(name, help=text)
    return parser


def _list_backbones() -> int:
    from painterly.backbones import list_backbones, resolve_backbone_name

    for name, text in list_backbones().items():
        print(f"{name:20s} {text}")
    print(f"\nauto resolves to: {resolve_backbone_name('auto').reason}")
    return 0


def _missing(exc: ModuleNotFoundError, command: str | None) -> int:
    if exc.name not in _OPTIONAL:
        raise exc
    print(f"painterly: error: 'painterly {command}' here needs {exc.name}: {_OPTIONAL[exc.name]}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        parser = build_parser(command)
    except ModuleNotFoundError as exc:  # the command's own module needs an engine that is missing
        return _missing(exc, command)
    item_flags: list[str] = []
    if argv[:1] == ["batch"]:  # flags of the single-image commands ride along to every item
        from painterly.cli import batch as batch_cmd

        own, item_flags = batch_cmd.split_argv(argv[1:])
        argv = ["batch", *own]
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed on one line
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    flags = flag_names(parser)
    logger = logging.getLogger("painterly")
    for handler in [h for h in logger.handlers if isinstance(h, _NoteHandler)]:
        logger.removeHandler(handler)
    logger.addHandler(_NoteHandler(flags))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if args.version:
        from painterly.version import __version__

        print(__version__)
        return 0
    if args.command in _ONE_JOB:
        from painterly.device import keep_freed_memory

        keep_freed_memory()
    try:
        if args.command == "stylize":
            from painterly.cli import stylize as stylize_cmd

            return stylize_cmd.run(args)
        if args.command == "faces":
            from painterly.cli import faces as faces_cmd

            return faces_cmd.run(args)
        if args.command == "serve":
            from painterly.cli import serve as serve_cmd

            return serve_cmd.run(args)
        if args.command == "fast":
            from painterly.cli import fast as fast_cmd

            return fast_cmd.run(args)
        if args.command == "train":
            from painterly.cli import train as train_cmd

            return train_cmd.run(args)
        if args.command == "study":
            from painterly.cli import study as study_cmd

            return study_cmd.run(args)
        if args.command == "batch":
            from painterly.cli import batch as batch_cmd

            return batch_cmd.run(args, item_flags)
        if args.command == "backbones":
            return _list_backbones()
    except PainterlyError as exc:
        print(f"painterly: error: {as_flags(str(exc), flags)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("painterly: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ModuleNotFoundError as exc:  # an optional engine this command needs is not installed
        return _missing(exc, args.command)
    parser.print_help()
    return EXIT_USAGE


def _can_skip_teardown() -> bool:
    """Whether nothing is left for the interpreter's exit to do but free memory: no
    other non-daemon thread alive, and no Ray (its exit handler stops the processes it
    started)."""
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    return not others and "ray" not in sys.modules


def finish(code: int) -> NoReturn:
    """Exit the process with ``code`` after a command. After a command that loaded torch,
    the interpreter's own exit (the final garbage collections over torch's ~180 000
    objects, module teardown) took 0.4-0.6 s of a 13-18 s main job; when
    :func:`_can_skip_teardown` holds, logging and the output streams are flushed and the
    process ends at once (``os._exit``), with the same code. Every file a command writes
    is closed (and atomically renamed) before :func:`main` returns."""
    if _can_skip_teardown():
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):  # a closed pipe, or a stream the caller closed
                pass
        os._exit(code)
    raise SystemExit(code)


def entry() -> NoReturn:
    """The ``painterly`` console script and ``python -m painterly``. (``main()``, called
    from Python, returns its code and leaves the process alone.)"""
    finish(main())


if __name__ == "__main__":
    entry()
