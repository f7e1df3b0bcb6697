"""Local auth over real HTTP: sign-up, login, refresh, me, logout."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from ..conftest import TEST_JWT_SECRET, bearer

PROBLEM = "application/problem+json"


async def test_signup_login_me_logout_flow(http: httpx.AsyncClient) -> None:
    """The whole journey a new user takes, each step with its documented status and body."""
    signup = await http.post("/api/auth/signup", json={"email": "Carol@Example.com", "password": "long enough pw"})
    assert signup.status_code == 201
    user = signup.json()["user"]
    assert user["email"] == "Carol@Example.com" and "password_hash" not in user

    login = await http.post("/api/auth/login", json={"email": "carol@example.com", "password": "long enough pw"})
    assert login.status_code == 200
    body = login.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    assert body["user"]["id"] == user["id"]
    assert login.headers["cache-control"] == "no-store"

    me = await http.get("/api/auth/me", headers=bearer(body))
    assert me.status_code == 200
    assert me.json()["user"]["id"] == user["id"]

    logout = await http.post("/api/auth/logout", headers=bearer(body))
    assert logout.status_code == 204
    after = await http.get("/api/auth/me", headers=bearer(body))
    assert after.status_code == 401
    assert after.headers["content-type"] == PROBLEM
    assert after.json()["code"] == "unauthorized"


async def test_token_uses_supabase_claim_names(alice: dict) -> None:
    claims = jwt.decode(alice["access_token"], TEST_JWT_SECRET, algorithms=["HS256"], audience="authenticated")
    assert claims["sub"] == alice["user"]["id"]
    assert claims["aud"] == "authenticated" and claims["role"] == "authenticated"
    assert claims["email"] == "alice@example.com"
    assert {"exp", "iat", "session_id"} <= claims.keys()


async def test_duplicate_email_is_409_case_insensitively(http: httpx.AsyncClient, alice: dict) -> None:
    response = await http.post("/api/auth/signup", json={"email": "ALICE@example.com", "password": "another password"})
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "email_taken"


async def test_wrong_password_and_unknown_email_look_the_same(http: httpx.AsyncClient, alice: dict) -> None:
    wrong = await http.post("/api/auth/login", json={"email": "alice@example.com", "password": "wrong password"})
    unknown = await http.post("/api/auth/login", json={"email": "nobody@example.com", "password": "wrong password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"email": "not-an-email", "password": "long enough pw"}, 422),
        ({"email": "dave@example.com", "password": "short"}, 422),
        ({"email": "dave@example.com"}, 422),
        ({"email": "dave@example.com", "password": "long enough pw", "admin": True}, 422),
        ({"email": 5, "password": "long enough pw"}, 422),
    ],
)
async def test_invalid_signup_is_422_problem(http: httpx.AsyncClient, body: dict, status: int) -> None:
    response = await http.post("/api/auth/signup", json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == "validation_error" and problem["status"] == status and problem["detail"]


async def test_malformed_and_non_json_bodies(http: httpx.AsyncClient) -> None:
    broken = await http.post("/api/auth/signup", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 400 and broken.json()["code"] == "malformed_json"
    form = await http.post("/api/auth/signup", data={"email": "x@example.com", "password": "long enough pw"})
    assert form.status_code == 415 and form.json()["code"] == "unsupported_media_type"
    huge = await http.post("/api/auth/signup", json={"email": "x@example.com", "password": "p" * 300_000})
    assert huge.status_code == 413 and "Traceback" not in huge.text


async def test_refresh_rotates_and_a_lost_answer_can_be_fetched_again(http: httpx.AsyncClient, alice: dict) -> None:
    """Refreshing hands out a new refresh token; the one just before it gets the newest again, as GoTrue does.

    (An older one ending the whole session is tested in tests/auth/test_refresh_rotation.py.)
    """
    first = await http.post("/api/auth/refresh", json={"refresh_token": alice["refresh_token"]})
    assert first.status_code == 200
    fresh = first.json()
    assert fresh["refresh_token"] != alice["refresh_token"]
    assert (await http.get("/api/auth/me", headers=bearer(fresh))).status_code == 200
    again = await http.post("/api/auth/refresh", json={"refresh_token": alice["refresh_token"]})
    assert again.status_code == 200 and again.json()["refresh_token"] == fresh["refresh_token"]
    forged = fresh["refresh_token"][:-2] + ("AA" if not fresh["refresh_token"].endswith("AA") else "BB")
    refused = await http.post("/api/auth/refresh", json={"refresh_token": forged})
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_refresh_token"


async def test_logout_ends_only_that_session(http: httpx.AsyncClient, alice: dict) -> None:
    other = await http.post("/api/auth/login", json={"email": "alice@example.com", "password": "correct horse battery"})
    second = other.json()
    assert (await http.post("/api/auth/logout", headers=bearer(alice))).status_code == 204
    assert (await http.get("/api/auth/me", headers=bearer(alice))).status_code == 401
    assert (await http.get("/api/auth/me", headers=bearer(second))).status_code == 200
    refreshed = await http.post("/api/auth/refresh", json={"refresh_token": alice["refresh_token"]})
    assert refreshed.status_code == 401


@pytest.mark.parametrize(
    "make_token",
    [
        lambda claims: jwt.encode({**claims, "exp": int(time.time()) - 60}, TEST_JWT_SECRET, algorithm="HS256"),
        lambda claims: jwt.encode({**claims, "aud": "anon"}, TEST_JWT_SECRET, algorithm="HS256"),
        lambda claims: jwt.encode(claims, "some-other-secret-" + "y" * 32, algorithm="HS256"),
        lambda claims: jwt.encode(claims, None, algorithm="none"),
        lambda claims: "not.a.jwt",
    ],
    ids=["expired", "wrong-audience", "wrong-key", "alg-none", "garbage"],
)
async def test_bad_tokens_are_refused(http: httpx.AsyncClient, alice: dict, make_token) -> None:
    claims = jwt.decode(alice["access_token"], TEST_JWT_SECRET, algorithms=["HS256"], audience="authenticated")
    response = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {make_token(claims)}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_missing_token_is_401(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/auth/me")
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"


async def test_email_is_unique_under_concurrent_signups(http: httpx.AsyncClient) -> None:
    import asyncio

    body = {"email": "race@example.com", "password": "long enough pw"}
    answers = await asyncio.gather(*(http.post("/api/auth/signup", json=body) for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409, 409]
