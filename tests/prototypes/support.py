"""Helpers for the prototype tests: run actions over REST and pick interaction records off a socket."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from ..conftest import bearer
from ..utils import WsClient


async def act(http: httpx.AsyncClient, login: dict, prototype: str, action: str, **params: Any) -> httpx.Response:
    """POST an action of a prototype as ``login``."""
    return await http.post(
        f"/api/prototype/{prototype}/actions", json={"action": action, "params": params}, headers=bearer(login)
    )


async def ok(http: httpx.AsyncClient, login: dict, prototype: str, action: str, **params: Any) -> dict[str, Any]:
    """Run an action that must succeed; return its ``result``."""
    response = await act(http, login, prototype, action, **params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["action"] == action and body["interaction_id"]
    return body["result"]


async def state(http: httpx.AsyncClient, login: dict, prototype: str) -> dict[str, Any]:
    response = await http.get(f"/api/prototype/{prototype}", headers=bearer(login))
    assert response.status_code == 200, response.text
    return response.json()["state"]


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert ``response`` is a problem document with this status and code; return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code, body
    return body


async def interaction_change(client: WsClient, prototype: str, interaction_type: str) -> dict[str, Any]:
    """The next ``change`` frame recording this interaction (other frames are skipped)."""
    while True:
        frame, _ = await client.recv_until("change")
        record = frame["record"]
        if (
            frame["table"] == "prototype_interactions"
            and frame["op"] == "INSERT"
            and record["prototype"] == prototype
            and record["interaction_type"] == interaction_type
        ):
            return frame


async def collect_events(
    client: WsClient, prototype: str, event: str, until: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """The ``data`` of this prototype's ``event`` frames, in order, up to the first that satisfies ``until``."""
    found: list[dict[str, Any]] = []
    while not found or not until(found[-1]):
        frame = await client.recv()
        if frame["type"] == "prototype.event" and frame["prototype"] == prototype and frame["event"] == event:
            found.append(frame["data"])
    return found
