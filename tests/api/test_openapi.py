"""The OpenAPI document: valid, derived from the routes' declarations, and kept honest by the contract check."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, compile_path

from protocol import ErrorCode
from server.api.openapi import TAGS, build_document
from server.api.operation import operation, routes_of
from server.api.routes import rest_routes
from server.app import create_app
from server.config import Settings

from ..utils import run_server


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in document["paths"].items() for method, op in ops.items()]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document(rest_routes(Settings()))


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    """openapi-spec-validator accepts the document, and it names the servers it describes."""
    validate(document)
    assert document["openapi"] == "3.1.0" and document["servers"]


def test_every_operation_has_an_id_a_tag_and_typed_answers(document: dict[str, Any]) -> None:
    """Unique operationIds, known tags, and every 2xx JSON answer has a schema that is not a bare object."""
    ids = [op["operationId"] for _, _, op in _operations(document)]
    assert len(ids) == len(set(ids)) and len(ids) >= 40
    for method, path, op in _operations(document):
        assert op["tags"] and set(op["tags"]) <= set(TAGS), (method, path)
        assert op["summary"], (method, path)
        for status, response in op["responses"].items():
            if status.startswith("2") and status != "204":
                media_type, content = next(iter(response["content"].items()))
                schema = content["schema"]
                if media_type.startswith("text/"):  # /metrics: text, whose format its description names
                    assert schema == {"type": "string"} and response["description"], (method, path)
                    continue
                assert schema != {"type": "object"} and ("$ref" in schema or "anyOf" in schema), (method, path)


def test_every_route_the_app_serves_is_documented(document: dict[str, Any]) -> None:
    """The documented operations are exactly the app's HTTP routes (demo page and socket aside)."""
    documented = {(path, method.upper()) for method, path, _ in _operations(document)}
    app = create_app(Settings())
    served = {
        (compile_path(route.path)[1], method)
        for route in app.routes
        if isinstance(route, Route) and route.include_in_schema
        for method in (route.methods or ()) - {"HEAD"}
    }
    assert documented == served


def test_the_errors_every_route_can_answer_are_described(document: dict[str, Any]) -> None:
    """Auth, body and rate-limit failures are described where they can happen, with Retry-After on 429."""
    responses = {(m, p): op["responses"] for m, p, op in _operations(document)}
    signup = responses[("post", "/api/auth/signup")]
    assert {"400", "409", "413", "415", "422", "429", "500", "503"} <= set(signup)
    assert signup["429"]["headers"]["Retry-After"]["required"] is True
    assert "401" not in signup  # public
    tasks = responses[("get", "/api/tasks")]
    assert set(tasks) == {"200", "401", "500", "503"}  # 503: not_ready during a database outage
    assert "429" in responses[("post", "/api/tasks")]  # a user's writes count against REST_WRITE_RATE
    assert set(responses[("get", "/healthz")]) == {"200", "500"}  # never reads the database
    room = responses[("get", "/api/rooms/{room_id}")]
    codes = room["404"]["content"]["application/problem+json"]["schema"]["allOf"][1]["properties"]["code"]["enum"]
    assert codes == ["not_found"]
    gotrue = responses[("post", "/auth/v1/token")]
    assert {"200", "400", "401", "429"} <= set(gotrue) and "application/problem+json" not in gotrue["400"]["content"]


def test_query_parameters_come_from_the_query_struct(document: dict[str, Any]) -> None:
    """`GET /api/conversations` lists its query parameters with their limits, none required."""
    params = {p["name"]: p for p in document["paths"]["/api/conversations"]["get"]["parameters"]}
    assert set(params) == {"replica_id", "before", "limit"}
    assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}
    assert not any(p["required"] for p in params.values())


def test_an_undeclared_route_is_refused() -> None:
    """A plain HTTP route without a declaration cannot slip into the app's document."""

    async def plain(request: Request) -> Response:
        return Response()

    with pytest.raises(TypeError, match="declare it with @operation"):
        build_document([Route("/api/plain", plain)])


class _Pong(msgspec.Struct):
    """A pong."""

    pong: bool


@operation("GET", "/api/pong", "pong", tag="meta", answers={200: _Pong}, errors=[ErrorCode.NOT_FOUND])
async def _pong(request: Request) -> Response:
    """Answers what the query asks for, declared or not."""
    if request.query_params.get("as") == "teapot":
        return JSONResponse({"pong": True}, 418)
    if request.query_params.get("as") == "wrong":
        return JSONResponse({"pong": "yes"})
    return JSONResponse({"pong": True})


@pytest.mark.parametrize(
    ("query", "violation"),
    [("as=teapot", "does not declare 418"), ("as=wrong", "at /pong"), ("", None)],
)
async def test_the_contract_check_fails_a_test_that_gets_an_undeclared_answer(
    query: str, violation: str | None
) -> None:
    """An answer whose status or body the document does not declare fails the test when the server stops."""
    app = Starlette(routes=routes_of(_pong))
    if violation is None:
        async with run_server(app) as url, httpx.AsyncClient(base_url=url) as http:
            assert (await http.get(f"/api/pong?{query}")).status_code == 200
        return
    with pytest.raises(AssertionError, match=violation):
        async with run_server(app) as url, httpx.AsyncClient(base_url=url) as http:
            await http.get(f"/api/pong?{query}")
