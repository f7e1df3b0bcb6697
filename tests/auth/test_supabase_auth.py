"""SupabaseIdentity against the GoTrue peer over real HTTP, with our users table in a real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from server.auth.errors import (
    AuthUnavailable,
    EmailTaken,
    InvalidCredentials,
    InvalidToken,
    SessionRevoked,
    SignupRejected,
)
from server.auth.supabase import RevokedSessions, SupabaseIdentity
from server.auth.tokens import Principal
from server.store import users

from ..utils import run_server
from .gotrue_peer import GoTruePeer

PASSWORD = "correct horse battery"


@asynccontextmanager
async def serving(peer: GoTruePeer, pool: asyncpg.Pool, **options: Any) -> AsyncIterator[SupabaseIdentity]:
    """A SupabaseIdentity talking to ``peer`` served on a free port."""
    async with run_server(peer.app) as url:
        options.setdefault("jwt_secret", peer.hs256_secret)
        identity = SupabaseIdentity(pool, url=url, anon_key=peer.anon_key, issuer=f"{url}/auth/v1", **options)
        try:
            yield identity
        finally:
            await identity.aclose()


@pytest.fixture
def peer() -> GoTruePeer:
    return GoTruePeer()


@pytest.fixture
async def identity(peer: GoTruePeer, pool: asyncpg.Pool) -> AsyncIterator[SupabaseIdentity]:
    async with serving(peer, pool) as identity:
        yield identity


async def password_hash_of(pool: asyncpg.Pool, user_id: uuid.UUID) -> str | None:
    return await pool.fetchval("SELECT password_hash FROM users WHERE id = $1", user_id)


async def test_signup_login_refresh_logout(identity: SupabaseIdentity, peer: GoTruePeer, pool: asyncpg.Pool) -> None:
    """The whole life of a session: sign-up, login, use, refresh, logout, and refusal afterwards."""
    user = await identity.signup("Alice@Example.com", PASSWORD)
    peer_user = peer.users["alice@example.com"]
    assert (str(user.id), user.email) == (peer_user.id, "alice@example.com")
    assert await users.get_user(pool, user.id) == user
    assert await password_hash_of(pool, user.id) is None
    assert peer.live_sessions(peer_user.id) == []  # the sign-up's own session was ended

    pair = await identity.login("alice@example.com", PASSWORD)
    assert pair.user == user and pair.token_type == "bearer"
    assert pair.expires_in == peer.access_ttl and abs(pair.expires_at - time.time() - peer.access_ttl) < 5
    assert jwt.get_unverified_header(pair.access_token)["alg"] == "ES256"
    principal = await identity.authenticate(pair.access_token)
    assert (principal.user_id, principal.email, principal.role) == (user.id, user.email, "authenticated")
    assert await identity.get_user(principal) == user

    refreshed = await identity.refresh(pair.refresh_token)
    assert refreshed.refresh_token != pair.refresh_token
    again = await identity.authenticate(refreshed.access_token)
    assert again.session_id == principal.session_id
    with pytest.raises(InvalidToken):
        await identity.refresh(pair.refresh_token)  # refresh tokens are single-use

    await identity.logout(again)
    assert peer.live_sessions(peer_user.id) == []
    for token in (pair.access_token, refreshed.access_token):  # still unexpired, yet refused at once
        with pytest.raises(SessionRevoked):
            await identity.authenticate(token)
    with pytest.raises(InvalidToken):
        await identity.refresh(refreshed.refresh_token)


async def test_logout_ends_only_that_session(identity: SupabaseIdentity, peer: GoTruePeer) -> None:
    """Logging out one device leaves the user's other sessions alive, here and at Supabase."""
    await identity.signup("alice@example.com", PASSWORD)
    phone = await identity.login("alice@example.com", PASSWORD)
    laptop = await identity.login("alice@example.com", PASSWORD)
    await identity.logout(await identity.authenticate(phone.access_token))
    await identity.authenticate(laptop.access_token)
    await identity.refresh(laptop.refresh_token)
    assert len(peer.live_sessions(peer.users["alice@example.com"].id)) == 1


async def test_duplicate_signup(identity: SupabaseIdentity) -> None:
    """Signing up twice with one email (in any case) is EmailTaken."""
    await identity.signup("alice@example.com", PASSWORD)
    with pytest.raises(EmailTaken):
        await identity.signup("ALICE@example.com", PASSWORD)


@pytest.mark.parametrize("options", [{"legacy_errors": True}, {"confirm_email": True}], ids=["legacy", "confirm"])
async def test_duplicate_signup_other_servers(pool: asyncpg.Pool, options: dict[str, Any]) -> None:
    """EmailTaken also with pre-2024 error bodies, and with the fake user GoTrue answers when confirmation is on."""
    peer = GoTruePeer(**options)
    async with serving(peer, pool) as identity:
        await identity.signup("alice@example.com", PASSWORD)
        with pytest.raises(EmailTaken):
            await identity.signup("alice@example.com", PASSWORD)
        assert await pool.fetchval("SELECT count(*) FROM users") == 1  # the fake user never lands in our table


async def test_wrong_password(identity: SupabaseIdentity) -> None:
    """A wrong password and an unknown email are both InvalidCredentials, with one message."""
    await identity.signup("alice@example.com", PASSWORD)
    with pytest.raises(InvalidCredentials) as wrong:
        await identity.login("alice@example.com", "not the password")
    with pytest.raises(InvalidCredentials) as unknown:
        await identity.login("nobody@example.com", PASSWORD)
    assert str(wrong.value) == str(unknown.value)


async def test_unconfirmed_email(pool: asyncpg.Pool) -> None:
    """With confirmation on, sign-up stores the user but login waits for the confirmation."""
    peer = GoTruePeer(confirm_email=True)
    async with serving(peer, pool) as identity:
        user = await identity.signup("alice@example.com", PASSWORD)
        assert await users.get_user(pool, user.id) is not None
        with pytest.raises(InvalidCredentials, match="not confirmed"):
            await identity.login("alice@example.com", PASSWORD)
        peer.confirm("alice@example.com")
        assert (await identity.login("alice@example.com", PASSWORD)).user.id == user.id


async def test_weak_password_rejected(identity: SupabaseIdentity) -> None:
    """GoTrue's own password rules surface as SignupRejected with its message."""
    with pytest.raises(SignupRejected, match="at least 6"):
        await identity.signup("alice@example.com", "short")


async def test_bad_refresh_token(identity: SupabaseIdentity) -> None:
    """An unknown refresh token is InvalidToken."""
    with pytest.raises(InvalidToken):
        await identity.refresh("no-such-token")


async def test_refresh_of_session_logged_out_here(identity: SupabaseIdentity) -> None:
    """If Supabase missed our logout, the session's refresh token still can't revive it through us."""
    await identity.signup("alice@example.com", PASSWORD)
    pair = await identity.login("alice@example.com", PASSWORD)
    principal = await identity.authenticate(pair.access_token)
    assert principal.session_id is not None
    identity.revoked.add(principal.session_id, principal.expires_at)  # as logout does, minus the upstream call
    with pytest.raises(InvalidToken):
        await identity.refresh(pair.refresh_token)


async def test_key_rotation_picked_up(identity: SupabaseIdentity, peer: GoTruePeer) -> None:
    """After the project rotates its signing key, new tokens (new kid) verify and old ones still do."""
    await identity.signup("alice@example.com", PASSWORD)
    before = await identity.login("alice@example.com", PASSWORD)
    await identity.authenticate(before.access_token)
    new_kid = peer.rotate_key()
    identity.jwks.min_refresh_interval = 0  # the test can't wait out the production rate limit
    after = await identity.login("alice@example.com", PASSWORD)
    assert jwt.get_unverified_header(after.access_token)["kid"] == new_kid
    await identity.authenticate(after.access_token)
    await identity.authenticate(before.access_token)
    assert peer.calls["GET jwks"] == 2


async def test_rotation_respects_rate_limit(identity: SupabaseIdentity, peer: GoTruePeer) -> None:
    """Within the refresh interval a new kid is refused rather than fetched again; afterwards it is picked up."""
    await identity.signup("alice@example.com", PASSWORD)
    await identity.authenticate((await identity.login("alice@example.com", PASSWORD)).access_token)
    await identity.jwks.refresh()  # the cache just fetched: the next unknown kid falls inside the interval
    peer.rotate_key()
    after = await identity.login("alice@example.com", PASSWORD)
    with pytest.raises(InvalidToken):
        await identity.authenticate(after.access_token)
    identity.jwks.min_refresh_interval = 0
    await identity.authenticate(after.access_token)


async def test_hs256_project(pool: asyncpg.Pool) -> None:
    """A project on the legacy JWT secret: tokens verify with SUPABASE_JWT_SECRET, and not without it."""
    peer = GoTruePeer(mode="HS256")
    async with serving(peer, pool) as identity:
        await identity.signup("alice@example.com", PASSWORD)
        pair = await identity.login("alice@example.com", PASSWORD)
        assert jwt.get_unverified_header(pair.access_token)["alg"] == "HS256"
        assert (await identity.authenticate(pair.access_token)).email == "alice@example.com"
    async with serving(peer, pool, jwt_secret=None) as identity:
        with pytest.raises(InvalidToken):
            await identity.authenticate(pair.access_token)


async def test_first_seen_user_upserted(identity: SupabaseIdentity, peer: GoTruePeer, pool: asyncpg.Pool) -> None:
    """A user who signed up straight at Supabase gets their row on their first authenticated request."""
    peer_user = peer.add_user("bob@example.com", PASSWORD)
    async with httpx.AsyncClient(base_url=identity.auth_url, headers={"apikey": peer.anon_key}) as http:
        response = await http.post(
            "/token?grant_type=password", json={"email": "bob@example.com", "password": PASSWORD}
        )
    token = response.json()["access_token"]
    assert await users.get_user(pool, uuid.UUID(peer_user.id)) is None
    principal = await identity.authenticate(token)
    row = await users.get_user(pool, principal.user_id)
    assert row is not None and row.email == "bob@example.com"
    await identity.authenticate(token)  # known now: no second write needed, and none fails
    assert await pool.fetchval("SELECT count(*) FROM users") == 1


async def test_email_held_by_local_account(identity: SupabaseIdentity, pool: asyncpg.Pool) -> None:
    """An email already owned by another row of ours (e.g. a local-backend user) is EmailTaken."""
    await users.create_user(pool, "alice@example.com", "argon2-hash")
    with pytest.raises(EmailTaken):
        await identity.signup("alice@example.com", PASSWORD)


async def test_concurrent_logins_stay_apart(identity: SupabaseIdentity) -> None:
    """Many users logging in at once each get their own session: no client state is shared."""
    emails = [f"user{i}@example.com" for i in range(8)]
    await asyncio.gather(*(identity.signup(email, PASSWORD) for email in emails))
    pairs = await asyncio.gather(*(identity.login(email, PASSWORD) for email in emails))
    principals = await asyncio.gather(*(identity.authenticate(pair.access_token) for pair in pairs))
    assert [p.email for p in principals] == emails
    assert [pair.user.email for pair in pairs] == emails
    assert len({p.session_id for p in principals}) == len(emails)


async def test_get_user_sees_upstream_logout(identity: SupabaseIdentity, peer: GoTruePeer) -> None:
    """get_user asks Supabase, so a session ended elsewhere shows up there even while the JWT is valid."""
    await identity.signup("alice@example.com", PASSWORD)
    principal = await identity.authenticate((await identity.login("alice@example.com", PASSWORD)).access_token)
    for session in peer.sessions.values():
        session.revoked = True
    with pytest.raises(SessionRevoked):
        await identity.get_user(principal)


async def test_anonymous_user_refused(identity: SupabaseIdentity, peer: GoTruePeer) -> None:
    """A verified token without an email (anonymous or phone sign-in) is refused: our users table needs one."""
    now = int(time.time())
    claims = {
        "sub": str(uuid.uuid4()),
        "aud": "authenticated",
        "role": "authenticated",
        "email": "",
        "is_anonymous": True,
        "session_id": str(uuid.uuid4()),
        "iss": f"{identity.auth_url}",
        "iat": now,
        "exp": now + 60,
    }
    with pytest.raises(InvalidToken, match="no email"):
        await identity.authenticate(peer.signing_key.sign(claims))


async def test_wrong_api_key(peer: GoTruePeer, pool: asyncpg.Pool) -> None:
    """A key the gateway refuses is a configuration fault (AuthUnavailable), not the user's bad password."""
    async with run_server(peer.app) as url:
        identity = SupabaseIdentity(pool, url=url, anon_key="wrong-key")
        try:
            with pytest.raises(AuthUnavailable):
                await identity.login("alice@example.com", PASSWORD)
        finally:
            await identity.aclose()


async def test_gotrue_unreachable(pool: asyncpg.Pool) -> None:
    """With Supabase down: login and refresh are AuthUnavailable; logout still ends the session here."""
    async with run_server(GoTruePeer().app) as url:
        pass  # the port is free again: nothing listens there now
    identity = SupabaseIdentity(pool, url=url, anon_key="key", jwt_secret="s" * 32)
    try:
        with pytest.raises(AuthUnavailable):
            await identity.login("alice@example.com", PASSWORD)
        with pytest.raises(AuthUnavailable):
            await identity.refresh("token")
        session_id = uuid.uuid4()
        principal = Principal(uuid.uuid4(), "a@example.com", "authenticated", session_id, int(time.time()) + 60, "t")
        await identity.logout(principal)
        assert session_id in identity.revoked
    finally:
        await identity.aclose()


def test_revoked_sessions_expire_and_stay_bounded() -> None:
    """Revocations last until the token's exp, and the oldest-expiring go first when the set is full."""
    now = [1000.0]
    revoked = RevokedSessions(capacity=3, clock=lambda: now[0])
    ids = [uuid.uuid4() for _ in range(5)]
    revoked.add(ids[0], 1100)
    revoked.add(ids[1], 1050)
    revoked.add(ids[2], 1200)
    revoked.add(ids[3], 900)  # already expired: nothing to remember
    assert ids[3] not in revoked and len(revoked) == 3
    revoked.add(ids[4], 1300)  # full: ids[1] (expiring soonest) makes room
    assert [i in revoked for i in ids] == [True, False, True, False, True]
    revoked.add(ids[0], 1250)  # a later token of the same session extends it
    now[0] = 1150
    assert [i in revoked for i in ids] == [True, False, True, False, True]
    now[0] = 1260
    assert [i in revoked for i in ids] == [False, False, False, False, True]
    assert len(revoked) == 1
