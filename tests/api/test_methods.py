"""Answers schemathesis held the document to, kept as plain tests: Allow on 405, bodies and nulls refused."""

from __future__ import annotations

import httpx

from server.config import Settings

from ..conftest import bearer


async def test_a_405_names_every_method_of_the_path(http: httpx.AsyncClient) -> None:
    """Starlette's 405 names the methods of one route; ours names every route's for the path, as declared."""
    for path, allowed in (
        ("/api/tasks", "GET, POST"),
        ("/api/tasks/6f1c1f2e-8a4b-4c1d-9e2f-0a1b2c3d4e5f", "DELETE, PATCH"),
    ):
        answer = await http.request("OPTIONS", path)
        assert (answer.status_code, answer.headers["allow"]) == (405, allowed)


async def test_gotrue_routes_answer_405_for_other_methods(http: httpx.AsyncClient, settings: Settings) -> None:
    """PUT on the JWKS is 405 with Allow: GET (not the catch-all's 404); a body-less PUT /user is 400 bad_json."""
    anon_key = (settings.data_dir / "anon-key").read_text().strip()
    answer = await http.put("/auth/v1/.well-known/jwks.json", headers={"apikey": anon_key})
    assert (answer.status_code, answer.headers["allow"]) == (405, "GET")
    assert (await http.request("OPTIONS", "/auth/v1/callback", headers={"apikey": anon_key})).headers[
        "allow"
    ] == "GET, POST"
    session = await http.post(
        "/auth/v1/token?grant_type=password",
        json={"email": "methods@example.com", "password": "correct horse battery"},
        headers={"apikey": anon_key},
    )
    assert session.status_code == 400  # no such user; the body-less PUT needs a token first
    signed = await http.post(
        "/auth/v1/signup", json={"email": "methods@example.com", "password": "correct horse battery"},
        headers={"apikey": anon_key},
    )  # fmt: skip
    token = signed.json()["access_token"]
    bodyless = await http.put("/auth/v1/user", headers={"apikey": anon_key, "Authorization": f"Bearer {token}"})
    assert (bodyless.status_code, bodyless.headers["x-sb-error-code"]) == (400, "bad_json")


async def test_null_query_values_and_empty_patches_are_refused(http: httpx.AsyncClient, alice: dict) -> None:
    """`before=null` is not "no before" (leave it out), and a PATCH must change something: 422 both."""
    for path in ("/api/ledger?before=null", "/api/prototype/pure-voice?before=null"):
        answer = await http.get(path, headers=bearer(alice))
        assert (answer.status_code, answer.json()["code"]) == (422, "validation_error"), path
    task = (await http.post("/api/tasks", json={"description": "x"}, headers=bearer(alice))).json()
    for patch in ({}, {"status": None}):
        answer = await http.patch(f"/api/tasks/{task['id']}", json=patch, headers=bearer(alice))
        assert answer.status_code == 422, patch
