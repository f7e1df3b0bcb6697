"""Request ids on every HTTP answer, including a 500, which also keeps its keep-alive connection."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server import logs
from server.api.middleware import HttpMetrics, RequestContext
from server.api.problems import exception_handlers

from ..utils import run_server


async def test_a_sane_request_id_is_echoed(http: httpx.AsyncClient) -> None:
    """The caller's X-Request-ID comes back unchanged, on success and on a problem answer."""
    assert (await http.get("/healthz", headers={"X-Request-ID": "trace-1.a:b"})).headers[
        "x-request-id"
    ] == "trace-1.a:b"
    missing = await http.get("/api/auth/me", headers={"X-Request-ID": "trace-2"})
    assert missing.status_code == 401 and missing.headers["x-request-id"] == "trace-2"


@pytest.mark.parametrize("sent", [None, "", "has spaces", "x" * 129, "new\\nline"])
async def test_a_missing_or_odd_request_id_is_replaced_by_a_fresh_one(
    http: httpx.AsyncClient, sent: str | None
) -> None:
    """Without a usable X-Request-ID the server sets a new 32-hex id (never echoing junk into logs)."""
    headers = {} if sent is None else {"X-Request-ID": sent}
    rid = (await http.get("/healthz", headers=headers)).headers["x-request-id"]
    assert len(rid) == 32 and int(rid, 16) >= 0 and rid != sent


async def _boom(request: Request) -> Response:
    raise RuntimeError("boom")


async def test_a_500_has_a_request_id_a_log_line_with_it_and_keeps_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unexpected error answers 500 with the request id, logs once with that id, and the socket stays usable."""
    app = Starlette(routes=[Route("/boom", _boom)], exception_handlers=exception_handlers)  # type: ignore[arg-type]
    wrapped = RequestContext(HttpMetrics(app, app.routes))
    async with run_server(wrapped, http="h11") as url:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        caplog.handler.addFilter(logs.ContextFilter())  # what the configured handler does
        try:
            with caplog.at_level(logging.ERROR, logger="server"):
                for rid in ("first", "second"):  # the same connection answers twice
                    writer.write(f"GET /boom HTTP/1.1\r\nHost: x\r\nX-Request-ID: {rid}\r\n\r\n".encode())
                    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode().lower()
                    assert head.startswith("http/1.1 500") and f"x-request-id: {rid}" in head
                    length = int(head.split("content-length: ")[1].split("\r\n")[0])
                    await reader.readexactly(length)
        finally:
            writer.close()
    failures = [r for r in caplog.records if r.exc_info and "boom" in str(r.exc_info[1])]
    assert [getattr(r, "request_id", None) for r in failures] == ["first", "second"]
