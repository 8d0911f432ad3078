"""Import arrows point one way: tools <- env <- agent <- tasks, with the CLI (and the public face,
``pixelpilot/``) on top, and no module imports one that imports it back.

Every module under agent/ env/ tools/ tasks/ pixelpilot/ is parsed (AST, nothing is imported) and
its imports of our own modules become edges. Two graphs, because they answer different questions:

- **Arrows** count every import wherever it sits: at module level, inside a function (a lazy
  import still ties the lower room to the upper one; moving it into a function hides the arrow
  from the import system, not from the reader), under ``if TYPE_CHECKING:`` (a type from an upper
  room is still knowledge of it), and ``importlib.import_module("pixelpilot...")`` with a literal.
- **Cycles** count only what runs when a module is imported: module-level imports outside
  ``if TYPE_CHECKING:``. A function-level import back is no import-time cycle (the module has
  finished loading by the time the function runs), so it is left to the arrow rules.

An edge goes to the module named (``from pixelpilot.env import X`` is an edge to the package
``pixelpilot.env``; ``from pixelpilot.agent import loop`` to ``pixelpilot.agent.loop``). For cycles,
importing ``a.b.c`` also runs the ``__init__`` of ``a.b`` and ``a`` first, so those packages are
targets too, except the importer's own ancestors: they began loading before the importer did, so
reaching them again cycles nothing (otherwise every package ``__init__`` that re-exports its
submodules would be a cycle with each of them). That is how a module that imports
``dialects.base`` while a dialect imports it back is caught: ``dialects/__init__`` imports every
dialect.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: folder -> dotted package it installs as (setup.py's package-dir)
FOLDERS = {"tools": "pixelpilot.tools", "env": "pixelpilot.env", "agent": "pixelpilot.agent",
           "tasks": "pixelpilot.tasks", "pixelpilot": "pixelpilot"}  # fmt: skip
#: what each room may import besides itself
ALLOWED = {
    "tools": set(),
    "env": {"tools"},
    "agent": {"tools", "env"},
    "tasks": {"tools", "env", "agent"},
    "top": {"tools", "env", "agent", "tasks"},
}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    where: str  # path:line
    module_level: bool
    type_checking: bool


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    parts = [FOLDERS[rel.parts[0]], *rel.parts[1:]]
    parts[-1] = parts[-1].removesuffix(".py")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "__pycache__" not in path.parts:
                found[_module_name(path)] = path
    return found


MODULES = _modules()
PACKAGES = {name for name, path in MODULES.items() if path.name == "__init__.py"}


def room(module: str) -> str:
    """tools | env | agent | tasks | top (the public face, ``python -m pixelpilot`` and the CLI)."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] not in ("tools", "env", "agent", "tasks"):
        return "top"
    if parts[1] == "agent" and len(parts) > 2 and (parts[2] == "cli" or parts[2].startswith("cli_")):
        return "top"  # agent/cli*.py: where all four rooms meet
    return parts[1]


def _ours(dotted: str) -> str | None:
    """The module of ours that ``dotted`` names (itself, or the longest known prefix), if any."""
    parts = dotted.split(".")
    while parts:
        name = ".".join(parts)
        if name in MODULES:
            return name
        parts.pop()
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path) -> Iterator[Edge]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if module in PACKAGES else module.rpartition(".")[0]
    where = str(path.relative_to(ROOT))

    def targets(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            # `from pkg import name` names the submodule pkg.name when there is one
            named = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in MODULES else stem for a in node.names]
            return list(dict.fromkeys(named))
        if (
            isinstance(node, ast.Call)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            return [node.args[0].value]
        return []

    def walk(node: ast.AST, module_level: bool, type_checking: bool) -> Iterator[Edge]:
        for name in targets(node):
            target = _ours(name)
            if target is not None and target != module:
                yield Edge(module, target, f"{where}:{node.lineno}", module_level, type_checking)  # type: ignore[attr-defined]
        for field, value in ast.iter_fields(node):
            children = value if isinstance(value, list) else [value]
            for child in children:
                if not isinstance(child, ast.AST):
                    continue
                inner = module_level and not isinstance(
                    node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
                )
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    inner = False
                elif isinstance(node, ast.ClassDef):
                    inner = module_level  # a class body runs at import time
                guarded = type_checking or (
                    isinstance(node, ast.If) and field == "body" and _is_type_checking(node.test)
                )
                yield from walk(child, inner, guarded)

    yield from walk(tree, True, False)


EDGES = [edge for module, path in MODULES.items() for edge in _imports(module, path)]


def test_the_parser_sees_our_imports() -> None:
    """The rules below are only as good as the edge list: it must hold the imports we know of."""
    assert "pixelpilot.agent.loop" in MODULES and "pixelpilot" in MODULES
    pairs = {(e.source, e.target, e.module_level) for e in EDGES}
    assert ("pixelpilot.agent.loop", "pixelpilot.agent.policy", True) in pairs
    assert any(e.source.startswith("pixelpilot.env.") and e.target == "pixelpilot.tools" for e in EDGES)
    assert any(not e.module_level for e in EDGES) and any(e.type_checking for e in EDGES)


def test_each_room_imports_only_the_rooms_below_it() -> None:
    """tools imports nothing of ours, env only tools, agent only tools and env, tasks only tools, env
    and agent; only the CLI and the public face (``pixelpilot/``, agent/cli*.py) import everything."""
    wrong = [
        f"{e.where} {e.source} -> {e.target}"
        for e in EDGES
        if room(e.source) != room(e.target) and room(e.target) not in ALLOWED[room(e.source)]
    ]
    assert wrong == []


def _cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
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
                        components.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:n]) for n in range(len(parts) - 1, 0, -1)]


def _import_time_edges(edges: list[Edge]) -> list[Edge]:
    """What runs when a module is imported: module-level imports outside ``if TYPE_CHECKING:``, each
    also reaching the packages above its target that are not above the importer."""
    found = []
    for e in edges:
        if not e.module_level or e.type_checking:
            continue
        found.append(e)
        mine = {e.source, *_ancestors(e.source)}
        for package in _ancestors(e.target):
            if package in MODULES and package not in mine:
                found.append(Edge(e.source, package, f"{e.where} (through {e.target})", True, False))
    return found


def test_no_module_imports_one_that_imports_it_back_at_import_time() -> None:
    """A cycle loads only in some orders (the first module in is half-built when the last one asks
    it for a name): the code that both sides need belongs in a third module below them."""
    runtime = _import_time_edges(EDGES)
    found = []
    for component in _cycles(runtime):
        members = set(component)
        found.append(sorted({f"{e.where} -> {e.target}" for e in runtime if {e.source, e.target} <= members}))
    assert found == []


def test_the_cycle_rules_see_a_cycle_through_a_package() -> None:
    """The finder finds a plain cycle, and one closed by a package ``__init__`` that imports a
    submodule which imports the first module back (a finder that never finds anything would make
    the test above pass for the wrong reason)."""
    three = [Edge("a", "b", "a:1", True, False), Edge("b", "c", "b:1", True, False),
             Edge("c", "a", "c:1", True, False), Edge("c", "d", "c:2", True, False)]  # fmt: skip
    assert _cycles(three) == [["a", "b", "c"]]
    assert _cycles(three[:2]) == []
    dialects = "pixelpilot.agent.qwen.dialects"
    through = [Edge("pixelpilot.agent.qwen.parsing", f"{dialects}.base", "p:1", True, False),
               Edge(dialects, f"{dialects}.qwen2", "d:1", True, False),
               Edge(f"{dialects}.qwen2", "pixelpilot.agent.qwen.parsing", "q:1", True, False)]  # fmt: skip
    assert _cycles(_import_time_edges(through)) == [
        sorted(["pixelpilot.agent.qwen.parsing", dialects, f"{dialects}.qwen2"])
    ]
    assert _cycles(_import_time_edges([*through[:2], Edge(f"{dialects}.qwen2", dialects, "q:1", False, False)])) == []
