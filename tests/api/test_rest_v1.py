"""``/rest/v1`` over HTTP as supabase-js sends it: PostgREST's wire format, access decided by the database.

The official clients' own tests are in tests/api/test_rest_v1_clients.py; these pin the wire details those clients
rely on (headers, statuses, error bodies) against a real hub on a real database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.config import Secret, Settings
from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica
from server.store.migrate import migrate

from ..auth.gotrue_peer import GoTruePeer
from ..auth.gotrue_support import ANON_KEY, gotrue_client, gotrue_settings, signup
from ..databases import DatabaseFactory
from ..store.test_claims import owner_role
from ..utils import connect, run_server

Headers = dict[str, str]


@pytest.fixture
async def hub(settings: Settings, replica: LocalReplica) -> AsyncIterator[str]:
    async with run_server(create_app(gotrue_settings(settings), replica=replica)) as url:
        yield url


@pytest.fixture
async def rest(hub: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{hub}/rest/v1", headers={"apikey": ANON_KEY}, timeout=20) as client:
        yield client


async def user(hub: str, email: str) -> tuple[Headers, str]:
    """Sign up through /auth/v1; the headers supabase-js sends for the user, and their id."""
    async with gotrue_client(hub) as auth:
        session = await signup(auth, email)
    return {"Authorization": f"Bearer {session['access_token']}"}, session["user"]["id"]


ANON: Headers = {"Authorization": f"Bearer {ANON_KEY}"}
REPRESENTATION: Headers = {"Prefer": "return=representation"}


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """PostgREST's error body, with every key it always has."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "details", "hint"}, body
    assert body["code"] == code, body
    return body  # type: ignore[no-any-return]


async def test_the_showcase_task_memory_calls(hub: str, rest: httpx.AsyncClient) -> None:
    """The Task Memory page's own requests, byte for byte what its supabase-js sends, answered as Supabase does."""
    alice, alice_id = await user(hub, "alice@example.com")
    created = await rest.post(
        "/tasks?select=*", json={"text": "buy milk", "completed": False}, headers={**alice, **REPRESENTATION}
    )
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == "application/json; charset=utf-8"
    assert created.headers["content-range"] == "*/*"
    assert created.headers["preference-applied"] == "return=representation"
    [row] = created.json()
    assert row["text"] == "buy milk" and row["completed"] is False
    assert row["user_id"] == alice_id, "the owner defaults to auth.uid(), as on Supabase"
    assert row["description"] == "buy milk" and row["status"] == "pending", "the hub's spelling of the same task"
    await rest.post("/tasks", json={"text": "walk the dog", "completed": False}, headers=alice)

    listed = await rest.get("/tasks?select=id,text,completed&order=created_at.asc", headers=alice)
    assert listed.status_code == 200
    assert listed.headers["content-range"] == "0-1/*"
    assert listed.json() == [
        {"id": row["id"], "text": "buy milk", "completed": False},
        {"id": listed.json()[1]["id"], "text": "walk the dog", "completed": False},
    ]

    done = await rest.patch(f"/tasks?id=eq.{row['id']}", json={"completed": True}, headers=alice)
    assert done.status_code == 204 and done.content == b""
    async with httpx.AsyncClient(base_url=hub) as api:
        hub_view = await api.get("/api/tasks", headers=alice)
        from_hub = await api.post("/api/tasks", json={"description": "from chat", "status": "completed"}, headers=alice)
        assert from_hub.status_code == 201
    seen = await rest.get(f"/tasks?select=text,completed&id=eq.{from_hub.json()['id']}", headers=alice)
    assert seen.json() == [{"text": "from chat", "completed": True}], "and the hub's writes in the front end's spelling"
    await rest.delete(f"/tasks?id=eq.{from_hub.json()['id']}", headers=alice)
    assert {t["description"]: t["status"] for t in hub_view.json()["tasks"]} == {
        "buy milk": "completed",
        "walk the dog": "pending",
    }, "a change made through /rest/v1 is the hub's change too"

    count = await rest.get("/tasks?select=count&limit=1", headers=alice)
    assert error(count, 400, "42703")["message"] == "column tasks.count does not exist", "as Supabase answers it"

    gone = await rest.delete(f"/tasks?id=eq.{row['id']}", headers=alice)
    assert gone.status_code == 204
    assert [t["text"] for t in (await rest.get("/tasks?select=text", headers=alice)).json()] == ["walk the dog"]


async def test_filters_order_and_pages(hub: str, rest: httpx.AsyncClient) -> None:
    alice, _ = await user(hub, "alice@example.com")
    texts = ["alpha", "beta", "gamma", "delta", "Epsilon"]
    rows = [{"text": t, "completed": i % 2 == 0} for i, t in enumerate(texts)]
    inserted = await rest.post("/tasks?select=id,text", json=rows, headers={**alice, **REPRESENTATION})
    assert inserted.status_code == 201 and [r["text"] for r in inserted.json()] == texts
    ids = {r["text"]: r["id"] for r in inserted.json()}

    async def texts_of(query: str, **headers: str) -> list[str]:
        response = await rest.get(f"/tasks?select=text&{query}", headers={**alice, **headers})
        assert response.status_code in (200, 206), response.text
        return [r["text"] for r in response.json()]

    assert await texts_of("order=text.asc") == ["Epsilon", "alpha", "beta", "delta", "gamma"]
    assert await texts_of("order=text.desc&limit=2") == ["gamma", "delta"]
    assert await texts_of("order=text.asc&limit=2&offset=1") == ["alpha", "beta"]
    assert await texts_of("completed=eq.true&order=text") == ["Epsilon", "alpha", "gamma"]
    assert await texts_of("completed=is.false&order=text") == ["beta", "delta"]
    assert await texts_of("text=neq.alpha&completed=eq.true&order=text") == ["Epsilon", "gamma"]
    assert await texts_of("text=like.*ta&order=text") == ["beta", "delta"]
    assert await texts_of("text=ilike.e*&order=text") == ["Epsilon"]
    assert await texts_of("text=in.(alpha,gamma,%22no,such%22)&order=text") == ["alpha", "gamma"]
    assert await texts_of("text=not.in.(alpha,gamma)&order=text") == ["Epsilon", "beta", "delta"]
    assert await texts_of("text=gt.delta&order=text") == ["gamma"]
    assert await texts_of("text=gte.delta&text=lt.gamma&order=text") == ["delta"]
    assert await texts_of("text=lte.alpha&order=text") == ["Epsilon", "alpha"]
    assert await texts_of("or=(text.eq.alpha,text.eq.beta)&order=text") == ["alpha", "beta"]
    assert await texts_of("or=(text.eq.alpha,and(completed.is.false,text.like.d*))&order=text") == ["alpha", "delta"]
    assert await texts_of("not.or=(text.eq.alpha,completed.is.true)&order=text") == ["beta", "delta"]
    assert await texts_of(f"id=eq.{ids['beta']}") == ["beta"]
    assert await texts_of("due_at=is.null&order=due_at.desc.nullslast,text.asc&limit=1") == ["Epsilon"]
    assert await texts_of("order=text.asc", Range="1-2") == ["alpha", "beta"]

    counted = await rest.get("/tasks?select=text&order=text&limit=2", headers={**alice, "Prefer": "count=exact"})
    assert counted.status_code == 206
    assert counted.headers["content-range"] == "0-1/5"
    assert counted.headers["preference-applied"] == "count=exact"
    head = await rest.head("/tasks?select=*", headers={**alice, "Prefer": "count=exact"})
    assert head.status_code == 200 and head.headers["content-range"] == "0-4/5" and head.content == b""
    none = await rest.get("/tasks?text=eq.nothing", headers={**alice, "Prefer": "count=exact"})
    assert none.status_code == 200 and none.json() == [] and none.headers["content-range"] == "*/0"
    beyond = await rest.get("/tasks?offset=9", headers={**alice, "Prefer": "count=exact"})
    assert error(beyond, 416, "PGRST103")["details"] == "An offset of 9 was requested, but there are only 5 rows."

    single = {"Accept": "application/vnd.pgrst.object+json"}
    one = await rest.get("/tasks?select=text&text=eq.beta", headers={**alice, **single})
    assert one.status_code == 200 and one.json() == {"text": "beta"}
    assert one.headers["content-type"] == "application/vnd.pgrst.object+json; charset=utf-8"
    many = await rest.get("/tasks?select=text", headers={**alice, **single})
    assert error(many, 406, "PGRST116")["details"] == "The result contains 5 rows"
    renamed = await rest.get("/tasks?select=name:text,id&text=eq.beta", headers=alice)
    assert renamed.json() == [{"name": "beta", "id": ids["beta"]}]


async def test_a_read_answers_at_most_a_thousand_rows(hub: str, rest: httpx.AsyncClient) -> None:
    """As Supabase's PostgREST (``db-max-rows``): the rest is a Range request away."""
    alice, _ = await user(hub, "alice@example.com")
    made = await rest.post("/tasks", json=[{"text": f"t{i}"} for i in range(1001)], headers=alice)
    assert made.status_code == 201
    page = await rest.get("/tasks?select=id", headers={**alice, "Prefer": "count=exact"})
    assert page.status_code == 206 and len(page.json()) == 1000
    assert page.headers["content-range"] == "0-999/1001"
    rest_of_it = await rest.get("/tasks?select=id&offset=1000&limit=5000", headers=alice)
    assert len(rest_of_it.json()) == 1 and rest_of_it.headers["content-range"] == "1000-1000/*"


async def test_writes_upserts_and_what_they_return(hub: str, rest: httpx.AsyncClient) -> None:
    alice, alice_id = await user(hub, "alice@example.com")
    minimal = await rest.post("/tasks", json={"text": "one"}, headers=alice)
    assert minimal.status_code == 201 and minimal.content == b"" and "content-type" not in minimal.headers
    [row] = (await rest.get("/tasks?select=id,text,status", headers=alice)).json()

    merged = await rest.post(
        "/tasks?on_conflict=id&select=id,text",
        json=[{"id": row["id"], "text": "one, again"}, {"id": "00000000-0000-4000-8000-000000000001", "text": "two"}],
        headers={**alice, "Prefer": "return=representation,resolution=merge-duplicates"},
    )
    assert merged.status_code == 201, merged.text
    assert merged.headers["preference-applied"] == "resolution=merge-duplicates, return=representation"
    assert sorted(r["text"] for r in merged.json()) == ["one, again", "two"]
    again = await rest.post(
        "/tasks?select=text",
        json={"id": row["id"], "text": "ignored"},
        headers={**alice, "Prefer": "return=representation,resolution=ignore-duplicates"},
    )
    assert again.status_code == 201 and again.json() == []
    only_updates = await rest.post(
        "/tasks",
        json={"id": row["id"], "text": "merged"},
        headers={**alice, "Prefer": "resolution=merge-duplicates"},
    )
    assert only_updates.status_code == 200, "an upsert that inserted nothing is 200, as PostgREST answers"
    duplicate = await rest.post("/tasks", json={"id": row["id"], "text": "dup"}, headers=alice)
    assert error(duplicate, 409, "23505")["message"].startswith("duplicate key value violates unique constraint")

    updated = await rest.patch(
        "/tasks?text=eq.merged&select=text,status",
        json={"status": "in_progress"},
        headers={**alice, **REPRESENTATION, "Prefer": "return=representation,count=exact"},
    )
    assert updated.status_code == 200 and updated.json() == [{"text": "merged", "status": "in_progress"}]
    assert updated.headers["content-range"] == "0-0/1"
    one = await rest.patch(
        "/tasks?text=eq.two&select=completed",
        json={"completed": True},
        headers={**alice, **REPRESENTATION, "Accept": "application/vnd.pgrst.object+json"},
    )
    assert one.json() == {"completed": True}
    several = await rest.patch(
        "/tasks?id=not.is.null",
        json={"text": "all the same"},
        headers={**alice, "Accept": "application/vnd.pgrst.object+json"},
    )
    error(several, 406, "PGRST116")
    texts = sorted(r["text"] for r in (await rest.get("/tasks?select=text", headers=alice)).json())
    assert texts == ["merged", "two"], "a single-object write that matched two rows was undone"

    deleted = await rest.delete(
        "/tasks?text=eq.two&select=text", headers={**alice, **REPRESENTATION, "Prefer": "return=representation"}
    )
    assert deleted.status_code == 200 and deleted.json() == [{"text": "two"}]
    assert (await rest.delete("/tasks?text=eq.nothing", headers=alice)).status_code == 204

    many = await rest.post(
        "/tasks?columns=text,completed&select=text,completed",
        json=[{"text": "a"}, {"text": "b", "completed": True}],
        headers={**alice, **REPRESENTATION},
    )
    assert many.status_code == 201, "with ?columns= (as supabase-js sends for arrays) the keys may differ"
    assert many.json() == [{"text": "a", "completed": False}, {"text": "b", "completed": True}]
    mixed = await rest.post("/tasks", json=[{"text": "a"}, {"text": "b", "completed": True}], headers=alice)
    assert error(mixed, 400, "PGRST102")["message"] == "All object keys must match"
    interaction = await rest.post(
        "/prototype_interactions",
        json={"user_id": alice_id, "prototype": "x", "interaction_type": "y"},
        headers=alice,
    )
    assert error(interaction, 403, "42501")["message"].startswith("new row violates row-level security policy")


async def test_each_user_sees_and_changes_only_their_own_rows(hub: str, rest: httpx.AsyncClient) -> None:
    alice, alice_id = await user(hub, "alice@example.com")
    bob, bob_id = await user(hub, "bob@example.com")
    await rest.post("/tasks", json={"text": "alice's"}, headers=alice)
    await rest.post("/tasks", json={"text": "bob's"}, headers=bob)
    async with httpx.AsyncClient(base_url=hub) as api:
        said = await api.post(
            "/api/conversations", json={"replica_id": ADA_LOVELACE_UUID, "content": "hi"}, headers=alice
        )
        assert said.status_code == 201, said.text

    assert [r["text"] for r in (await rest.get("/tasks?select=text", headers=alice)).json()] == ["alice's"]
    assert [r["text"] for r in (await rest.get("/tasks?select=text", headers=bob)).json()] == ["bob's"]
    assert (await rest.get("/tasks", headers=ANON)).json() == [], "the anon key alone reads nothing"
    assert (await rest.get("/tasks")).json() == [], "nor does the apikey without a bearer"
    mine = (await rest.get("/conversations?select=sender,message&order=seq", headers=alice)).json()
    assert mine[0] == {"sender": "user", "message": "hi"} and mine[1]["sender"] == "replica"
    assert (await rest.get("/conversations", headers=bob)).json() == []

    forged = await rest.post("/tasks", json={"text": "for bob", "user_id": bob_id}, headers=alice)
    assert error(forged, 403, "42501")["message"] == 'new row violates row-level security policy for table "tasks"'
    anon_write = await rest.post("/tasks", json={"text": "anon", "user_id": alice_id}, headers=ANON)
    error(anon_write, 401, "42501")
    assert anon_write.headers["www-authenticate"] == "Bearer"
    stolen = await rest.patch("/tasks?id=not.is.null", json={"text": "mine now"}, headers=alice)
    assert stolen.status_code == 204
    assert [r["text"] for r in (await rest.get("/tasks?select=text", headers=bob)).json()] == ["bob's"]
    moved = await rest.patch("/tasks?id=not.is.null", json={"user_id": bob_id}, headers=alice)
    error(moved, 403, "42501")  # giving a task away breaks the policy's WITH CHECK
    assert (await rest.delete("/tasks?id=not.is.null", headers=alice)).status_code == 204
    assert [r["text"] for r in (await rest.get("/tasks?select=text", headers=bob)).json()] == ["bob's"]
    error(await rest.get("/sessions", headers=alice), 404, "PGRST205")
    error(await rest.get("/users", headers=alice), 404, "PGRST205")


async def test_bad_requests_are_answered_like_postgrest(hub: str, rest: httpx.AsyncClient) -> None:
    alice, _ = await user(hub, "alice@example.com")
    column = error(await rest.get("/tasks?select=id,nope", headers=alice), 400, "42703")
    assert column["message"] == "column tasks.nope does not exist"
    error(await rest.get("/tasks?nope=eq.1", headers=alice), 400, "42703")
    error(await rest.get("/tasks?order=nope.desc", headers=alice), 400, "42703")
    operator = error(await rest.get("/tasks?text=eqq.1", headers=alice), 400, "PGRST100")
    assert operator["message"] == '"failed to parse filter (eqq.1)" (line 1, column 1)'
    error(await rest.get("/tasks?order=text.sideways", headers=alice), 400, "PGRST100")
    error(await rest.get("/tasks?or=(text.eq.a", headers=alice), 400, "PGRST100")
    error(await rest.get("/tasks?text=is.maybe", headers=alice), 400, "PGRST100")
    error(await rest.get("/tasks?limit=ten", headers=alice), 400, "PGRST100")
    value = error(await rest.get("/tasks?id=eq.not-a-uuid", headers=alice), 400, "22P02")
    assert value["message"] == 'invalid input syntax for type uuid: "not-a-uuid"'
    error(await rest.get("/tasks?select=*,users(*)", headers=alice), 400, "PGRST200")
    error(await rest.get("/tasks?select=count()", headers=alice), 400, "PGRST123")
    error(await rest.get("/tasks?text=fts.milk", headers=alice), 400, "PGRST127")
    error(await rest.get("/tasks", headers={**alice, "Accept": "text/csv"}), 406, "PGRST107")
    error(await rest.get("/nothing", headers=alice), 404, "PGRST205")
    schema = error(await rest.get("/tasks", headers={**alice, "Accept-Profile": "auth"}), 406, "PGRST106")
    assert schema["hint"] == "Only the following schemas are exposed: public"
    error(await rest.put("/tasks?id=eq.1", json={}, headers=alice), 405, "PGRST117")
    body = await rest.post("/tasks", content=b"{not json", headers={**alice, "Content-Type": "application/json"})
    assert error(body, 400, "PGRST102")["message"] == "Empty or invalid json"
    unknown = await rest.post("/tasks", json={"text": "x", "colour": "red"}, headers=alice)
    assert (
        error(unknown, 400, "PGRST204")["message"]
        == "Could not find the 'colour' column of 'tasks' in the schema cache"
    )
    error(await rest.patch("/tasks?id=not.is.null", json=[{"text": "x"}], headers=alice), 400, "PGRST102")
    everything = error(await rest.delete("/tasks", headers=alice), 400, "21000")
    assert everything["message"] == "DELETE requires a WHERE clause", "as Supabase's pg-safeupdate answers"
    error(await rest.patch("/tasks", json={"text": "x"}, headers=alice), 400, "21000")

    expired = await rest.get("/tasks", headers={"Authorization": "Bearer not.a.token"})
    assert expired.status_code == 401 and expired.json()["code"] == "PGRST301"
    async with httpx.AsyncClient(base_url=hub) as bare:
        no_key = await bare.get("/rest/v1/tasks", headers=alice)
        wrong_key = await bare.get("/rest/v1/tasks", headers={**alice, "apikey": "wrong"})
    assert no_key.status_code == 401 and no_key.json() == {
        "message": "No API key found in request",
        "hint": "No `apikey` request header or url param was found.",
    }
    assert wrong_key.status_code == 401 and wrong_key.json()["message"] == "Invalid API key"


async def test_a_rest_write_reaches_the_owners_sockets(hub: str, rest: httpx.AsyncClient) -> None:
    """The change feed's triggers fire on the table: a socket gets the task change like any other write."""
    alice, _ = await user(hub, "alice@example.com")
    token = alice["Authorization"].removeprefix("Bearer ")
    async with connect(hub, token) as tab:
        created = await rest.post("/tasks?select=id", json={"text": "from rest"}, headers={**alice, **REPRESENTATION})
        frame, _ = await tab.recv_until("change")
        assert frame["table"] == "tasks" and frame["op"] == "INSERT"
        assert frame["record"]["id"] == created.json()[0]["id"]
        assert frame["record"]["description"] == "from rest"


@pytest.mark.parametrize("granted", [True, False], ids=["owner-granted-the-api-roles", "owner-alone"])
async def test_the_hub_runs_as_a_non_superuser_owner(
    databases: DatabaseFactory, settings: Settings, replica: LocalReplica, granted: bool
) -> None:
    """The tests' and the embedded server's login role is a superuser; a deployment's may be a plain table owner.
    The hub works all the same; /rest/v1 does when the owner may act as the API roles, and otherwise refuses with
    PostgreSQL's error, never a 500 or another user's rows."""
    async with owner_role(databases.admin_dsn, granted=granted) as dsn:
        await migrate(dsn)
        configured = gotrue_settings(replace(settings, database_url=Secret(dsn)))
        async with run_server(create_app(configured, replica=replica)) as url:
            alice, _ = await user(url, "alice@example.com")
            async with httpx.AsyncClient(base_url=url, headers=alice) as api:
                assert (await api.post("/api/tasks", json={"description": "via the hub"})).status_code == 201
                async with connect(url, alice["Authorization"].removeprefix("Bearer ")) as tab:
                    await api.post("/api/tasks", json={"description": "watched"})
                    frame, _ = await tab.recv_until("change")
                    if frame["record"]["description"] == "via the hub":  # written before, relayed after we joined
                        frame, _ = await tab.recv_until("change")
                    assert frame["record"]["description"] == "watched"
                listed = await api.get("/rest/v1/tasks?select=text&order=created_at", headers={"apikey": ANON_KEY})
            if granted:
                assert listed.status_code == 200 and listed.json() == [{"text": "via the hub"}, {"text": "watched"}]
            else:
                error(listed, 403, "42501")


async def test_not_served_when_supabase_is_the_backend(settings: Settings, replica: LocalReplica) -> None:
    """With SUPABASE_URL the front end talks to Supabase's own PostgREST: the hub answers 404 as for any path."""
    peer = GoTruePeer(mode="HS256")
    async with run_server(peer.app) as peer_url:
        configured = replace(
            settings,
            jwt_secret=None,
            supabase_url=peer_url,
            supabase_anon_key=Secret(peer.anon_key),
            supabase_jwt_secret=Secret(peer.hs256_secret),
        )
        async with run_server(create_app(configured, replica=replica)) as url, httpx.AsyncClient(base_url=url) as http:
            for method in ("GET", "POST", "PATCH", "DELETE"):
                response = await http.request(method, "/rest/v1/tasks", headers={"apikey": peer.anon_key})
                assert response.status_code in (404, 405), response.text
                assert response.headers["content-type"] == "application/problem+json"
