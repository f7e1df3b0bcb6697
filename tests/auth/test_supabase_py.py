"""supabase-py's own auth client (supabase 2.34) against a real running hub on zero-config local auth."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from supabase import AsyncClient, AsyncClientOptions, acreate_client
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

from server.app import create_app
from server.config import Settings
from server.sensay.local import LocalReplica

from ..utils import connect, run_server
from .gotrue_support import ANON_KEY, PASSWORD, gotrue_settings


@pytest.fixture
async def hub(settings: Settings, replica: LocalReplica) -> AsyncIterator[str]:
    async with run_server(create_app(gotrue_settings(settings), replica=replica)) as url:
        yield url


@pytest.fixture
async def client(hub: str) -> AsyncIterator[Callable[..., Awaitable[AsyncClient]]]:
    """Makes supabase-py clients of the hub (each its own session store); closes their connections afterwards."""
    opened: list[httpx.AsyncClient] = []

    async def make(key: str = ANON_KEY) -> AsyncClient:
        opened.append(httpx.AsyncClient(timeout=20))
        options = AsyncClientOptions(auto_refresh_token=False, persist_session=True, httpx_client=opened[-1])
        return await acreate_client(hub, key, options)

    yield make
    for http in opened:
        await http.aclose()


async def test_the_whole_journey_with_supabase_py(hub: str, client: Callable[..., Awaitable[AsyncClient]]) -> None:
    """Sign up, sign in, get and update the user, refresh, sign out; its tokens open /ws and call /api/tasks."""
    supabase = await client()
    signed_up = await supabase.auth.sign_up(
        {"email": "py@example.com", "password": PASSWORD, "options": {"data": {"name": "Ada"}}}
    )
    assert signed_up.user is not None and signed_up.user.email == "py@example.com"
    assert signed_up.user.user_metadata == {"name": "Ada"} and signed_up.user.identities
    assert signed_up.session is not None, "the hub confirms at sign-up, so a session comes back at once"

    signed_in = await supabase.auth.sign_in_with_password({"email": "py@example.com", "password": PASSWORD})
    session = signed_in.session
    assert session is not None and session.expires_at is not None and session.token_type == "bearer"
    me = await supabase.auth.get_user()
    assert me is not None and me.user.id == signed_up.user.id

    updated = await supabase.auth.update_user({"data": {"name": None, "lang": "en"}})
    assert updated.user.user_metadata == {"lang": "en"}
    await supabase.auth.update_user({"password": "a brand new passphrase"})
    with pytest.raises(AuthApiError) as wrong:
        await (await client()).auth.sign_in_with_password({"email": "py@example.com", "password": PASSWORD})
    assert wrong.value.code == "invalid_credentials" and wrong.value.status == 400

    refreshed = await supabase.auth.refresh_session()
    assert refreshed.session is not None
    assert refreshed.session.refresh_token != session.refresh_token
    token = refreshed.session.access_token

    async with httpx.AsyncClient(base_url=hub) as http:
        auth = {"Authorization": f"Bearer {token}"}
        task = await http.post("/api/tasks", json={"description": "from supabase-py"}, headers=auth)
        assert task.status_code == 201
        async with connect(hub, token) as tab:
            await supabase.auth.sign_out()
            assert await tab.close_code() == 4003
        assert (await http.get("/api/tasks", headers=auth)).status_code == 401
    with pytest.raises(AuthApiError) as gone:
        await supabase.auth.get_user(token)
    assert gone.value.code == "session_not_found" and gone.value.status == 403


async def test_reuse_of_an_old_refresh_token_ends_the_session(client: Callable[..., Awaitable[AsyncClient]]) -> None:
    """A refresh token used again after the next two refreshes revokes its session (the whole token family)."""
    supabase = await client()
    first = (await supabase.auth.sign_up({"email": "reuse@example.com", "password": PASSWORD})).session
    assert first is not None
    second = (await supabase.auth.refresh_session()).session
    third = (await supabase.auth.refresh_session()).session
    assert second is not None and third is not None
    thief = await client()
    with pytest.raises(AuthApiError) as reused:
        await thief.auth.refresh_session(first.refresh_token)
    assert reused.value.code == "refresh_token_already_used"
    with pytest.raises(AuthApiError) as dead:
        await thief.auth.refresh_session(third.refresh_token)
    assert dead.value.code == "refresh_token_not_found"
    with pytest.raises(AuthApiError) as gone:
        await supabase.auth.get_user(third.access_token)
    assert gone.value.code == "session_not_found"


async def test_errors_carry_gotrue_codes(client: Callable[..., Awaitable[AsyncClient]]) -> None:
    """Duplicate sign-up, weak password and a wrong API key reach supabase-py as the errors it knows."""
    supabase = await client()
    await supabase.auth.sign_up({"email": "dup@example.com", "password": PASSWORD})
    with pytest.raises(AuthApiError) as taken:
        await (await client()).auth.sign_up({"email": "DUP@example.com", "password": PASSWORD})
    assert taken.value.code == "user_already_exists" and taken.value.status == 422
    with pytest.raises(AuthWeakPasswordError) as weak:
        await (await client()).auth.sign_up({"email": "weak@example.com", "password": "short"})
    assert weak.value.reasons == ["length"]
    with pytest.raises(AuthApiError) as refused:
        await (await client(key="not-the-key")).auth.sign_in_with_password(
            {"email": "dup@example.com", "password": PASSWORD}
        )
    assert refused.value.status == 401 and "Invalid API key" in refused.value.message
