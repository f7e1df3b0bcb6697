"""``/auth/v1`` over raw HTTP: GoTrue's bodies, status codes and error shapes, the apikey, and shared sessions."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import jwt
import pytest

from server.app import create_app
from server.config import Settings
from server.sensay.local import LocalReplica

from ..utils import connect, run_server
from .gotrue_support import ANON_KEY, PASSWORD, V2024, bearer, gotrue_client, gotrue_settings, login, signup


@pytest.fixture
async def hub(settings: Settings, replica: LocalReplica) -> AsyncIterator[str]:
    async with run_server(create_app(gotrue_settings(settings), replica=replica)) as url:
        yield url


@pytest.fixture
async def auth(hub: str) -> AsyncIterator[httpx.AsyncClient]:
    async with gotrue_client(hub) as client:
        yield client


async def test_apikey_is_required_like_supabases_gateway(hub: str) -> None:
    """No key or a wrong one gets the gateway's 401; the key works as header or query; the JWKS is open."""
    async with httpx.AsyncClient(base_url=f"{hub}/auth/v1") as raw:
        missing = await raw.get("/settings")
        assert missing.status_code == 401 and missing.json()["message"] == "No API key found in request"
        wrong = await raw.get("/settings", headers={"apikey": "nope"})
        assert wrong.status_code == 401 and wrong.json()["message"] == "Invalid API key"
        assert (await raw.get("/settings", params={"apikey": ANON_KEY})).status_code == 200
        assert (await raw.get("/.well-known/jwks.json")).json() == {"keys": []}  # HS256: no public key to show


async def test_errors_take_the_shape_the_client_asked_for(hub: str) -> None:
    """With X-Supabase-Api-Version the error is {code, message} and the version is echoed; without, the old shape."""
    body = {"email": "nobody@example.com", "password": "wrong password"}
    async with gotrue_client(hub) as new, gotrue_client(hub, headers={"X-Supabase-Api-Version": ""}) as old:
        current = await new.post("/token?grant_type=password", json=body)
        legacy = await old.post("/token?grant_type=password", json=body)
    assert current.status_code == legacy.status_code == 400
    assert current.json() == {"code": "invalid_credentials", "message": "Invalid login credentials"}
    assert current.headers["x-supabase-api-version"] == "2024-01-01"
    assert legacy.json() == {"code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials"}
    assert "x-supabase-api-version" not in legacy.headers
    assert current.headers["x-sb-error-code"] == legacy.headers["x-sb-error-code"] == "invalid_credentials"


async def test_signup_logs_in_and_shows_a_gotrue_user(auth: httpx.AsyncClient) -> None:
    """Sign-up answers a session whose user has GoTrue's fields, lower-cased email and the given metadata."""
    session = await signup(auth, "New@Example.com", name="Ada")
    assert session["token_type"] == "bearer" and session["expires_in"] == 3600 and session["expires_at"] > 0
    user = session["user"]
    assert user["email"] == "new@example.com" and user["aud"] == "authenticated" and user["role"] == "authenticated"
    assert user["user_metadata"] == {"name": "Ada"}
    assert user["app_metadata"] == {"provider": "email", "providers": ["email"]}
    assert user["email_confirmed_at"] and user["last_sign_in_at"] and user["is_anonymous"] is False
    assert [i["provider"] for i in user["identities"]] == ["email"]
    claims = jwt.decode(session["access_token"], options={"verify_signature": False})
    assert claims["sub"] == user["id"] and claims["session_id"] and claims["user_metadata"] == {"name": "Ada"}
    assert claims["aal"] == "aal1" and claims["amr"][0]["method"] == "password"
    me = await auth.get("/user", headers=bearer(session))
    assert me.status_code == 200 and me.json()["id"] == user["id"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"email": "dup@example.com", "password": PASSWORD}, 422, "user_already_exists"),
        ({"email": "weak@example.com", "password": "short"}, 422, "weak_password"),
        ({"email": "not-an-email", "password": PASSWORD}, 400, "validation_failed"),
        ({"email": "", "password": PASSWORD}, 400, "validation_failed"),
        ({"email": "nopw@example.com"}, 400, "validation_failed"),
        ({"phone": "+15550100", "password": PASSWORD}, 400, "phone_provider_disabled"),
        ({"data": {}}, 422, "anonymous_provider_disabled"),
        ({"email": 5, "password": PASSWORD}, 400, "bad_json"),
        ({"email": "big@example.com", "password": "p" * 70_000}, 413, "request_entity_too_large"),
    ],
    ids=["taken", "weak", "bad-email", "no-email", "no-password", "phone", "anonymous", "bad-json", "too-large"],
)
async def test_bad_signups_answer_gotrues_codes(auth: httpx.AsyncClient, body: dict, status: int, code: str) -> None:
    """Each refused sign-up has GoTrue's status and code, and stores nothing."""
    await signup(auth, "dup@example.com")
    response = await auth.post("/signup", json=body)
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    if code == "weak_password":
        assert response.json()["weak_password"] == {"message": response.json()["message"], "reasons": ["length"]}


async def test_login_refusals(auth: httpx.AsyncClient) -> None:
    """Wrong password and unknown email look alike; phone and missing fields get GoTrue's own answers."""
    await signup(auth, "alice@example.com")
    cases = [
        ({"email": "alice@example.com", "password": "wrong password"}, 400, "invalid_credentials"),
        ({"email": "nobody@example.com", "password": "wrong password"}, 400, "invalid_credentials"),
        ({"phone": "+15550100", "password": PASSWORD}, 422, "phone_provider_disabled"),
        ({"password": PASSWORD}, 400, "validation_failed"),
    ]
    for body, status, code in cases:
        response = await auth.post("/token?grant_type=password", json=body)
        assert (response.status_code, response.json()["code"]) == (status, code), body


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("POST", "/otp", 400, "otp_disabled"),
        ("POST", "/magiclink", 400, "otp_disabled"),
        ("POST", "/recover", 400, "otp_disabled"),
        ("POST", "/resend", 400, "otp_disabled"),
        ("POST", "/factors", 400, "mfa_totp_enroll_not_enabled"),
        ("POST", "/sso", 400, "sso_provider_not_found"),
        ("GET", "/admin/users", 404, "feature_disabled"),
        ("GET", "/something/else", 404, "feature_disabled"),
        ("POST", "/token?grant_type=pkce", 404, "flow_state_not_found"),
        ("POST", "/token?grant_type=id_token", 400, "provider_disabled"),
        ("POST", "/token?grant_type=magic", 400, "invalid_credentials"),
    ],
)
async def test_what_is_not_supported_says_so(
    auth: httpx.AsyncClient, method: str, path: str, status: int, code: str
) -> None:
    """OAuth, magic links, OTP, MFA, SSO, admin and other grants answer a GoTrue error that names the limit."""
    response = await auth.request(method, path, json={})
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert response.json()["message"]


async def test_settings_and_health(auth: httpx.AsyncClient) -> None:
    """Settings say email sign-up is on, auto-confirmed, and nothing else; health answers GoTrue's fields."""
    settings = (await auth.get("/settings")).json()
    assert settings["external"]["email"] is True and settings["mailer_autoconfirm"] is True
    assert not any(on for name, on in settings["external"].items() if name != "email")
    assert set((await auth.get("/health")).json()) == {"version", "name", "description"}


async def test_user_requires_a_live_session(auth: httpx.AsyncClient) -> None:
    """No token, a bad token and a logged-out session get GoTrue's 401 / 403 answers."""
    session = await signup(auth, "alice@example.com")
    assert (await auth.get("/user")).json()["code"] == "no_authorization"
    bad = await auth.get("/user", headers={"Authorization": "Bearer not.a.jwt"})
    assert (bad.status_code, bad.json()["code"]) == (403, "bad_jwt")
    assert (await auth.post("/logout?scope=local", headers=bearer(session))).status_code == 204
    gone = await auth.get("/user", headers=bearer(session))
    assert (gone.status_code, gone.json()["code"]) == (403, "session_not_found")
    scope = await auth.post("/logout?scope=everywhere", headers=bearer(await login(auth, "alice@example.com")))
    assert (scope.status_code, scope.json()["code"]) == (400, "validation_failed")


@pytest.mark.parametrize(
    ("scope", "ended"), [("local", {"a"}), ("others", {"b", "c"}), ("global", {"a", "b", "c"}), (None, {"a", "b", "c"})]
)
async def test_logout_scopes_close_exactly_those_sockets(
    hub: str, auth: httpx.AsyncClient, scope: str | None, ended: set[str]
) -> None:
    """local ends this session, others every other one, global (the default) all: their sockets close with 4003."""
    await signup(auth, "alice@example.com")
    sessions = {name: await login(auth, "alice@example.com") for name in "abc"}
    query = f"?scope={scope}" if scope else ""
    async with connect(hub, sessions["a"]["access_token"]) as a, connect(hub, sessions["b"]["access_token"]) as b:
        async with connect(hub, sessions["c"]["access_token"]) as c:
            assert (await auth.post(f"/logout{query}", headers=bearer(sessions["a"]))).status_code == 204
            for name, tab in {"a": a, "b": b, "c": c}.items():
                if name in ended:
                    assert await tab.close_code() == 4003, name
                else:
                    await tab.send({"type": "ping", "id": name})
                    assert (await tab.recv())["type"] == "pong"
    for name, session in sessions.items():
        status = (await auth.get("/user", headers=bearer(session))).status_code
        assert status == (403 if name in ended else 200), name


async def test_update_user(hub: str, auth: httpx.AsyncClient) -> None:
    """data merges (null removes a key); a new password ends the other sessions; same, weak or email change refused."""
    here = await signup(auth, "alice@example.com", name="Ada", city="London")
    elsewhere = await login(auth, "alice@example.com")
    merged = await auth.put("/user", json={"data": {"city": None, "lang": "en"}}, headers=bearer(here))
    assert merged.status_code == 200 and merged.json()["user_metadata"] == {"name": "Ada", "lang": "en"}
    for body, code in [
        ({"password": PASSWORD}, "same_password"),
        ({"password": "short"}, "weak_password"),
        ({"email": "other@example.com"}, "email_address_not_authorized"),
    ]:
        refused = await auth.put("/user", json=body, headers=bearer(here))
        assert (refused.status_code, refused.json()["code"]) == (422, code)
    async with connect(hub, elsewhere["access_token"]) as other_tab:
        changed = await auth.put("/user", json={"password": "a brand new passphrase"}, headers=bearer(here))
        assert changed.status_code == 200
        assert await other_tab.close_code() == 4003
    assert (await auth.get("/user", headers=bearer(here))).status_code == 200
    assert (await auth.get("/user", headers=bearer(elsewhere))).status_code == 403
    await login(auth, "alice@example.com", "a brand new passphrase")


async def test_one_set_of_users_and_sessions_for_both_apis(hub: str, auth: httpx.AsyncClient) -> None:
    """A user made on /api/auth logs in on /auth/v1 and back; a logout on either API ends the session on both."""
    async with httpx.AsyncClient(base_url=hub) as http:
        made = await http.post("/api/auth/signup", json={"email": "both@example.com", "password": PASSWORD})
        assert made.status_code == 201
        gotrue = await login(auth, "both@example.com")
        assert gotrue["user"]["id"] == made.json()["user"]["id"]
        assert (await http.get("/api/auth/me", headers=bearer(gotrue))).status_code == 200
        assert (await http.post("/api/auth/logout", headers=bearer(gotrue))).status_code == 204
        assert (await auth.get("/user", headers=bearer(gotrue))).json()["code"] == "session_not_found"

        rest = (await http.post("/api/auth/login", json={"email": "both@example.com", "password": PASSWORD})).json()
        assert (await auth.get("/user", headers=bearer(rest))).status_code == 200
        async with connect(hub, rest["access_token"]) as tab:
            assert (await auth.post("/logout", headers=bearer(rest))).status_code == 204
            assert await tab.close_code() == 4003
        assert (await http.get("/api/auth/me", headers=bearer(rest))).status_code == 401


async def test_cors_lets_supabase_js_in_from_the_front_end(auth: httpx.AsyncClient) -> None:
    """The preflight admits supabase-js's headers and PUT; answers expose the API version header."""
    preflight = await auth.options(
        "/user",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "apikey, authorization, content-type, x-client-info, "
            "x-supabase-api-version",
        },
    )
    assert preflight.status_code == 200
    refused = await auth.get("/user", headers={"Origin": "http://localhost:3000", **V2024})
    assert "x-supabase-api-version" in refused.headers["access-control-expose-headers"].lower()


async def test_zero_config_makes_an_anon_key_and_keeps_it(settings: Settings, replica: LocalReplica) -> None:
    """Without ANON_KEY the hub makes one (a JWT with role anon) in DATA_DIR, 0600, and uses it across restarts."""
    zero = replace(settings, anon_key=None)
    async with run_server(create_app(zero, replica=replica)) as url:
        key_file = zero.data_dir / "anon-key"
        key = key_file.read_text()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert jwt.decode(key, options={"verify_signature": False})["role"] == "anon"
        async with httpx.AsyncClient(base_url=f"{url}/auth/v1", headers={"apikey": key}) as auth:
            await signup(auth, "zero@example.com")
    async with run_server(create_app(zero, replica=replica)) as url:
        async with httpx.AsyncClient(base_url=f"{url}/auth/v1", headers={"apikey": key}) as auth:
            await login(auth, "zero@example.com")


async def test_auth_v1_is_not_served_with_supabase_auth(settings: Settings) -> None:
    """With SUPABASE_URL the front end talks to Supabase itself: the hub serves no /auth/v1."""
    from server.config import Secret

    app = create_app(replace(settings, supabase_url="https://project.supabase.co", supabase_anon_key=Secret("k")))
    assert not any(getattr(route, "path", "") == "/auth/v1" for route in app.routes)
