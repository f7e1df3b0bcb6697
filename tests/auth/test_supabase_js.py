"""@supabase/supabase-js (Node) against a real running hub: the front end's own auth code, unchanged.

The npm project beside this file has a committed lockfile; ``npm ci`` installs it on first use.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.config import Settings
from server.sensay.local import LocalReplica

from ..frontend.node import install_dependencies, readme_typescript, strict_project, tsc
from ..test_cli import serving
from ..utils import connect, run_server
from .gotrue_support import ANON_KEY, gotrue_settings

PROJECT = Path(__file__).parent / "js"


@pytest.fixture(scope="session")
def node_project() -> Path:
    """The npm project, installed from its lockfile when ``node_modules`` is missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("Node.js 20+ and npm are needed for the supabase-js test")
    if not (PROJECT / "node_modules" / "@supabase" / "supabase-js").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PROJECT, check=True, timeout=300)
    return PROJECT


async def run_node(project: Path, *args: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        "node", "flow.mjs", *args, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    return json.loads(stdout.decode().strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(params=["hs256", "es256"])
async def hub(request: pytest.FixtureRequest, settings: Settings, replica: LocalReplica) -> AsyncIterator[str]:
    configured = gotrue_settings(settings, jwt_signing=request.param)
    async with run_server(create_app(configured, replica=replica)) as url:
        yield url


async def test_supabase_js_runs_unchanged_against_the_hub(node_project: Path, hub: str) -> None:
    """Every auth call of a supabase-js front end answers as Supabase would; its tokens work on /ws and REST."""
    out = await run_node(node_project, "journey", hub, ANON_KEY, "js@example.com")
    assert out["signUp"] == {"error": None, "email": "js@example.com", "metadata": {"name": "Ada"}, "hasSession": True}
    assert out["signUpAgain"] == {"name": "AuthApiError", "code": "user_already_exists", "status": 422}
    assert out["weak"] == {
        "name": "AuthWeakPasswordError",
        "code": "weak_password",
        "status": 422,
        "reasons": ["length"],
    }
    assert out["badLogin"] == {"name": "AuthApiError", "code": "invalid_credentials", "status": 400}
    assert out["signIn"]["error"] is None and out["signIn"]["tokenType"] == "bearer" and out["signIn"]["expiresAt"]
    assert out["getUser"] == {"error": None, "id": out["signIn"]["userId"], "email": "js@example.com"}
    assert out["updateUser"] == {"error": None, "metadata": {"lang": "en"}}
    assert out["samePassword"]["code"] == "same_password"
    assert out["refresh"] == {"error": None, "rotated": True}
    assert out["reuse"]["code"] == "refresh_token_already_used"
    assert out["afterReuse"]["code"] == "refresh_token_not_found"
    assert out["afterReuseUser"]["name"] == "AuthSessionMissingError"
    assert out["claims"] == {"error": None, "sub": out["signIn"]["userId"], "role": "authenticated"}
    assert out["settings"] == {"status": 200, "email": True}
    assert out["wrongKey"]["status"] == 401

    session = out["session"]
    async with httpx.AsyncClient(base_url=hub) as http:
        auth = {"Authorization": f"Bearer {session['access_token']}"}
        assert (
            await http.post("/api/tasks", json={"description": "from supabase-js"}, headers=auth)
        ).status_code == 201
        async with connect(hub, session["access_token"]) as tab:
            done = await run_node(
                node_project, "signout", hub, ANON_KEY, session["access_token"], session["refresh_token"]
            )
            assert done == {"setSession": None, "signOut": None, "afterSignOut": done["afterSignOut"]}
            assert done["afterSignOut"]["name"] == "AuthSessionMissingError"
            assert await tab.close_code() == 4003
        assert (await http.get("/api/tasks", headers=auth)).status_code == 401


async def test_zero_config_serve_prints_the_key_supabase_js_needs(node_project: Path, tmp_path: Path) -> None:
    """`sensay-hub serve` with no settings prints its anon key, and supabase-js logs in with the URL and that key."""
    with serving(tmp_path) as server:
        found = re.search(r"anon key (\S+)", server.output())
        assert found, server.output()
        out = await run_node(node_project, "journey", server.base_url, found.group(1), "zero@example.com")
        server.stop()
    assert out["signIn"]["error"] is None and out["getUser"]["email"] == "zero@example.com"
    assert out["wrongKey"]["status"] == 401


async def test_the_readme_snippet_runs_on_node_20_as_written(node_project: Path, hub: str, tmp_path: Path) -> None:
    """The README's supabase-js snippet, compiled by strict tsc and run by Node with the flag the README names,
    logs in with supabase-js and opens the hub's socket with that session: the socket's first frame is hello."""
    async with httpx.AsyncClient(base_url=hub) as http:
        body = {"email": "ada@example.com", "password": "correct horse battery"}
        assert (await http.post("/api/auth/signup", json=body)).status_code == 201
    [snippet] = [s for s in readme_typescript() if "signInWithPassword" in s]
    host = hub.removeprefix("http://")
    (tmp_path / "snippet.ts").write_text(snippet.replace("localhost:8000", host) + "\nexport {};\n", encoding="utf-8")
    install_dependencies()
    out = tmp_path / "out"
    tsc("-p", str(strict_project(tmp_path, ["snippet.ts"], out_dir=out)))
    (out / "package.json").write_text('{"type": "module"}', encoding="utf-8")
    (out / "node_modules").symlink_to(node_project / "node_modules", target_is_directory=True)
    env = {**os.environ, "NEXT_PUBLIC_SUPABASE_URL": hub, "NEXT_PUBLIC_SUPABASE_ANON_KEY": ANON_KEY}
    process = await asyncio.create_subprocess_exec(
        "node",
        "--experimental-websocket",
        "snippet.js",
        cwd=out,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    hello = json.loads(stdout.decode().strip().splitlines()[-1])
    assert hello["type"] == "hello" and hello["user_id"]
