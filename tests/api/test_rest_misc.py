"""Health, readiness, OpenAPI, unknown routes, CORS."""

from __future__ import annotations

import httpx
from starlette.routing import Route

from server.app import create_app
from server.config import Settings


async def test_health_and_readiness(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


async def test_openapi_describes_every_rest_route(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}
    app = create_app(Settings())
    served = {
        (route.path, method)
        for route in app.routes
        if isinstance(route, Route) and route.include_in_schema
        for method in (route.methods or ()) - {"HEAD"}
    }
    assert documented == served
    signup = document["paths"]["/api/auth/signup"]["post"]
    schema_name = signup["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(document["components"]["schemas"][schema_name]["required"]) == {"email", "password"}


async def test_unknown_route_and_method_are_problems(http: httpx.AsyncClient) -> None:
    missing = await http.get("/api/nope")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    wrong = await http.put("/api/tasks")
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"


async def test_cors_preflight_allows_the_front_end(http: httpx.AsyncClient) -> None:
    response = await http.options(
        "/api/tasks",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    denied = await http.options(
        "/api/tasks", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in denied.headers
