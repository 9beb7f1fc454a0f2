"""The package's structure: an acyclic import graph, no private names across modules.

The rules, checked over every module of ``xbar/`` by reading its source (``ast``),
never by importing it:

* **No import cycle.**  The graph has an edge ``a -> b`` when module ``a`` imports
  ``b`` anywhere: at module level or inside a function, ``import xbar.b``,
  ``from xbar import b``, ``from . import b`` and ``from .b import name`` alike
  (relative imports are resolved; ``from p import x`` names the submodule ``p.x``
  when ``x`` is one, else the package ``p``).  Importing ``p.x`` does not count as
  an edge to the parent packages.  Imports under ``if TYPE_CHECKING:`` are never
  executed (they exist for annotations only) and are not edges.  A cycle fails
  with the modules along it.
* **No cross-module private names.**  No module imports another xbar module's
  underscore names (``from m import _x``) or reads them through a module
  (``m._x`` where ``m`` is a bound xbar module).  Private *modules* such as
  ``xbar.cli._data`` are allowed to their own package; dunders are not private.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "xbar"


def module_files() -> dict[str, Path]:
    """Map every dotted module name under ``xbar/`` to its file."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _base(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` statement reads from."""
    if node.level == 0:
        return node.module or ""
    package = module if _is_package(path) else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None) if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:``."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if _type_checking_block(node):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))


def imports(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, ast.AST]]:
    """The xbar modules ``module`` imports, each with the statement that does it."""
    edges = []
    for node in runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            edges += [(a.name, node) for a in node.names if a.name in modules]
        elif isinstance(node, ast.ImportFrom):
            base = _base(module, path, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:
                    edges.append((sub, node))
                elif base in modules:
                    edges.append((base, node))
    return [(target, node) for target, node in edges if target != module]


def import_graph() -> dict[str, set[str]]:
    """Every xbar module mapped to the set of xbar modules it imports."""
    modules = module_files()
    return {m: {t for t, _ in imports(m, p, modules)} for m, p in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a closed path of modules) per strongly connected component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
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
                components.append(set(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return [_cycle_in(graph, comp) for comp in components]


def _cycle_in(graph: dict[str, set[str]], comp: set[str]) -> list[str]:
    """A shortest closed path through the first module of a strongly connected set."""
    start = min(comp)
    parents = {start: None}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & comp):
                if w == start:
                    path = [v]
                    while parents[path[-1]] is not None:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if w not in parents:
                    parents[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError("not strongly connected")  # pragma: no cover


def private_uses() -> list[str]:
    """Places where one xbar module uses another xbar module's underscore name."""
    modules = module_files()
    found = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        bound = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in modules and a.asname:
                        bound[a.asname] = a.name
            elif isinstance(node, ast.ImportFrom):
                base = _base(module, path, node)
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    if sub in modules:
                        bound[a.asname or a.name] = sub
                    elif base in modules and base != module and _private(a.name):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {base}.{a.name}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
                and bound[node.value.id] != module
                and _private(node.attr)
            ):
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found.append(f"{where}: {bound[node.value.id]}.{node.attr}")
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_graph_sees_every_kind_of_import():
    modules = module_files()
    graph = import_graph()
    assert "xbar.errors" in graph["xbar.crossbar.array"] or any(
        "xbar.errors" in graph[m] for m in modules if m.startswith("xbar.crossbar")
    )
    # a function-level import is an edge too
    src = "def f():\n    from ..errors import XbarError\n    from . import solver\n"
    fake = PACKAGE / "crossbar" / "array.py"
    tree_edges = {t for t, _ in _imports_of_source("xbar.crossbar.array", fake, src, modules)}
    assert tree_edges == {"xbar.errors", "xbar.crossbar.solver"}


def _imports_of_source(module, path, src, modules):
    class _Fake:
        name = path.name

        def read_text(self):
            return src

        def __str__(self):
            return str(path)

    return imports(module, _Fake(), modules)


def test_cycle_finder_reports_the_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_private_names_across_modules():
    found = private_uses()
    assert not found, "private names used across modules:\n" + "\n".join(found)


def function_lengths() -> list[tuple[int, str]]:
    """``(lines, "path:line name")`` of every function and method in ``xbar/``.

    A function's length is counted from its ``def`` line to its last line, its
    docstring excluded (decorators are not counted; a nested function counts in
    its own right and as part of the function around it).
    """
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                doc = node.body[0] if node.body else None
                if (
                    isinstance(doc, ast.Expr)
                    and isinstance(doc.value, ast.Constant)
                    and isinstance(doc.value.value, str)
                ):
                    n -= doc.end_lineno - doc.lineno + 1
                out.append((n, f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"))
    return out


#: the packages whose exported functions, classes and methods must be annotated
PUBLIC_PACKAGES = ("xbar", "xbar.crossbar", "xbar.spice", "xbar.network", "xbar.validation")


def public_callables() -> dict[str, object]:
    """Every function exported by :data:`PUBLIC_PACKAGES` (their ``__all__``, else their
    public names), and every public method, ``__init__`` and property of every class
    they export, keyed by qualified name."""
    import importlib
    import inspect

    found = {}
    for pkg in PUBLIC_PACKAGES:
        mod = importlib.import_module(pkg)
        names = getattr(mod, "__all__", None) or [n for n in dir(mod) if not n.startswith("_")]
        for name in names:
            obj = getattr(mod, name, None)
            if not str(getattr(obj, "__module__", "")).startswith("xbar"):
                continue
            if inspect.isfunction(obj):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
            elif inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if attr.startswith("_") and attr != "__init__":
                        continue
                    func = value.fget if isinstance(value, property) else value
                    func = getattr(func, "__func__", func)  # static and class methods
                    if inspect.isfunction(func):
                        found[f"{obj.__module__}.{obj.__qualname__}.{attr}"] = func
    return found


def missing_annotations() -> list[str]:
    """``name: parameters`` of public callables with a parameter (other than ``self`` /
    ``cls``) or the return value not annotated."""
    import inspect

    out = []
    for qual, func in sorted(public_callables().items()):
        params = [p for p in inspect.signature(func).parameters if p not in ("self", "cls")]
        lacking = [p for p in [*params, "return"] if p not in func.__annotations__]
        if lacking:
            out.append(f"{qual}: {', '.join(lacking)}")
    return out


def test_public_api_is_annotated():
    """Every parameter and return value of the public API carries a type annotation."""
    assert len(public_callables()) > 200  # the scan sees the API
    missing = missing_annotations()
    assert not missing, "not annotated:\n" + "\n".join(missing)
