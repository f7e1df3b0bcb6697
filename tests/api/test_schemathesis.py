"""A bounded schemathesis run against a real `serve`: every operation of /openapi.json, no answer is a 5xx."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

from ..conftest import TEST_JWT_SECRET
from ..databases import DatabaseFactory
from ..test_cli import serving

ST = Path(sys.executable).parent / "st"
EXAMPLES = 15
"""Per operation: enough to try NUL, odd ids and boundary lengths, small enough for CI (well under a minute)."""


async def test_schemathesis_finds_no_server_error(tmp_path: Path, databases: DatabaseFactory) -> None:
    """Generated requests (valid and invalid, authenticated as a real user) never get a 5xx."""
    env = {"DATABASE_URL": await databases.migrated(), "JWT_SECRET": TEST_JWT_SECRET, "ACCESS_LOG": "0"}
    with serving(tmp_path, **env) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            credentials = {"email": "fuzz@example.com", "password": "correct horse battery"}
            assert (await http.post("/api/auth/signup", json=credentials)).status_code == 201
            token = (await http.post("/api/auth/login", json=credentials)).json()["access_token"]
        process = await asyncio.create_subprocess_exec(
            str(ST), "run", f"{server.base_url}/openapi.json",
            "--checks", "not_a_server_error",
            "--max-examples", str(EXAMPLES),
            "--seed", "1",
            "--generation-allow-x00", "true",
            "--header", f"Authorization: Bearer {token}",
            "--exclude-path", "/api/auth/logout",  # would end the session the rest of the run uses
            "--exclude-path", "/mcp",  # JSON-RPC, not REST: its GET is an event stream that stays open by design
            "--request-timeout", "30",
            "--workers", "1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(process.communicate(), 600)
        server.stop()
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-6000:]
    assert "operations" in report.lower() or "passed" in report.lower(), report[-2000:]
    assert "Traceback" not in server.output(), server.output()[-4000:]
