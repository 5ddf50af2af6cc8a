"""Import hygiene: the analyser runs without torch; no import cycles among autolik's modules."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

NO_TORCH = """if True:
    import sys
    import numpy as np
    import autolik
    assert autolik.__file__ == {init!r}, autolik.__file__
    X = np.random.default_rng(0).poisson(3.0, (300, 4))
    assert autolik.recommend(X).likelihood == "poisson"
    assert autolik.inspect(X).n_features == 4
    rec = autolik.recommend("t.csv")
    assert rec.likelihood == "mixed", rec.likelihood
    assert rec.features[2].likelihood == "categorical", rec.features[2]
    assert autolik.inspect("t.csv").n_features == 3
    assert "torch" not in sys.modules, "the analyser imported torch"
    rec.preprocessor()  # a model-space map is torch: asking for it loads torch
    assert "torch" in sys.modules
    print("ok")
"""


def test_recommend_and_inspect_import_no_torch(tmp_path):
    """``autolik.recommend`` / ``autolik.inspect`` on an array and on a CSV never load torch."""
    (tmp_path / "t.csv").write_text("n,frac,colour\n" + "".join(f"{i % 4},{i / 50},{'rgb'[i % 3]}\n" for i in range(50)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's autolik, not an installed one
    code = NO_TORCH.format(init=str(ROOT / "autolik" / "__init__.py"))
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr[-3000:]


# --------------------------------------------------------------------------- the import graph

def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported(module: str, is_package: bool, tree: ast.AST):
    """Every module name imported anywhere in ``tree`` (module level, in functions, in try blocks),
    relative imports resolved; blocks under ``if TYPE_CHECKING:`` never run and are skipped.
    ``from a import b`` yields ``a.b`` (a submodule or a name in ``a``: resolved later). A dynamic
    ``__import__(f"autolik.x.{name}")`` yields ``autolik.x.*`` (every module under ``autolik.x``).
    Not followed: the package root's lazy attribute table (``autolik.fit`` -> ``autolik.api``),
    the public facade at the top that no module imports through."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            yield mod
            yield from (f"{mod}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__" and node.args \
                and isinstance(node.args[0], ast.JoinedStr) and isinstance(node.args[0].values[0], ast.Constant):
            yield node.args[0].values[0].value + "*"
        todo.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    """autolik module -> the autolik modules it imports (a name inside a module counts as the module)."""
    files = {_module_name(p): p for p in sorted((ROOT / "autolik").rglob("*.py"))}

    def resolve(name: str) -> set[str]:
        if name.endswith("*"):
            return {f for f in files if f.startswith(name[:-1])}
        while name and name not in files:
            name = name.rpartition(".")[0]
        return {name} if name else set()

    graph = {}
    for mod, path in files.items():
        names = _imported(mod, path.name == "__init__.py", ast.parse(path.read_text(), str(path)))
        deps = {d for n in names if n == "autolik" or n.startswith("autolik.") for d in resolve(n)}
        # importing a.b.c runs a/__init__ and a/b/__init__ first: those are edges too, except a module's
        # own packages (Python has started them before the module; naming one explicitly still counts)
        implied = {d.rsplit(".", k)[0] for d in deps for k in range(1, d.count(".") + 1)}
        graph[mod] = (deps | {d for d in implied if not mod.startswith(d + ".")}) - {mod}
    graph["autolik.likelihoods.registry"] |= _spec_classes(resolve)
    return graph


def _spec_classes(resolve) -> set[str]:
    """The modules the likelihood registry imports by the dotted paths of the family specs (lazily,
    by name: no import statement says so), as edges of the registry."""
    from autolik.families import family, names

    return {m for n in names() for m in resolve(family(n).likelihood)}


def cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(tuple(sorted(comp)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def test_the_import_graph_is_read_completely():
    """The parser sees the kinds of import the package uses (else 'no cycle' would mean nothing)."""
    g = import_graph()
    assert "autolik.analysis.profiling.profile" in g["autolik.analysis.recommendation.recommend"]  # function-level
    assert "autolik.analysis.profiling.kernel" in g["autolik.analysis.profiling.chunk"]  # `from <package> import kernel`
    assert "autolik.likelihoods.base" in g["autolik.likelihoods"]  # module level
    assert "autolik.plots" in g["autolik.plots.compare"]  # a module's own package, imported by name
    assert "autolik.likelihoods.poisson" in g["autolik.likelihoods.registry"]  # a spec's dotted path, imported lazily
    # `from autolik.likelihoods import ...` in a function:
    assert "autolik.likelihoods" in g["autolik.analysis.recommendation.result"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [("a", "b", "c")]


def test_no_import_cycles_among_autolik_modules():
    found = cycles(import_graph())
    assert not found, "\n".join(" <-> ".join(c) for c in found)
