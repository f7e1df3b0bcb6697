"""The methods a path answers, over every route that serves it: the ``Allow`` of a 405 names them all."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope


def allowed_methods(scope: Scope, routes: Iterable[BaseRoute], *, catch_all_counts: bool = True) -> list[str]:
    """The declared methods of the routes whose path matches ``scope``'s; a catch-all (``{…:path}``) counts only
    when no route names the path itself, as in OpenAPI a concrete path wins over a template."""
    specific: set[str] = set()
    catch_all: set[str] = set()
    probe = {**scope, "method": "GET"}
    for route in routes:
        if not isinstance(route, Route) or route.methods is None:
            continue
        for method in route.methods - {"HEAD"}:
            match, _ = route.matches({**probe, "method": method})
            if match is Match.FULL:
                (catch_all if ":path}" in route.path else specific).add(method)
    return sorted(specific or (catch_all if catch_all_counts else set()))
