"""The layering, read from the source with `ast`: web → federation → fediverse, SQL only in
fediverse/storage/, and no import cycles between our modules (see DESIGN.md section 1)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("fediverse", "federation", "web")

# package → top-level modules it must never import, anywhere in the file.
FORBIDDEN: dict[str, frozenset[str]] = {
    "fediverse": frozenset(
        {"federation", "web", "starlette", "httpx", "aiohttp", "uvicorn", "jinja2"}
    ),
    "federation": frozenset({"web", "starlette", "uvicorn", "jinja2"}),
    "web": frozenset(),
}
# Only these may talk to PostgreSQL directly.
DATABASE_DRIVERS = frozenset({"asyncpg"})
DATABASE_ALLOWED = ("fediverse/storage/", "fediverse/runtime.py")
# The composition root may import the outer layers lazily, inside its command functions.
COMPOSITION_ROOT = "fediverse/cli.py"


@dataclass(frozen=True)
class Import:
    module: str  # fully qualified, relative imports resolved
    line: int
    in_function: bool
    type_checking_only: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, package: str | None = None) -> list[Import]:
    """Every import in the file; `package` (derived from the path by default) anchors
    relative imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    if package is None:
        package = module_name(path)
        if path.name != "__init__.py":
            package = package.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool, type_checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(alias.name, child.lineno, in_function, type_checking))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    target = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    target = child.module or ""
                found.append(Import(target, child.lineno, in_function, type_checking))
                # `from package import module` imports the submodule too.
                for alias in child.names:
                    found.append(
                        Import(f"{target}.{alias.name}", child.lineno, in_function, type_checking)
                    )
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, True, type_checking)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for branch in child.body:
                    visit(ast.Module(body=[branch], type_ignores=[]), in_function, True)
                for branch in child.orelse:
                    visit(ast.Module(body=[branch], type_ignores=[]), in_function, type_checking)
            else:
                visit(child, in_function, type_checking)

    visit(tree, False, False)
    return found


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def violations_in(rel: str, imports: list[Import]) -> Iterator[str]:
    """What is wrong with the imports of the file at `rel` (a path relative to the repo)."""
    package = rel.split("/")[0]
    for imp in imports:
        top = imp.module.split(".")[0]
        if top in FORBIDDEN[package]:
            # `serve` starts uvicorn on the web app: that wiring is the root's job.
            exempt = rel == COMPOSITION_ROOT and imp.in_function
            if not exempt:
                yield f"{rel}:{imp.line} imports {imp.module} ({package} must not)"
        if top in DATABASE_DRIVERS and not rel.startswith(DATABASE_ALLOWED):
            yield f"{rel}:{imp.line} imports {imp.module} (SQL lives in fediverse/storage/)"


def violations() -> Iterator[str]:
    for path in source_files():
        yield from violations_in(relative(path), imports_of(path))


def test_source_tree_is_where_the_test_looks() -> None:
    found = {relative(path) for path in source_files()}

    assert {"fediverse/audience.py", "federation/__init__.py", "web/app.py"} <= found
    assert len(found) > 30


def test_no_module_imports_across_a_forbidden_arrow() -> None:
    assert list(violations()) == []


def test_the_checker_catches_each_kind_of_forbidden_import(tmp_path: Path) -> None:
    # The rules above are only as good as the import reader: feed it the shapes that matter.
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from __future__ import annotations\n"
        "import starlette.requests\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from web.state import AppState\n"
        "def later() -> None:\n"
        "    import federation.client\n"
    )
    imports = imports_of(sample, package="fediverse")
    found = {(i.module, i.in_function, i.type_checking_only) for i in imports}

    assert ("starlette.requests", False, False) in found
    assert ("web.state", False, True) in found
    assert ("federation.client", True, False) in found


@pytest.mark.parametrize(
    ("rel", "module", "in_function", "allowed"),
    [
        ("fediverse/statuses.py", "starlette.requests", False, False),
        ("fediverse/statuses.py", "httpx", True, False),  # no dodging inside a function
        ("fediverse/statuses.py", "federation.client", False, False),
        ("fediverse/statuses.py", "asyncpg", False, False),
        ("fediverse/storage/statuses.py", "asyncpg", False, True),
        ("fediverse/runtime.py", "asyncpg", False, True),
        ("federation/inbox.py", "web.state", False, False),
        ("federation/inbox.py", "fediverse.statuses", False, True),
        ("web/app.py", "asyncpg", False, False),
        ("web/app.py", "federation.client", False, True),
        ("fediverse/cli.py", "web.app", True, True),
        ("fediverse/cli.py", "web.app", False, False),
    ],
)
def test_the_rules_allow_and_refuse_the_right_arrows(
    rel: str, module: str, in_function: bool, allowed: bool
) -> None:
    found = list(violations_in(rel, [Import(module, 1, in_function, False)]))

    assert (found == []) is allowed, found


def test_relative_imports_are_resolved_against_the_package(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from .database import Connection\nfrom .. import web_thing\n")

    names = {imp.module for imp in imports_of(sample, package="fediverse.storage")}

    assert {"fediverse.storage.database", "fediverse.web_thing"} <= names


def module_graph() -> dict[str, set[str]]:
    """Our modules and the modules of ours they import when loaded (not in functions and not
    only for type checking)."""
    modules = {module_name(path): path for path in source_files()}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for imp in imports_of(path):
            if imp.in_function or imp.type_checking_only:
                continue
            if imp.module in modules and imp.module != name:
                graph[name].add(imp.module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_modules_import_each_other_without_cycles() -> None:
    graph = module_graph()
    # A package's __init__ importing its own submodules is not a cycle anyone has to untangle.
    for name in graph:
        graph[name] = {m for m in graph[name] if not m.startswith(name + ".")}

    assert cycles(graph) == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_the_cycle_finder_finds_cycles(
    graph: dict[str, set[str]], expected: list[list[str]]
) -> None:
    assert cycles(graph) == expected
