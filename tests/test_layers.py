"""The layers of server/ read top-down: no import goes up a layer, and no two subpackages import each other.

Every import counts: at module level, inside functions, and under ``if TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent / "server"

LAYERS: Final[dict[str, int]] = {
    # the wiring: builds and runs everything
    "__main__": 8,
    "app": 8,
    "startup": 8,
    # transports
    "api": 7,
    "ws": 7,
    "web": 7,
    # what the transports read from the lifespan
    "state": 6,
    # services
    "chat": 5,
    "rooms": 5,
    "prototypes": 5,
    "realtime": 5,
    # what the services share: what a replica is told, what a message asks of the task list, a conversation turn
    "context": 4,
    # the one reply pipeline
    "replies": 3,
    # delivery
    "hub": 2,
    # backends
    "store": 1,
    "sensay": 1,
    "feed": 1,
    "broker": 1,
    "auth": 1,
    "ratelimit": 1,
    "ratelimit_local": 1,
    # shared by all: the domain errors and the settings (the contract, protocol/, is outside server/)
    "errors": 0,
    "config": 0,
    "logs": 0,
    "metrics": 0,
}
"""Each part of server/ (a subpackage or a top-level module) and its layer: a part imports only from its own
layer or below."""


def _unit(module: str) -> str | None:
    """The part of server/ a dotted module name belongs to (``None`` outside server/)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "server" and len(parts) > 1 else None


def _module_name(path: Path) -> str:
    relative = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, relative imports resolved."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target
            yield from (f"{target}.{alias.name}" for alias in node.names)  # `from . import chat` names a part


def _edges() -> dict[str, set[str]]:
    """Part -> the other parts of server/ it imports."""
    edges: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        source = _unit(_module_name(path))
        if source is None:  # server/__init__.py
            continue
        for target in {_unit(module) for module in _imports(path)}:
            if target in LAYERS and target != source:
                edges.setdefault(source, set()).add(target)
    return edges


def test_every_part_has_a_layer() -> None:
    """A new subpackage or top-level module must be placed in a layer before it can be imported."""
    parts = {p.stem for p in ROOT.glob("*.py") if p.name != "__init__.py"} | {
        p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    assert parts == set(LAYERS)
    assert set(_edges()) <= set(LAYERS)


def test_nothing_imports_upward() -> None:
    """A part imports only from its own layer or below."""
    upward = [
        f"{source} (layer {LAYERS[source]}) imports {target} (layer {LAYERS[target]})"
        for source, targets in _edges().items()
        for target in targets
        if LAYERS[target] > LAYERS[source]
    ]
    assert upward == []


def test_no_cycles_between_parts() -> None:
    """No two parts of server/ depend on each other, directly or through others."""
    edges = _edges()
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for target in sorted(edges.get(node, ())):
            if target in path:
                cycles.append([*path[path.index(target) :], target])
            elif target not in done:
                visit(target, [*path, target])
        done.add(node)

    done: set[str] = set()
    for start in sorted(edges):
        if start not in done:
            visit(start, [start])
    assert cycles == []


SQL_STATEMENT: Final = re.compile(r"^\s*(SELECT\b|INSERT INTO\b|UPDATE \w+ SET\b|DELETE FROM\b|WITH \w+ AS \()", re.M)
SQL_HOMES: Final = ("store/", "feed/postgres.py")
"""Where SQL may be written: the store, and the embedded change feed, which reads each changed row back on its
own LISTEN connection."""


def test_sql_lives_in_the_store() -> None:
    """SQL statements are written only in server/store/ (and the PostgreSQL change feed)."""
    elsewhere = [
        f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
        for path in sorted(ROOT.rglob("*.py"))
        if not path.relative_to(ROOT).as_posix().startswith(SQL_HOMES)
        for match in SQL_STATEMENT.finditer(path.read_text())
    ]
    assert elsewhere == []
