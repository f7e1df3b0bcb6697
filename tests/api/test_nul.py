"""NUL, which PostgreSQL text cannot store, is refused as a validation error on both transports, never a 500."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import msgspec
import pytest

from server.app import create_app
from server.config import Secret, Settings
from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica

from ..auth.gotrue_support import ANON_KEY
from ..conftest import bearer
from ..protocol.samples import CLIENT_SAMPLES
from ..utils import connect, run_server, signup_and_login

NUL = "a\u0000b"


@pytest.mark.parametrize(
    ("method", "path", "body", "authenticated"),
    [
        ("POST", "/api/auth/signup", {"email": f"x{NUL}@example.com", "password": "correct horse battery"}, False),
        ("POST", "/api/auth/login", {"email": "x@example.com", "password": f"pass{NUL}word"}, False),
        ("POST", "/api/tasks", {"description": NUL}, True),
        ("POST", "/api/conversations", {"replica_id": ADA_LOVELACE_UUID, "content": NUL}, True),
        ("POST", "/api/conversations", {"replica_id": ADA_LOVELACE_UUID, "content": "hi", "client_id": NUL}, True),
        ("POST", "/api/conversations", {"replica_id": NUL, "content": "hi"}, True),
        ("POST", "/api/rooms", {"name": NUL, "replica_ids": [ADA_LOVELACE_UUID]}, True),
        ("GET", "/api/conversations?replica_id=%00", None, True),
        ("GET", "/api/tasks/%00", None, True),
        (
            "POST",
            "/api/prototype/task-memory/actions",
            {"action": "chat", "params": {"content": f"add task {NUL}"}},
            True,
        ),
    ],
)
async def test_nul_in_any_rest_string_is_422(
    http: httpx.AsyncClient,
    alice: dict,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    body: dict | None,
    authenticated: bool,
) -> None:
    """Bodies, query strings and paths holding NUL answer 422 validation_error, and nothing is logged as an error."""
    headers = bearer(alice) if authenticated else {}
    with caplog.at_level(logging.ERROR):
        response = await http.request(method, path, json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error" and "NUL" in response.json()["detail"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_literal_backslash_u0000_is_ordinary_text(http: httpx.AsyncClient, alice: dict) -> None:
    """The six characters \\u0000 (an escaped backslash in JSON) are text, stored as sent."""
    created = await http.post("/api/tasks", json={"description": "\\u0000 is fine"}, headers=bearer(alice))
    assert created.status_code == 201 and created.json()["description"] == "\\u0000 is fine"


async def test_nul_in_socket_frames_is_invalid_frame_with_the_frame_id(
    server: str, alice: dict, caplog: pytest.LogCaptureFixture
) -> None:
    """chat.send and room.send holding NUL get invalid_frame with their id; the socket stays open."""
    with caplog.at_level(logging.ERROR):
        async with connect(server, alice["access_token"]) as tab:
            frames = [
                {"type": "chat.send", "id": "c-1", "replica_id": ADA_LOVELACE_UUID, "content": NUL},
                {"type": "chat.send", "id": "c-2", "replica_id": NUL, "content": "hi"},
                {"type": "room.send", "id": "r-1", "room_id": "6f1c2a9e-0b7d-4c3e-9a51-2d8e7f4b1c60", "content": NUL},
            ]
            for frame in frames:
                await tab.send(frame)
                error = await tab.recv()
                assert error["type"] == "error" and error["code"] == "invalid_frame", error
                assert error["id"] == frame["id"] and "NUL" in error["message"]
            await tab.send({"type": "ping", "id": f"p{NUL}"})
            error = await tab.recv()
            assert error["code"] == "invalid_frame" and "id" not in error, "an id holding NUL is not echoed"
            await tab.send({"type": "ping", "id": "still-open"})
            assert (await tab.recv()) == {"type": "pong", "id": "still-open"}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


SERVICE_KEY = "service-key-" + "s" * 32


@pytest.fixture
async def walker(settings: Settings, replica: LocalReplica) -> AsyncIterator[tuple[httpx.AsyncClient, dict]]:
    """A hub with a known anon key and service key, a client of it, and the OpenAPI document it serves."""
    configured = replace(settings, anon_key=ANON_KEY, service_key=Secret(SERVICE_KEY))
    async with run_server(create_app(configured, replica=replica)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=20) as http:
            yield http, (await http.get("/openapi.json")).json()


def _operations(document: dict) -> list[tuple[str, str, dict]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _sample(parameter: dict) -> str:
    """A value of a path parameter that passes its own checks (so that the body is read)."""
    schema = parameter.get("schema", {})
    if "enum" in schema:  # the grant that reads a body, for /auth/v1/token
        return "password" if "password" in schema["enum"] else str(schema["enum"][0])
    if schema.get("type") == "integer":
        return str(schema.get("minimum", 1))
    return str(uuid.uuid4()) if parameter["name"].endswith("id") else "x"


def _refused(response: httpx.Response) -> bool:
    if response.status_code != 422:
        return False
    if response.headers.get("x-sb-error-code"):  # /auth/v1 answers in GoTrue's shape
        return response.headers["x-sb-error-code"] == "validation_failed" and "NUL" in response.text
    body = response.json()
    return body["code"] == "validation_error" and "NUL" in body["detail"]


async def test_nul_is_refused_by_every_operation_in_every_place(walker: tuple[httpx.AsyncClient, dict]) -> None:
    """Walk /openapi.json: every path parameter, query parameter and JSON body of every operation holding NUL is
    answered 422 (a problem's validation_error, or GoTrue's validation_failed on /auth/v1), never stored or a 500."""
    http, document = walker
    session = await signup_and_login(http, "walker@example.com")
    wrong: list[str] = []
    for method, path, operation in _operations(document):
        security = {name for requirement in operation.get("security", []) for name in requirement}
        headers = {"apikey": ANON_KEY, "Authorization": f"Bearer {session['access_token']}"}
        if "serviceKey" in security:
            headers["Authorization"] = f"Bearer {SERVICE_KEY}"
        parameters = operation.get("parameters", [])
        in_path = {p["name"]: _sample(p) for p in parameters if p["in"] == "path"}
        tries: list[tuple[str, str, bytes | None]] = []
        for name in in_path:
            tries.append((f"path {name}", path.format(**{**in_path, name: "a%00b"}), None))
        required = "&".join(f"{p['name']}={_sample(p)}" for p in parameters if p["in"] == "query" and p.get("required"))
        concrete = path.format(**in_path)
        for parameter in (p for p in parameters if p["in"] == "query"):
            tries.append((f"query {parameter['name']}", f"{concrete}?{parameter['name']}=a%00b", None))
        if "application/json" in operation.get("requestBody", {}).get("content", {}):
            tries.append(
                ("body", f"{concrete}?{required}", b'{"content": "a\\u0000b", "email": "x\\u0000@example.com"}')
            )
        for place, url, body in tries:
            sent = {**headers, "Content-Type": "application/json"} if body is not None else headers
            response = await http.request(method, url, content=body, headers=sent)
            if not _refused(response):
                wrong.append(f"{method} {path} ({place}): {response.status_code} {response.text[:200]}")
    assert not wrong, "\n".join(wrong)


async def test_nul_in_every_client_frame_is_invalid_frame_with_its_id(server: str, alice: dict) -> None:
    """Each client frame type, with NUL in each of its string fields, gets invalid_frame with the frame's id."""
    async with connect(server, alice["access_token"]) as tab:
        sent = 0
        for sample in CLIENT_SAMPLES:
            frame = {k: v[:100] if isinstance(v, str) else v for k, v in msgspec.to_builtins(sample).items()}
            for field, value in frame.items():
                if field in ("type", "id") or not isinstance(value, str):
                    continue
                frame_id = f"nul-{sent}"
                await tab.send({**frame, "id": frame_id, field: f"a{NUL}b"})
                error, _ = await tab.recv_until("error")
                assert (error["code"], error["id"]) == ("invalid_frame", frame_id), (frame["type"], field, error)
                sent += 1
        assert sent >= len(CLIENT_SAMPLES) - 2  # only ping and resume carry no string of their own
        await tab.send({"type": "ping", "id": "still-open"})
        assert (await tab.recv_until("pong"))[0]["id"] == "still-open"
