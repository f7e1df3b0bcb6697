"""The official clients' database APIs against a real hub: supabase-js (Node) and supabase-py, sync and async.

CRUD with filters, ordering and counts; two users and the anon key against each other's rows; bad columns and filters
answered like PostgREST. The npm project is tests/auth/js (its lockfile pins supabase-js).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import postgrest
import pytest
from supabase import AsyncClient, AsyncClientOptions, Client, ClientOptions, acreate_client, create_client

from server.app import create_app
from server.config import Settings
from server.sensay.local import LocalReplica

from ..auth.gotrue_support import ANON_KEY, PASSWORD, gotrue_settings
from ..auth.test_supabase_js import node_project  # noqa: F401  (the fixture)
from ..test_cli import serving
from ..utils import run_server, signup_and_login


@pytest.fixture
async def hub(settings: Settings, replica: LocalReplica) -> AsyncIterator[str]:
    async with run_server(create_app(gotrue_settings(settings), replica=replica)) as url:
        yield url


async def run_script(project: Path, script: str, *args: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        "node", script, *args, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    return json.loads(stdout.decode().strip().splitlines()[-1])  # type: ignore[no-any-return]


async def test_supabase_js_database_api(node_project: Path, hub: str) -> None:  # noqa: F811
    out = await run_script(node_project, "rest.mjs", hub, ANON_KEY, "alice@example.com", "bob@example.com")

    assert out["insert"]["status"] == 201 and out["insert"]["error"] is None
    assert out["insert"]["data"][0]["text"] == "buy milk" and out["insert"]["data"][0]["completed"] is False
    assert [(r["text"], r["completed"]) for r in out["list"]["data"]] == [
        ("buy milk", False),
        ("walk the dog", False),
        ("call mum", True),
    ]
    assert out["update"]["status"] == 204 and out["update"]["error"] is None
    assert out["afterUpdate"]["data"] == {"text": "buy milk", "completed": True}
    assert out["countColumn"]["status"] == 400
    assert out["countColumn"]["error"]["code"] == "42703", "select('count') fails on Supabase too: no such column"

    assert [r["text"] for r in out["filtered"]["data"]] == ["buy milk", "call mum"]
    assert [r["text"] for r in out["or"]["data"]] == ["call mum", "walk the dog"]
    assert out["in"]["data"] == [{"text": "buy milk"}]
    assert [r["text"] for r in out["not"]["data"]] == ["walk the dog", "call mum"]
    assert [r["text"] for r in out["range"]["data"]] == ["call mum", "walk the dog"]
    assert out["head"] == {"data": None, "error": None, "count": 3, "status": 200}
    assert out["counted"]["count"] == 3 and out["counted"]["data"] == [{"text": "buy milk"}]
    assert out["counted"]["status"] == 206
    assert out["maybeSingle"]["data"] is None and out["maybeSingle"]["error"] is None
    assert out["singleOfMany"]["error"]["code"] == "PGRST116" and out["singleOfMany"]["status"] == 406

    assert out["upsert"]["data"] == [{"text": "buy oat milk", "completed": False}]
    assert out["ignored"]["data"] == []
    assert out["delete"]["data"] == [{"text": "call mum"}]

    assert out["bobSees"]["data"] == [{"text": "bob's"}]
    assert out["anonSees"]["data"] == [], "the anon key alone reads nothing"
    assert out["anonInsert"]["status"] == 401 and out["anonInsert"]["error"]["code"] == "42501"
    assert out["forged"]["status"] == 403 and out["forged"]["error"]["code"] == "42501"
    assert out["bobUpdatesAlice"]["data"] == [] and out["bobDeletesAlice"]["data"] == []
    assert [r["text"] for r in out["aliceAfter"]["data"]] == ["buy oat milk", "walk the dog"]
    assert out["interactions"]["data"] == [] and out["conversations"]["data"] == []

    assert out["badColumn"]["status"] == 400 and out["badColumn"]["error"]["code"] == "42703"
    assert out["badColumn"]["error"]["message"] == "column tasks.nope does not exist"
    assert out["badFilter"]["status"] == 400 and out["badFilter"]["error"]["code"] == "PGRST100"
    assert out["badValue"]["status"] == 400 and out["badValue"]["error"]["code"] == "22P02"
    assert out["badTable"]["status"] == 404 and out["badTable"]["error"]["code"] == "PGRST205"
    assert out["unknownColumn"]["status"] == 400 and out["unknownColumn"]["error"]["code"] == "PGRST204"


async def test_supabase_js_rest_writes_reach_postgres_changes(node_project: Path, hub: str) -> None:  # noqa: F811
    """A task inserted, updated and deleted through supabase-js's database API reaches its owner's postgres_changes
    subscription (INSERT, UPDATE, DELETE in order); another user and the anon key never hear of it."""
    async with httpx.AsyncClient(base_url=hub, timeout=20) as http:
        for email in ("alice@example.com", "bob@example.com"):
            await signup_and_login(http, email, PASSWORD)
    out = await run_script(
        node_project, "rest_changes.mjs", hub, ANON_KEY, "alice@example.com", "bob@example.com", PASSWORD
    )
    assert [(w["name"], w["status"], w["error"]) for w in out["writes"]] == [
        ("insert", 201, None),
        ("update", 204, None),
        ("delete", 204, None),
        ("bob", 201, None),
    ]
    alice = out["heard"]["alice"]
    assert [event["eventType"] for event in alice] == ["INSERT", "UPDATE", "DELETE"]
    assert alice[0]["new"]["text"] == "via rest" and alice[0]["new"]["id"] == out["taskId"]
    assert alice[1]["new"]["completed"] is True and alice[1]["new"]["status"] == "completed"
    assert alice[2]["old"] == {"id": out["taskId"]}
    assert [event["new"]["text"] for event in out["heard"]["bob"]] == ["bob's"]
    assert out["heard"]["anon"] == []


async def test_zero_config_serve_answers_the_database_api(node_project: Path, tmp_path: Path) -> None:  # noqa: F811
    """`sensay-hub serve` with no settings (the embedded PostgreSQL) answers supabase-js's database calls, the
    database deciding access: migration 060 made the roles and policies there too."""
    with serving(tmp_path) as server:
        found = re.search(r"anon key (\S+)", server.output())
        assert found, server.output()
        out = await run_script(
            node_project, "rest.mjs", server.base_url, found.group(1), "a@example.com", "b@example.com"
        )
        server.stop()
    assert [r["text"] for r in out["list"]["data"]] == ["buy milk", "walk the dog", "call mum"]
    assert out["bobSees"]["data"] == [{"text": "bob's"}] and out["anonSees"]["data"] == []
    assert out["forged"]["error"]["code"] == "42501" and out["badColumn"]["error"]["code"] == "42703"


async def test_supabase_py_async_database_api(hub: str) -> None:
    async with contextlib.AsyncExitStack() as stack:

        async def client(email: str | None = None) -> AsyncClient:
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=20))
            options = AsyncClientOptions(auto_refresh_token=False, persist_session=False, httpx_client=http)
            made = await acreate_client(hub, ANON_KEY, options)
            if email is not None:
                await made.auth.sign_up({"email": email, "password": PASSWORD})
            return made

        await async_journey(await client("alice@example.com"), await client("bob@example.com"), await client())


async def async_journey(alice: AsyncClient, bob: AsyncClient, anon: AsyncClient) -> None:
    created = await alice.table("tasks").insert([{"text": "one"}, {"text": "two"}, {"text": "three"}]).execute()
    assert [r["text"] for r in created.data] == ["one", "two", "three"]
    await bob.table("tasks").insert({"text": "bob's"}).execute()
    page = (
        await alice.table("tasks")
        .select("text", count=postgrest.CountMethod.exact)
        .neq("text", "two")
        .order("text", desc=True)
        .limit(1)
        .execute()
    )
    assert page.data == [{"text": "three"}] and page.count == 2
    done = await alice.table("tasks").update({"completed": True}).eq("text", "one").execute()
    assert done.data[0]["completed"] is True and done.data[0]["status"] == "completed"
    assert (await alice.table("tasks").select("text").is_("completed", True).execute()).data == [{"text": "one"}]
    await alice.table("tasks").delete().in_("text", ["two", "three"]).execute()
    assert (await alice.table("tasks").select("text").execute()).data == [{"text": "one"}]
    assert (await bob.table("tasks").select("text").execute()).data == [{"text": "bob's"}]
    assert (await anon.table("tasks").select("*").execute()).data == []
    assert (await bob.table("tasks").delete().eq("text", "one").execute()).data == []
    with pytest.raises(postgrest.APIError) as refused:
        await anon.table("tasks").insert({"text": "anon"}).execute()
    assert refused.value.code == "42501"
    with pytest.raises(postgrest.APIError) as bad:
        await alice.table("tasks").select("nope").execute()
    assert bad.value.code == "42703" and bad.value.message == "column tasks.nope does not exist"


async def test_supabase_py_sync_database_api(hub: str) -> None:
    """The sync client, as a script or a notebook would use it (it blocks: it runs off the server's event loop)."""
    await asyncio.to_thread(sync_journey, hub)


def sync_journey(hub: str) -> None:
    with httpx.Client(timeout=20) as http:
        options = ClientOptions(auto_refresh_token=False, persist_session=False, httpx_client=http)
        sync_tasks(create_client(hub, ANON_KEY, options))


def sync_tasks(alice: Client) -> None:
    alice.auth.sign_up({"email": "sync@example.com", "password": PASSWORD})
    alice.table("tasks").insert({"text": "sync task", "completed": False}).execute()
    rows = alice.table("tasks").select("id, text, completed").order("created_at").execute()
    assert [(r["text"], r["completed"]) for r in rows.data] == [("sync task", False)]
    one = alice.table("tasks").select("text").eq("id", rows.data[0]["id"]).single().execute()
    assert one.data == {"text": "sync task"}
    upserted = alice.table("tasks").upsert({"id": rows.data[0]["id"], "text": "renamed"}, on_conflict="id").execute()
    assert upserted.data[0]["text"] == "renamed"
    with pytest.raises(postgrest.APIError) as bad:
        alice.table("tasks").select("*").filter("text", "eqq", "x").execute()
    assert bad.value.code == "PGRST100"
