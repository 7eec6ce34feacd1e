"""The import contract: the folder tree is the data-flow diagram.

Each stage may import only itself and the stages before it, at module level and inside
functions alike; the one exception is a result object's ``.plot()`` convenience method,
which imports :mod:`ipt_analytics.plotting` when it is called. Nothing outside ``plotting/``
imports matplotlib, and there are no import cycles between modules.

The graph is read from the source with :mod:`ast`, so the test needs no third-party tool
and cannot be fooled by import order or caching.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ipt_analytics"

#: stages in data-flow order; a module may import its own stage and earlier ones
STAGES = [
    "foundation",  # errors.py, vocab.py, __init__.py's eager part
    "instruments",
    "io",
    "stats",
    "outcomes",
    "models",
    "plotting",
    "reporting",
    "datasets",
    "reproduce",
    "cli",
]
FOUNDATION = {"errors", "vocab"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _stage(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "ipt_analytics":
        return None
    if len(parts) == 1:
        return "top"
    head = parts[1]
    if head in FOUNDATION:
        return "foundation"
    if head == "cli":
        return "cli"
    return head if head in STAGES else f"unknown:{head}"


def _imports(path: Path):
    """(imported module, line, inside a function name or None) for every import."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    return _imports_in(path.read_text(encoding="utf-8"), package)


def _imports_in(source: str, package: str):
    tree = ast.parse(source)
    found = []

    def visit(node, func):
        for child in ast.iter_child_nodes(node):
            inner = func
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                inner = child.name
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, func) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                found.append((target, child.lineno, func))
                # "from ipt_analytics.x import y" may import the submodule x.y
                for alias in child.names:
                    found.append((f"{target}.{alias.name}", child.lineno, func))
            visit(child, inner)

    visit(tree, None)
    return found


def _all_modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _existing(module: str, known: set[str]) -> str | None:
    # "ipt_analytics.stats.groups.compare_groups" -> the module "ipt_analytics.stats.groups"
    while module and module not in known:
        module = module.rpartition(".")[0]
    return module or None


def test_every_module_belongs_to_a_stage():
    stages = {_module_name(p): _stage(_module_name(p)) for p in _all_modules()}
    unknown = [m for m, s in stages.items() if s is None or s.startswith("unknown")]
    assert unknown == []


def test_each_stage_imports_only_earlier_stages():
    order = {s: i for i, s in enumerate(STAGES)}
    known = {_module_name(p) for p in _all_modules()}
    violations = []
    for path in _all_modules():
        src = _module_name(path)
        src_stage = _stage(src)
        if src_stage == "top":  # the lazy public API may name anything
            continue
        for target, line, func in _imports(path):
            target = _existing(target, known)
            if target is None:
                continue
            dst_stage = _stage(target)
            if dst_stage == "top":
                if target == "ipt_analytics" and src_stage == "cli":
                    continue  # __version__
                violations.append(f"{src}:{line} imports the top-level package")
                continue
            if order[dst_stage] <= order[src_stage]:
                continue
            if func == "plot" and dst_stage == "plotting":
                continue  # the documented .plot() convenience exception
            violations.append(f"{src}:{line} ({src_stage}) imports {target} ({dst_stage})")
    assert violations == []


def test_no_import_cycles_between_modules():
    known = {_module_name(p) for p in _all_modules()}
    graph: dict[str, set[str]] = {m: set() for m in known}
    for path in _all_modules():
        src = _module_name(path)
        for target, _, func in _imports(path):
            target = _existing(target, known)
            if target is None or target == src or func == "plot":
                continue
            # a package's __init__ re-exports its modules; a module importing its own
            # package's name resolves to the module it names, which _existing found
            if src.startswith(target + ".") and target in known:
                continue
            graph[src].add(target)
    # a cycle = a strongly connected component with more than one module
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def strongconnect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    assert cycles == []


def test_matplotlib_only_in_plotting():
    offenders = []
    for path in _all_modules():
        src = _module_name(path)
        if src.startswith("ipt_analytics.plotting"):
            continue
        for target, line, _ in _imports(path):
            if target.split(".")[0] == "matplotlib":
                offenders.append(f"{src}:{line}")
    assert offenders == []


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from ipt_analytics.plotting import x\n", "plotting"),
        ("def f():\n    from ipt_analytics.models import fit_mixed\n", "models"),
    ],
)
def test_the_checker_sees_module_and_function_level_imports(source, expected):
    # guards the guard: an upward import written either way is found
    targets = [_stage(t) for t, _, _ in _imports_in(source, "ipt_analytics.stats")]
    assert expected in targets
