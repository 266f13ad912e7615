"""The project's own import graph: cycles among fine_tune/ modules, imports inside functions, big files.

    python scripts/import_graph.py        # prints the figures; tests/test_imports.py asserts on them

Every `import fine_tune.x` / `from fine_tune.x import y` counts, at the top of a file or inside a
function (a lazy import still ties the two modules together). A package's `__init__` is its own module.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parent.parent / "fine_tune"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _targets(node: ast.AST, here: str, modules: set[str]) -> list[str]:
    """The project modules an import statement names (`from pkg import mod` counts mod when it is one)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "fine_tune"]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:  # relative import
        base = ".".join(here.split(".")[: -node.level] + ([base] if base else []))
    if not base.startswith("fine_tune"):
        return []
    named = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
    return named or [base]


def scan() -> tuple[nx.DiGraph, list[tuple[str, str, int]], dict[str, int]]:
    """(graph of module -> imported module, imports inside functions (module, target, line), lines per file)."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph, inside, sizes = nx.DiGraph(), [], {}
    for name, path in files.items():
        text = path.read_text(encoding="utf-8")
        sizes[name] = len(text.splitlines())
        graph.add_node(name)
        tree = ast.parse(text)
        functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        nested = {id(n) for f in functions for n in ast.walk(f)}
        for node in ast.walk(tree):
            for target in _targets(node, name, set(files)):
                while target not in files and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in files and target != name:
                    graph.add_edge(name, target)
                    if id(node) in nested:
                        inside.append((name, target, node.lineno))
    return graph, inside, sizes


def cycles(graph: nx.DiGraph) -> list[list[str]]:
    """Strongly connected groups of two or more modules: each holds at least one import cycle."""
    return sorted((sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1), key=len, reverse=True)


# The layers, bottom up: a module imports only its own layer and those below (__main__ aside)
LAYERS = (
    ("commands", ("cli", "eval_cli", "data_cli", "export", "compare", "models.build_cli")),
    ("run", ("train", "jobs", "tracking", "report")),
    ("stages", ("stages",)),
    ("data, models, evaluation", ("data", "models", "evaluation", "chat", "config_ranges", "stage_names",
                                  "backends")),
)


def layer(module: str) -> int:
    """0 for the foundation (config, errors, answers, outputs, ...), up to len(LAYERS) for the commands."""
    name = module.removeprefix("fine_tune.")
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return len(LAYERS) - rank
    return 0


def imports_up(graph: nx.DiGraph) -> list[tuple[str, str]]:
    """Imports from a lower layer to a higher one."""
    return sorted((a, b) for a, b in graph.edges if layer(b) > layer(a) and a != "fine_tune.__main__")


def main() -> None:
    graph, inside, sizes = scan()
    found = cycles(graph)
    print(f"modules {graph.number_of_nodes()}, project imports {graph.number_of_edges()}")
    print(f"modules in import cycles: {sum(map(len, found))} in {len(found)} group(s)")
    for group in found:
        print("  " + ", ".join(group))
    up = imports_up(graph)
    print(f"imports up the layers: {len(up)}" + "".join(f"\n  {a} -> {b}" for a, b in up))
    print(f"project imports inside functions: {len(inside)}")
    for module, target, line in inside:
        print(f"  {module}:{line} -> {target}")
    big = sorted(((n, s) for n, s in sizes.items() if s > 300), key=lambda x: -x[1])
    print(f"files over 300 lines: {len(big)}" + "".join(f"\n  {n} {s}" for n, s in big))
    sys.exit(0)


if __name__ == "__main__":
    main()
