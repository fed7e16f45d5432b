"""No import cycles among the project's modules, lazy (function-level) imports included.

Two cycles were hidden behind lazy imports: `model.deploy` -> `deploy.predictor` ->
`evaluation.predictor` -> `model.deploy`, and `deploy.onnx_runner` <-> `export.onnx`.
They work until someone moves an import to the top of a file. The shared names now
live in lower modules (`model.run_settings`, `model.model_files`, `model.onnx_graph`);
this walk of every import statement keeps a cycle from coming back.

Edges: `import a.b` / `from a.b import c` point at `a.b` (and at `a.b.c` when that is a
module) and at the packages on the way (importing `a.b` runs `a/__init__`), except the
importer's own ancestors (already initialised before it). A package `__init__`'s
function-level imports of its own submodules (a lazy facade such as `automl.__getattr__`)
are not edges: nothing imports them at import time, and they point downwards.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("model", "automl")


def _modules(root: Path) -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _targets(name: str, modules: dict) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & modules.keys()


def _imports(nodes, package: str, modules: dict) -> set[str]:
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found |= _targets(alias.name, modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            found |= _targets(base, modules)
            for alias in node.names:
                found |= _targets(f"{base}.{alias.name}", modules)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """{module: modules its import statements (top-level and lazy) make Python import}."""
    modules = _modules(root)
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        package = name if is_package else name.rpartition(".")[0]
        if is_package:  # a facade's lazy imports of its own submodules are not import-time edges
            nodes = [n for stmt in tree.body if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef))
                     for n in ast.walk(stmt)]
        else:
            nodes = list(ast.walk(tree))
        parts = name.split(".")
        ancestors = {".".join(parts[:i]) for i in range(1, len(parts))}
        graph[name] = _imports(nodes, package, modules) - ancestors - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles():
    graph = import_graph(REPO)
    assert len(graph) > 50 and "model.deploy.predictor" in graph
    assert cycles(graph) == []


def test_the_two_former_cycles_point_one_way_now():
    graph = import_graph(REPO)
    assert "model.evaluation.predictor" not in graph["model.deploy.predictor"]
    assert "model.export.onnx" not in graph["model.deploy.onnx_runner"]
    assert "model.deploy.onnx_runner" in graph["model.export.onnx"]  # the exporter checks with the runner


def test_the_walk_finds_a_lazy_cycle(tmp_path):
    """The check can fail: a function-level import that closes a loop is found."""
    pkg = tmp_path / "model" / "sub"
    pkg.mkdir(parents=True)
    (tmp_path / "automl").mkdir()
    (tmp_path / "model" / "__init__.py").write_text("")
    (tmp_path / "automl" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from model.sub.a import f\n")
    (pkg / "a.py").write_text("def f():\n    from model.b import g\n    return g\n")
    (tmp_path / "model" / "b.py").write_text("from model.sub import f\n\ndef g():\n    return f\n")
    assert cycles(import_graph(tmp_path)) == [["model.b", "model.sub", "model.sub.a"]]
