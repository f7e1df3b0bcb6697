"""Logs: tokens never appear, one JSON object per line, and lines carry the request or socket they belong to."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from server import logs

from .conftest import TEST_JWT_SECRET
from .databases import DatabaseFactory
from .test_cli import serving
from .utils import ws_url

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Undo :func:`logs.configure` after the test: its handlers hold pytest's captured stderr."""
    names = ["", "server", "protocol", "uvicorn", "uvicorn.error", "uvicorn.access"]
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level) for name in names}
    propagate = {name: logging.getLogger(name).propagate for name in names}
    yield
    for name, (handlers, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate[name]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f'"WebSocket /ws?access_token={JWT}" 101', '"WebSocket /ws?access_token=[redacted]" 101'),
        (f"GET /ws?a=1&access_token={JWT}&b=2", "GET /ws?a=1&access_token=[redacted]&b=2"),
        ("refresh_token=opaque-refresh-value done", "refresh_token=[redacted] done"),
        (f"offered ['sensay-hub.v1', 'access_token.{JWT}']", "offered ['sensay-hub.v1', 'access_token.[redacted]']"),
        ("authorization: Bearer some-opaque-key", "authorization: Bearer [redacted]"),
        (f"a bare token {JWT} in text", "a bare token [redacted] in text"),
        (
            '{"message": "\\"WebSocket /ws?access_token=abc\\" [accepted]"}',
            '{"message": "\\"WebSocket /ws?access_token=[redacted]\\" [accepted]"}',
        ),
        ("nothing secret here: user 42 said hi", "nothing secret here: user 42 said hi"),
    ],
)
def test_redact_removes_every_token_shape(line: str, expected: str) -> None:
    """Query-string tokens, the token subprotocol, bearer headers and bare JWTs are all replaced."""
    assert logs.redact(line) == expected


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_carry_the_context_and_no_token(capsys: pytest.CaptureFixture[str]) -> None:
    """With the JSON format each record is one object with level, logger, message, time and the bound context."""
    logs.configure("info", "json")
    with logs.bound(connection_id="c0ffee", user_id="u-1"):
        logging.getLogger("uvicorn.access").info(
            '%s - "GET %s HTTP/1.1" %d', "127.0.0.1", f"/x?access_token={JWT}", 200
        )
    logging.getLogger("server.test").warning("outside any context")
    lines = capsys.readouterr().err.splitlines()
    first, second = (json.loads(line) for line in lines[-2:])
    assert first["logger"] == "uvicorn.access" and first["level"] == "INFO"
    assert first["connection_id"] == "c0ffee" and first["user_id"] == "u-1"
    assert "access_token=[redacted]" in first["message"] and JWT not in lines[-2]
    assert first["time"].endswith("+00:00")
    assert "connection_id" not in second and second["message"] == "outside any context"


@pytest.mark.usefixtures("restore_logging")
def test_text_lines_append_the_context_before_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    """The text format puts ``[request_id=…]`` at the end of the message line, above any traceback."""
    logs.configure("info", "text")
    with logs.bound(request_id="req-7"):
        try:
            raise ValueError(f"bad {JWT}")
        except ValueError:
            logging.getLogger("server.test").exception("failed")
    err = capsys.readouterr().err
    assert "ERROR server.test: failed [request_id=req-7]\nTraceback" in err
    assert JWT not in err and "ValueError: bad [redacted]" in err


async def test_served_logs_are_json_lines_with_context_and_never_a_token(
    tmp_path: Path, databases: DatabaseFactory
) -> None:
    """A real `serve` with the access log on: every way of passing a token is used, and none reaches the log."""
    env = {
        "DATABASE_URL": await databases.migrated(),
        "JWT_SECRET": TEST_JWT_SECRET,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "debug",
    }
    with serving(tmp_path, **env) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            credentials = {"email": "logged@example.com", "password": "correct horse battery"}
            assert (await http.post("/api/auth/signup", json=credentials)).status_code == 201
            login = (await http.post("/api/auth/login", json=credentials)).json()
            token, refresh = login["access_token"], login["refresh_token"]
            me = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-42"})
            assert me.status_code == 200 and me.headers["x-request-id"] == "req-42"
            assert (await http.get(f"/healthz?access_token={token}")).status_code == 200
            assert (await http.post("/api/auth/refresh", json={"refresh_token": refresh})).status_code == 200
        url = ws_url(server.base_url)
        async with websockets.connect(f"{url}?access_token={token}") as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
        async with websockets.connect(url, subprotocols=["sensay-hub.v1", f"access_token.{token}"]) as ws:  # type: ignore[list-item]
            assert json.loads(await ws.recv())["type"] == "hello"
        async with websockets.connect(f"{url}?access_token={token[:-4]}AAAA") as ws:
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
        server.stop()

    output = server.output()
    for secret in (token, refresh, token.split(".")[2], token[:-4] + "AAAA"):
        assert secret not in output
    records = [json.loads(line) for line in output.splitlines() if line.strip()]  # every line is one object
    assert any("access_token=[redacted]" in r["message"] and r["logger"].startswith("uvicorn") for r in records)
    assert any(r.get("request_id") == "req-42" and r["logger"] == "uvicorn.access" for r in records)
    socket_lines = [r for r in records if r["message"] == "socket authenticated"]
    assert len(socket_lines) == 2
    assert all(r["user_id"] == login["user"]["id"] and len(r["connection_id"]) == 32 for r in socket_lines)
    assert len({r["connection_id"] for r in socket_lines}) == 2
    startup = next(r for r in records if "serving http://" in r["message"])
    assert startup["backends"]["database"].startswith("PostgreSQL at ")


def test_a_value_marked_public_is_never_redacted() -> None:
    """The anon key (a JWT browsers hold) stays readable; other tokens in the same line do not."""
    anon = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.YW5vbi1zaWduYXR1cmU"
    logs.mark_public(anon)
    assert logs.redact(f"anon key {anon}, user token {JWT}") == f"anon key {anon}, user token [redacted]"
