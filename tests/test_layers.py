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

WIRING: Final = frozenset({"__main__", "app", "startup"})
SHARED: Final = frozenset({"errors", "outages", "config", "logs", "metrics"})
"""Shared by all: the domain errors, what says the database is down, the settings, logging and metrics."""
SERVICES: Final = frozenset({"chat", "rooms", "prototypes", "realtime", "tables"})
BACKENDS: Final = frozenset({"store", "sensay", "feed", "broker", "auth", "ratelimit", "ratelimit_local"})

MAY_IMPORT: Final[dict[str, frozenset[str]]] = {
    # the wiring: builds and runs everything (README, "Map of the code")
    **dict.fromkeys(
        WIRING, WIRING | {"api", "ws", "web", "state", "context", "replies", "hub"} | SERVICES | BACKENDS | SHARED
    ),
    # transports: parse, call a service, shape the answer; who is asking (auth) and how often (ratelimit) on the
    # way in; never the store. The operators' routes read the hub's connections.
    "api": SERVICES | {"state", "auth", "ratelimit", "hub"},
    "ws": SERVICES | {"state", "auth", "ratelimit", "hub"},
    "web": frozenset(),
    # what the transports read from the lifespan
    "state": SERVICES | BACKENDS | {"replies", "hub"},
    # services: side by side, none importing another
    **dict.fromkeys(SERVICES, BACKENDS | {"context", "replies", "hub"}),
    # below the services, shared by them: what a replica is told, what a message asks of the task list
    "context": BACKENDS | {"replies", "hub"},
    # the one reply pipeline
    "replies": BACKENDS | {"hub"},
    # delivery
    "hub": frozenset({"broker"}),
    # backends: the change feed and auth read the store; auth counts attempts
    "store": frozenset(),
    "sensay": frozenset(),
    "feed": frozenset({"store"}),
    "broker": frozenset(),
    "auth": frozenset({"store", "ratelimit"}),
    "ratelimit": frozenset({"ratelimit_local"}),
    "ratelimit_local": frozenset(),
    **dict.fromkeys(SHARED, frozenset()),
}
"""Each part of server/ (a subpackage or a top-level module) and the other parts it may import, besides the shared
ones (``SHARED``, which import only each other): ARCHITECTURE's may-import table, as the README's map draws it."""

LAYERS: Final[dict[str, int]] = {
    **dict.fromkeys(WIRING, 8),
    **dict.fromkeys(("api", "ws", "web"), 7),
    "state": 6,
    **dict.fromkeys(SERVICES, 5),
    "context": 4,
    "replies": 3,
    "hub": 2,
    **dict.fromkeys(BACKENDS, 1),
    **dict.fromkeys(SHARED, 0),
}
"""Each part's layer: a part imports only from its own layer or below (what keeps the table free of cycles)."""


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
    assert parts == set(LAYERS) == set(MAY_IMPORT)
    assert set(_edges()) <= set(LAYERS)


def test_each_part_imports_only_what_the_table_allows() -> None:
    """ARCHITECTURE's may-import table, exactly: no service imports another, no transport the store, the hub no
    auth; the shared parts import only each other."""
    beyond = [
        f"{source} imports {target}"
        for source, targets in sorted(_edges().items())
        for target in sorted(targets - MAY_IMPORT[source] - SHARED)
    ]
    assert beyond == []


def test_nothing_imports_upward() -> None:
    """A part imports only from its own layer or below."""
    upward = [
        f"{source} (layer {LAYERS[source]}) imports {target} (layer {LAYERS[target]})"
        for source, targets in _edges().items()
        for target in targets
        if LAYERS[target] > LAYERS[source]
    ]
    assert upward == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The cycles a depth-first walk of ``edges`` meets, each as the path that closes it."""
    cycles: list[list[str]] = []
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        for target in sorted(edges.get(node, ())):
            if target in path:
                cycles.append([*path[path.index(target) :], target])
            elif target not in done:
                visit(target, [*path, target])
        done.add(node)

    for start in sorted(edges):
        if start not in done:
            visit(start, [start])
    return cycles


def test_no_cycles_between_parts() -> None:
    """No two parts of server/ depend on each other, directly or through others."""
    assert _cycles(_edges()) == []


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


def _module_edges() -> dict[str, set[str]]:
    """Module -> the modules of its own part of server/ it imports (an import of its own package's
    ``__init__`` aside: ``from . import x`` names the package on the way to ``x``)."""
    modules = {_module_name(path): path for path in ROOT.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        own_package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for target in _imports(path):
            while target and target not in modules:  # `from .x import name` names x.name
                target = target.rpartition(".")[0]
            if target and target not in (name, own_package) and _unit(target) == _unit(name):
                edges.setdefault(name, set()).add(target)
    return edges


def test_no_cycles_inside_a_part() -> None:
    """No two modules of one part import each other, directly or through others (``auth/cache.py`` and
    ``auth/tokens.py`` did, under ``TYPE_CHECKING``): each module can be read, and tested, before those using it."""
    assert _cycles(_module_edges()) == []


MAX_MODULE_LINES: Final = 500
MAX_FUNCTION_LINES: Final = 80
IN_FLIGHT: Final[frozenset[str]] = frozenset()
"""Split by other work under way (issue 20); the lead removes each entry as that work lands."""


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield f"{prefix}{node.name}", node
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")


def test_modules_are_small() -> None:
    """No module of server/ is over 500 lines: one job each."""
    big = [
        f"{name}: {lines} lines"
        for path in sorted(ROOT.rglob("*.py"))
        if (name := path.relative_to(ROOT).as_posix()) not in IN_FLIGHT
        and (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert big == []


def test_functions_are_short() -> None:
    """No function of server/ is over 80 lines (its ``def`` to its last line; a nested function counts in its own
    right and within the one around it)."""
    long = [
        f"{where}: {lines} lines"
        for path in sorted(ROOT.rglob("*.py"))
        if path.relative_to(ROOT).as_posix() not in IN_FLIGHT
        for qualified, node in _functions(ast.parse(path.read_text()))
        if (where := f"{path.relative_to(ROOT).as_posix()}:{qualified}") not in IN_FLIGHT
        and (lines := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    ]
    assert long == []


README: Final = ROOT.parent / "README.md"
GROUPS: Final = {"services": SERVICES, "backends": BACKENDS, "everything": frozenset(LAYERS), "-": frozenset()}


def _map() -> list[tuple[list[str], str, frozenset[str]]]:
    """The rows of the README's map of the code: the places (paths), what lives there, and the parts they may import."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("| place | what lives there | may import |")
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        place, what, may = (cell.strip() for cell in line.strip().strip("|").split(" | "))
        allowed: set[str] = set()
        for word in may.split(", "):
            allowed |= GROUPS.get(word, {word.strip("`")})
        rows.append((re.findall(r"`([^`]+)`", place), what, frozenset(allowed)))
    return rows


def test_the_readme_map_names_every_part_and_its_table_row() -> None:
    """Each part of server/ has a row in the README's map, and the row's "may import" is the table above."""
    named: dict[str, frozenset[str]] = {}
    for places, _, allowed in _map():
        for place in places:
            if place.startswith("server/"):
                named[Path(place).stem if place.endswith(".py") else place.split("/")[1]] = allowed
    assert set(named) == set(LAYERS)
    differ = [part for part in sorted(named) if named[part] != MAY_IMPORT[part]]
    assert differ == []


def test_every_file_the_readme_map_names_exists() -> None:
    """Each place of the map, and each file or folder its row names (``conductor.py``: of the row's place), exists."""
    missing = []
    for places, what, _ in _map():
        home = ROOT.parent / places[0]
        for name in places + re.findall(r"`([\w/]+(?:\.py|/))`", what):
            path = ROOT.parent / name if name.startswith(("server/", "protocol/")) or name in places else home / name
            if not path.exists():
                missing.append(f"{places[0]}: {name}")
    assert missing == []
