"""Shared pieces of the ``/auth/v1`` tests: a hub on local auth with a known anon key, and GoTrue-style calls."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx

from server.config import Settings

ANON_KEY = "test-anon-key"
PASSWORD = "correct horse battery"
V2024 = {"X-Supabase-Api-Version": "2024-01-01"}
LOOPBACK = ("127.0.0.1/32",)
"""``TRUSTED_PROXIES`` that lets the tests' clients name other client addresses, as a proxy on this host would."""


def gotrue_settings(settings: Settings, **changes: Any) -> Settings:
    """Local auth with ``ANON_KEY``, reuse interval 0 (every reuse is detected) unless ``changes`` say otherwise."""
    return replace(settings, **{"anon_key": ANON_KEY, "refresh_token_reuse_interval": 0, **changes})


def gotrue_client(base_url: str, **kwargs: Any) -> httpx.AsyncClient:
    """An HTTP client of ``/auth/v1`` that sends what supabase-js sends."""
    headers = {"apikey": ANON_KEY, "X-Client-Info": "sensay-hub-tests", **V2024, **kwargs.pop("headers", {})}
    kwargs.setdefault("timeout", 20)
    return httpx.AsyncClient(base_url=f"{base_url}/auth/v1", headers=headers, **kwargs)


def bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['access_token']}"}


async def signup(auth: httpx.AsyncClient, email: str, password: str = PASSWORD, **data: Any) -> dict[str, Any]:
    """Sign up through ``/auth/v1/signup``; return the session it answers with."""
    response = await auth.post("/signup", json={"email": email, "password": password, "data": data})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def login(auth: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await auth.post("/token?grant_type=password", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def refresh(auth: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await auth.post("/token?grant_type=refresh_token", json={"refresh_token": refresh_token})
