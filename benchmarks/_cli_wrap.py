"""The CLI as a whole process that reports one line on stderr at its very end, for
benchmarks that time or measure whole commands.

``painterly.cli.main.finish`` may end the process with ``os._exit`` (no interpreter
teardown), which skips ``atexit``; the wrapper prints its line there too, so the
command runs exactly as a user's does, up to its real exit. An older tree (``--old-src``
rows) exits normally and prints it through ``atexit``.
"""

from __future__ import annotations

import sys

__all__ = ["PEAK_LINE", "TORCH_LINE", "wrapped_cli"]

_CODE = ("import atexit, os, runpy, sys\n"
         "sys.argv = {argv}\n"
         "def report():\n    print({line}, file=sys.stderr, flush=True)\n"
         "atexit.register(report)\n_exit = os._exit\n"
         "def exit_now(code):\n    atexit.unregister(report); report(); _exit(code)\n"
         "os._exit = exit_now\n"
         "runpy.run_module('painterly', run_name='__main__')\n")
TORCH_LINE = "'TORCH' if 'torch' in sys.modules else 'NOTORCH'"  # whether the command imported torch
PEAK_LINE = "'PEAK', [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]"  # peak RSS, kB


def wrapped_cli(line: str, argv: list[str] | None = None) -> list[str]:
    """``[python, -c, code]`` running ``painterly ARGV`` (``argv`` without the program
    name; None: the arguments given after the code) and printing ``line``, a Python
    expression, on stderr as it exits."""
    args = "['painterly'] + sys.argv[1:]" if argv is None else repr(["painterly", *argv])
    return [sys.executable, "-c", _CODE.format(argv=args, line=line)]
