"""The package's own imports: no cycle among fine_tune/ modules, and lazy imports only where they pay."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "import_graph.py"
spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
import_graph = importlib.util.module_from_spec(spec)
spec.loader.exec_module(import_graph)

# A project import inside a function must say why; these are the reasons that count (the line's comment).
REASONS = ("unsloth", "torch", "heavy", "wandb", "deepeval", "optional", "loop", "patch")


def test_no_import_cycle_among_the_packages_modules():
    graph, _, _ = import_graph.scan()
    assert graph.number_of_nodes() > 50  # the scan found the package
    assert import_graph.cycles(graph) == []


def test_no_import_points_up_the_layers():
    graph, _, _ = import_graph.scan()
    assert import_graph.imports_up(graph) == []
    assert import_graph.layer("fine_tune.train") > import_graph.layer("fine_tune.stages.sft") > \
        import_graph.layer("fine_tune.data.pipeline") > import_graph.layer("fine_tune.config")


def test_the_scan_finds_a_planted_cycle(tmp_path, monkeypatch):
    package = tmp_path / "fine_tune"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from fine_tune.b import x\n")
    (package / "b.py").write_text("def f():\n    from fine_tune import a\n")
    monkeypatch.setattr(import_graph, "PACKAGE", package)
    graph, inside, _ = import_graph.scan()
    assert import_graph.cycles(graph) == [["fine_tune.a", "fine_tune.b"]]
    assert inside == [("fine_tune.b", "fine_tune.a", 2)]


def test_every_project_import_inside_a_function_says_why():
    _, inside, _ = import_graph.scan()
    unexplained = []
    for module, target, line in inside:
        path = import_graph.PACKAGE.parent / (module.replace(".", "/") + ".py")
        if not path.is_file():
            path = path.with_suffix("") / "__init__.py"
        lines = path.read_text().splitlines()
        first = line - 1
        while first > 0 and lines[first - 1].strip().startswith(("from ", "import ")):
            first -= 1  # a block of imports under one comment: the comment above the block says why
        text = " ".join(lines[max(0, first - 1) : line]).lower()
        if not any(reason in text for reason in REASONS):
            unexplained.append(f"{module}:{line} -> {target}")
    assert unexplained == []
