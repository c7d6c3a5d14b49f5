"""The package's architecture, read from its imports (docs/architecture.md).

Every import counts, including those inside functions: a lazy hardware import is still a
dependency, only deferred."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("kiosk", "firmware_bridge")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules `name` imports, anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    wanted: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            wanted.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            wanted.add(base)
            wanted.update(f"{base}.{alias.name}" for alias in node.names)
    found = set()
    for target in wanted:
        # `import a.b.c` depends on a.b.c; `from a.b import c` on a.b (and a.b.c if a module)
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_firmware_bridge_depends_on_nothing_in_kiosk() -> None:
    graph = import_graph()
    leaks = {
        f"{name} -> {target}"
        for name, targets in graph.items()
        if name.split(".")[0] == "firmware_bridge"
        for target in targets
        if target.split(".")[0] == "kiosk"
    }
    assert not leaks


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for target in graph.get(name, ()):
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == name:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def test_the_core_imports_nothing_else_of_the_kiosk() -> None:
    graph = import_graph()
    leaks = {
        f"{name} -> {target}"
        for name, targets in graph.items()
        if name.startswith("kiosk.core")
        for target in targets
        if not target.startswith("kiosk.core")
    }
    assert not leaks


def test_the_core_has_no_circles() -> None:
    graph = import_graph()
    core = {name: {t for t in ts if t.startswith("kiosk.core")} for name, ts in graph.items()}
    assert _circles({n: ts for n, ts in core.items() if n.startswith("kiosk.core")}) == []


# Lowest first: a module may import its own layer and the layers below, never above.
LAYERS = (
    ("core", ("kiosk.core", "kiosk")),
    ("edges", ("firmware_bridge", "kiosk.ui", "kiosk.scan", "kiosk.issuer")),
    ("app", ("kiosk.app",)),
    ("demo", ("kiosk.demo",)),
    ("cli", ("kiosk.cli",)),
)


def layer_of(name: str) -> int:
    for number, (_, prefixes) in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes if p != "kiosk"):
            return number
    assert name == "kiosk", f"{name} is in no layer: add it to LAYERS and docs/architecture.md"
    return 0


def test_every_module_sits_in_a_layer() -> None:
    for name in import_graph():
        layer_of(name)


def test_no_module_imports_a_higher_layer() -> None:
    graph = import_graph()
    upward = sorted(
        f"{name} ({LAYERS[layer_of(name)][0]}) -> {target} ({LAYERS[layer_of(target)][0]})"
        for name, targets in graph.items()
        for target in targets
        if layer_of(target) > layer_of(name)
    )
    assert upward == []


def test_no_import_circles() -> None:
    assert _circles(import_graph()) == []
