"""The package's one-way import rule, read from the source with ``ast`` (see docs/design.md).

Layers, lowest first: values (0) < protocol, config, filters (1) < http, storage, record,
upstream, state (2) < the core and serve (3) < cli (4). A module may import its own layer or
lower ones, and the parts below the core import only what ``ALLOWED`` lists for them; nothing
but ``frumious.testing`` imports ``frumious.testing``; no modules may import each other in a
cycle (imports inside functions count); only the CLI prints or exits.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator
from pathlib import Path

import pytest

import frumious

PACKAGE = Path(frumious.__file__).parent

LAYERS = {
    "frumious": 0,
    "frumious.errors": 0,
    "frumious.models": 0,
    "frumious.settings": 0,
    "frumious.stats": 0,
    "frumious.compact": 0,
    "frumious.shard": 0,
    "frumious.protocol": 1,
    "frumious.config": 1,
    "frumious.filters": 1,
    "frumious.http": 2,
    "frumious.storage": 2,
    "frumious.record": 2,
    "frumious.upstream": 2,
    "frumious.state": 2,
    "frumious.testing": 3,
    "frumious.serve": 3,
    "frumious.cli": 4,
    "frumious.__main__": 4,
}
CORE = 3  # any other top-level module
LAYER_NAMES = ["values", "protocol/config/filters", "ports", "core", "cli"]

VALUES = frozenset(
    {
        "frumious",
        "frumious.errors",
        "frumious.models",
        "frumious.settings",
        "frumious.stats",
        "frumious.compact",
        "frumious.shard",
    }
)
# What each part below the core (and serve) may import besides itself; docs/design.md's tree says the same.
# The core and the CLI are bounded by their layer only.
ALLOWED: dict[str, frozenset[str]] = {
    **dict.fromkeys(VALUES, VALUES),
    "frumious.protocol": VALUES,
    "frumious.config": VALUES,
    "frumious.filters": VALUES,
    "frumious.http": VALUES | {"frumious.protocol"},
    "frumious.storage": VALUES | {"frumious.protocol", "frumious.config"},
    "frumious.record": VALUES | {"frumious.protocol", "frumious.storage"},
    "frumious.upstream": VALUES | {"frumious.protocol", "frumious.http"},
    "frumious.state": VALUES | {"frumious.protocol", "frumious.storage"},
    "frumious.serve": VALUES | {"frumious.protocol", "frumious.storage", "frumious.record", "frumious.state"},
}
TESTING = "frumious.testing"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(path): ast.parse(path.read_text(), str(path)) for path in sorted(PACKAGE.rglob("*.py"))}


MODULES = modules()


def layer(name: str) -> int:
    """The layer of the longest listed prefix; unlisted top-level modules are the core."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS and (end > 1 or name == "frumious"):
            return LAYERS[prefix]
    return CORE


def package_of(name: str) -> str:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return name if path.is_dir() else name.rpartition(".")[0]


def part(name: str) -> str:
    """The package or top-level module ``name`` belongs to: ``frumious.record.db`` -> ``frumious.record``."""
    return ".".join(name.split(".")[:2])


def targets(node: ast.AST, importer: str, known: Collection[str]) -> Iterator[str]:
    """The frumious modules one import statement names (``from pkg import mod`` names ``pkg.mod``)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names if alias.name.split(".")[0] == "frumious")
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            anchor = package_of(importer).split(".")
            anchor = anchor[: len(anchor) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        if base.split(".")[0] != "frumious":
            return
        for alias in node.names:
            full = f"{base}.{alias.name}"
            yield full if full in known else base


def all_imports(tree: ast.Module, importer: str, known: Collection[str]) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        for target in targets(node, importer, known):
            yield node.lineno, target


def module_level_imports(tree: ast.Module, importer: str, known: Collection[str]) -> set[str]:
    """Imports run when the module loads (``TYPE_CHECKING`` blocks count: they name a real dependency)."""
    found: set[str] = set()
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        found.update(targets(node, importer, known))
        pending.extend(ast.iter_child_nodes(node))
    return found - {importer}


def upward_imports(sources: dict[str, ast.Module]) -> list[str]:
    return [
        f"{name}:{line} imports {target} ({LAYER_NAMES[layer(name)]} may not import {LAYER_NAMES[layer(target)]})"
        for name, tree in sources.items()
        for line, target in all_imports(tree, name, sources.keys())
        if layer(target) > layer(name)
    ]


def undeclared_imports(sources: dict[str, ast.Module]) -> list[str]:
    """Imports of another part that ``ALLOWED`` does not list for the importer's part."""
    found = []
    for name, tree in sources.items():
        allowed = ALLOWED.get(part(name))
        if allowed is None:
            continue
        for line, target in all_imports(tree, name, sources.keys()):
            if part(target) not in allowed | {part(name)}:
                names = ", ".join(["values", *sorted(allowed - VALUES)])
                found.append(f"{name}:{line} imports {target} ({part(name)} may import only {names})")
    return found


def imports_of_testing(sources: dict[str, ast.Module]) -> list[str]:
    return [
        f"{name}:{line} imports {target} (only {TESTING} may)"
        for name, tree in sources.items()
        if part(name) != TESTING
        for line, target in all_imports(tree, name, sources.keys())
        if part(target) == TESTING
    ]


def cycles(sources: dict[str, ast.Module], *, inside_functions: bool = False) -> list[list[str]]:
    """Every strongly connected group of modules, each reported as one cycle through it.

    By default only imports run at load time count; ``inside_functions`` adds those a function makes.
    """
    graph = {name: sorted(_imported(tree, name, sources.keys(), inside_functions)) for name, tree in sources.items()}
    found: list[list[str]] = []
    done: set[str] = set()
    for start in sorted(graph):
        path = _cycle_from(start, graph, [start], done)
        if path is not None:
            found.append(path)
            done.update(path)
    return found


def _imported(tree: ast.Module, importer: str, known: Collection[str], inside_functions: bool) -> set[str]:
    if not inside_functions:
        return module_level_imports(tree, importer, known) & set(known)
    return {target for _, target in all_imports(tree, importer, known)} - {importer} & set(known)


def _cycle_from(start: str, graph: dict[str, list[str]], path: list[str], done: set[str]) -> list[str] | None:
    seen = {start}
    stack = [(start, [start])]
    while stack:
        node, trail = stack.pop()
        for target in graph[node]:
            if target == start:
                return [*trail, start]
            if target not in seen and target not in done:
                seen.add(target)
                stack.append((target, [*trail, target]))
    return None


EXITS = {("sys", "exit"), ("os", "_exit")}
# A forked serve worker is a process of its own: it must end with os._exit, never return into the parent's stack.
FORKED = {("frumious.serve.workers", "_exit")}


def exits_and_prints(sources: dict[str, ast.Module]) -> list[str]:
    found = []
    for name, tree in sources.items():
        if layer(name) == LAYERS["frumious.cli"]:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                found.append(f"{name}:{node.lineno} prints")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("exit", "quit"):
                found.append(f"{name}:{node.lineno} calls {node.func.id}")
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if (node.value.id, node.attr) in EXITS and (name, node.attr) not in FORKED:
                    found.append(f"{name}:{node.lineno} calls {node.value.id}.{node.attr}")
            elif isinstance(node, ast.Name) and node.id == "SystemExit":
                found.append(f"{name}:{node.lineno} uses SystemExit")
    return found


def test_every_module_sits_in_a_layer_and_the_walk_sees_the_whole_package() -> None:
    assert {"frumious.cli", "frumious.sync", "frumious.protocol.layout", "frumious.record.db"} <= MODULES.keys()
    assert layer("frumious.protocol.layout") == 1
    assert layer("frumious.record.db") == 2
    assert layer("frumious.sync") == CORE
    assert layer("frumious.serve.app") == CORE
    assert layer("frumious.cli.compose") == 4


def test_no_module_imports_a_higher_layer() -> None:
    assert upward_imports(MODULES) == []


def test_parts_below_the_core_import_only_what_they_declare() -> None:
    assert undeclared_imports(MODULES) == []


def test_only_the_testing_kit_imports_itself() -> None:
    assert imports_of_testing(MODULES) == []


def test_no_import_cycles_even_inside_functions() -> None:
    assert cycles(MODULES) == []
    assert cycles(MODULES, inside_functions=True) == []


def test_only_the_cli_prints_or_exits() -> None:
    assert exits_and_prints(MODULES) == []


BAD = {
    "frumious.protocol.layout": "from frumious.storage.base import Store\n",
    "frumious.storage.base": "def f():\n    from frumious import sync\n",
    "frumious.record.db": "from frumious.upstream import Upstream\n",
    "frumious.a": "from frumious import b\n",
    "frumious.b": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from frumious.a import A\n",
    "frumious.c": "from frumious import d\n",
    "frumious.d": "def f():\n    from frumious import c\n",
    "frumious.sync": (
        "import os\nfrom frumious.testing.memstore import MemoryStore\n"
        "def f():\n    print('x')\n    exit(1)\n    quit()\n    os._exit(1)\n    raise SystemExit(1)\n"
    ),
}


@pytest.mark.parametrize("check", ["layers", "declared", "testing", "cycles", "exits"])
def test_the_rules_catch_bad_modules(check: str) -> None:
    sources = {name: ast.parse(text) for name, text in BAD.items()}
    if check == "layers":
        assert upward_imports(sources) == [
            "frumious.protocol.layout:1 imports frumious.storage.base (protocol/config/filters may not import ports)",
            "frumious.storage.base:2 imports frumious.sync (ports may not import core)",
        ]
    elif check == "declared":
        assert undeclared_imports(sources) == [
            "frumious.protocol.layout:1 imports frumious.storage.base (frumious.protocol may import only values)",
            "frumious.storage.base:2 imports frumious.sync"
            " (frumious.storage may import only values, frumious.config, frumious.protocol)",
            "frumious.record.db:1 imports frumious.upstream"
            " (frumious.record may import only values, frumious.protocol, frumious.storage)",
        ]
    elif check == "testing":
        assert imports_of_testing(sources) == [
            "frumious.sync:2 imports frumious.testing.memstore (only frumious.testing may)"
        ]
    elif check == "cycles":
        assert cycles(sources) == [["frumious.a", "frumious.b", "frumious.a"]]
        assert cycles(sources, inside_functions=True) == [
            ["frumious.a", "frumious.b", "frumious.a"],
            ["frumious.c", "frumious.d", "frumious.c"],
        ]
    else:
        assert exits_and_prints(sources) == [
            "frumious.sync:4 prints",
            "frumious.sync:5 calls exit",
            "frumious.sync:6 calls quit",
            "frumious.sync:7 calls os._exit",
            "frumious.sync:8 uses SystemExit",
        ]
