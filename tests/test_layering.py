"""Imports flow one way: cli -> bench -> executor / compression -> store -> models / registry ->
codecs / formulations -> succinct -> foundation. An AST walk over every module of the package,
imports inside functions included, fails on any import that runs upward, across one layer
(codecs and formulations know nothing of each other), into the ``codecbench`` facade, or of
another layer's private (underscored) name, and on any cycle between modules."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "codecbench"

#: a module's layer is its first dotted name below ``codecbench``; higher ranks may import lower ones
RANKS = {
    "errors": 0,
    "version": 0,
    "dtypes": 0.5,
    "hookspecs": 0.5,
    "configfile": 0.5,
    "succinct": 1,
    "codecs": 2,
    "formulations": 2,
    "fused": 2.5,  # (formulation, codec) pairs in one kernel: above both
    "registry": 3,
    "models": 3.5,  # weight sources and architectures: what compression and the executor start from
    "store": 4,
    "compression": 6,
    "executor": 6,
    "bench": 7,
    "cli": 8,
    "testing": 9,  # the plugin authors' test kit: nothing else imports it
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@functools.cache  # each file parsed once per process: the walk-catches cases reuse the package
def _import_nodes(path: Path) -> tuple[tuple[str, str, int], ...]:
    """``(module, name or "", line)`` of every codecbench import in ``path``, anywhere in it."""
    found: list[tuple[str, str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, "", node.lineno) for a in node.names if a.name.split(".")[0] == "codecbench"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "codecbench":
                found += [(node.module, alias.name, node.lineno) for alias in node.names]
    return tuple(found)


def imports(path: Path, known: set[str] | frozenset[str]) -> list[tuple[str, int, str]]:
    """Every codecbench module ``path`` imports, anywhere in it, with the line and the name taken
    (empty for a whole module). ``from X import y`` counts as importing ``X.y`` when that is a
    module, else ``X``."""
    found = []
    for module, name, line in _import_nodes(path):
        sub = f"{module}.{name}"
        found.append((module, line, "") if not name else (sub, line, "") if sub in known else (module, line, name))
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "codecbench"


def violations(graph: dict[str, list[tuple[str, int, str]]]) -> list[str]:
    bad = []
    for importer, targets in graph.items():
        if importer == "codecbench":  # the facade: the public API, above everything
            continue
        src = layer(importer)
        for target, line, name in targets:
            dst = layer(target)
            where = f"{importer} (line {line}) imports {target}" + (f".{name}" if name else "")
            if dst == "codecbench":
                bad.append(f"{where}: the facade; import from the defining module")
            elif src == dst:
                continue  # within a package: only cycles are wrong (test_no_import_cycles)
            elif RANKS[dst] >= RANKS[src]:
                bad.append(f"{where}: {dst} (rank {RANKS[dst]}) is not below {src} (rank {RANKS[src]})")
            elif name.startswith("_") and not name.startswith("__"):
                bad.append(f"{where}: a private name of another layer; make it part of a contract")
    return bad


def cycles(graph: dict[str, list[tuple[str, int, str]]]) -> list[list[str]]:
    """Every cycle found by a depth-first search (one per back edge)."""
    edges = {m: sorted({t for t, _, _ in targets if t in graph and t != m}) for m, targets in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in edges[m]:
            if state.get(t) == 1:
                found.append([*stack[stack.index(t) :], t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    return found


def graph_of(files: dict[str, Path]) -> dict[str, list[tuple[str, int, str]]]:
    known = set(files)
    return {name: imports(path, known) for name, path in files.items()}


def test_every_layer_is_ranked() -> None:
    assert {layer(m) for m in modules()} - {"codecbench"} <= set(RANKS)


def test_imports_flow_one_way() -> None:
    assert violations(graph_of(modules())) == []


def test_no_import_cycles() -> None:
    assert cycles(graph_of(modules())) == []


@pytest.mark.parametrize(
    "importer, source, expected",
    [
        # an upward import inside a function is caught like a module-level one
        ("codecbench.store.reader", "def f():\n    from codecbench.executor.run import run_model\n", "not below"),
        ("codecbench.codecs.raw", "import codecbench.formulations.base\n", "not below"),  # across one rank
        ("codecbench.formulations.pq", "from codecbench import open\n", "the facade"),
        ("codecbench.errors", "from codecbench import dtypes\n", "not below"),  # foundation: errors is the floor
        ("codecbench.models.prune", "from codecbench.store.config import read_toml\n", "not below"),
        ("codecbench.executor.engine", "from codecbench.formulations.pq import _n_entries\n", "private name"),
    ],
)
def test_the_walk_catches(tmp_path: Path, importer: str, source: str, expected: str) -> None:
    files = modules()
    fake = tmp_path / "fake.py"
    fake.write_text(source)
    files[importer] = fake
    assert any(expected in v and v.startswith(importer) for v in violations(graph_of(files)))


def test_the_walk_catches_a_cycle(tmp_path: Path) -> None:
    files = modules()
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("from codecbench.bench import b\n")
    b.write_text("def f():\n    import codecbench.bench.a\n")
    files["codecbench.bench.a"], files["codecbench.bench.b"] = a, b
    assert ["codecbench.bench.a", "codecbench.bench.b", "codecbench.bench.a"] in cycles(graph_of(files))
