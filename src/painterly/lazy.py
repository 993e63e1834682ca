"""Lazy package exports (PEP 562): ``import painterly`` and the CLI's start stay free of
torch until something that needs it is used; ``from painterly import Stylizer`` still
works and imports what it needs then."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(namespace: dict[str, Any], exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``exports[name]`` (a module path) on first
    use of ``name`` and keeps the value in ``namespace`` (the package's globals)."""
    package = namespace["__name__"]

    def module_getattr(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return module_getattr
