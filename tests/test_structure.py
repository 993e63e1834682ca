"""The package's shape: no import cycles (function-level imports included), no module
importing another module's ``_private`` names, and no source file over 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "painterly"
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, name: str, modules: dict[str, Path]) -> list[tuple[str, str, int]]:
    """(imported module, imported name or '', line) for every painterly import in the
    file, at any depth (function-level imports included)."""
    is_package = path.name == "__init__.py"
    found: list[tuple[str, str, int]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, "", node.lineno) for a in node.names if a.name.split(".")[0] == "painterly"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_package else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join([*pkg, base] if base else pkg)
            if base.split(".")[0] != "painterly":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:  # "from painterly.faces import detect" imports a module
                    found.append((sub, "", node.lineno))
                else:
                    found.append((base, alias.name, node.lineno))
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for target, _attr, _line in _imports(path, name, modules):
            # importing painterly.a.b runs painterly/__init__ and painterly/a/__init__ too;
            # those are the importer's own ancestors only when implied, not when named
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                dep = ".".join(parts[:i])
                implied_ancestor = i < len(parts) and name.startswith(dep + ".")
                if dep in modules and dep != name and not implied_ancestor:
                    graph[name].add(dep)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    assert not cycles, f"import cycles (function-level imports count): {cycles}"


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_private_names_imported_across_modules() -> None:
    modules = _modules()
    bad = []
    for name, path in modules.items():
        for target, attr, line in _imports(path, name, modules):
            private_module = any(p.startswith("_") and not p.startswith("__") for p in target.split("."))
            private_name = attr.startswith("_") and not attr.startswith("__")
            if (private_module or private_name) and target != name:
                bad.append(f"{path.relative_to(SRC)}:{line} imports {target}{'.' + attr if attr else ''}")
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def test_no_source_file_over_400_lines() -> None:
    lengths = {str(p.relative_to(SRC)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    long = {name: n for name, n in lengths.items() if n > MAX_LINES}
    assert not long, f"split these files (over {MAX_LINES} lines): {long}"


def test_sibling_methods_do_not_import_each_other() -> None:
    """Gatys optimisation and the feed-forward methods share losses/, methods/config.py and
    methods/criterion.py, never each other (diffusers' rule for pipelines)."""
    modules = _modules()
    gatys_side = {"painterly.methods.gatys", "painterly.methods.portrait", "painterly.methods.study",
                  "painterly.methods.optimize"}
    bad = []
    for name, path in modules.items():
        targets = {t for t, _attr, _line in _imports(path, name, modules)}
        if name.startswith("painterly.methods.feedforward") and targets & gatys_side:
            bad.append(f"{name} imports {sorted(targets & gatys_side)}")
        if name in gatys_side and any(t.startswith("painterly.methods.feedforward") for t in targets):
            bad.append(f"{name} imports the feed-forward methods")
    assert not bad, "\n".join(bad)
