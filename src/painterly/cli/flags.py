"""The library's parameter names and the command line's flags, mapped both ways."""

from __future__ import annotations

import argparse
import re

__all__ = ["as_flags", "command_parser", "flag_names"]


def flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Every option's destination -> its long flag, over all subcommands."""
    names: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                for dest, flag in flag_names(sub).items():
                    names.setdefault(dest, flag)
        else:
            longs = [o for o in action.option_strings if o.startswith("--") and not o.startswith("--no-")]
            if longs:
                names.setdefault(action.dest, longs[0])
    return names


_PARAM = re.compile(r"\b([a-z][a-z0-9_]*)=(True\b|[^\s,;:)]+)?")


def as_flags(message: str, flags: dict[str, str]) -> str:
    """The library names parameters (``fit_memory=True``, ``device=cuda``); on the
    command line the same words are flags (``--fit-memory``, ``--device cuda``)."""

    def sub(m: re.Match[str]) -> str:
        flag = flags.get(m.group(1))
        if flag is None:
            return m.group(0)
        value = m.group(2)
        return flag if value in (None, "True") else f"{flag} {value}"

    return _PARAM.sub(sub, message)




def command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of one single-image command ("stylize" or "fast"), on its own."""
    from painterly.cli import fast as fast_cmd
    from painterly.cli import stylize as stylize_cmd

    root = argparse.ArgumentParser(prog="painterly")
    sub = root.add_subparsers(dest="command")
    return {"stylize": stylize_cmd.add_parser, "fast": fast_cmd.add_parser}[name](sub)
