"""A bounded schemathesis run against a real `serve`: every operation of /openapi.json, every check.

No answer is a 5xx, and the server and the document agree both ways (schema-valid requests are accepted,
schema-violating ones refused, statuses, media types, headers and `Allow` as declared). What a schema cannot say
(rules across fields, GoTrue's semantic checks, the 413 of a body over the bound) is in `schemathesis.toml` beside
this file, with the reason. NUL is left out of the generated strings: it is refused everywhere (`test_nul.py`
walks every operation with it), and the document says so in prose, as JSON Schema has no word for it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
import pytest

from ..conftest import TEST_JWT_SECRET
from ..databases import DatabaseFactory
from ..test_cli import serving

ST = Path(sys.executable).parent / "st"
EXAMPLES = 15
"""Per operation: enough for odd ids and boundary lengths, small enough for CI (about two minutes)."""
CONFIG = Path(__file__).parent / "schemathesis.toml"
UNLIMITED = {
    **{f"RATE_LIMIT_{kind}": "1000000/minute" for kind in ("SIGNUP", "LOGIN", "REFRESH", "EMAIL", "ACCOUNT")},
    "REST_WRITE_RATE": "1000000/minute",
}
"""Rate limits lifted for the run: a 429 would leave an operation untested (tests/auth/test_rate_limits.py)."""


@pytest.mark.timeout(300)  # the run is bounded to about two minutes (the default per test is 120 s)
async def test_schemathesis_finds_no_server_error_and_no_disagreement(
    tmp_path: Path, databases: DatabaseFactory
) -> None:
    """Generated requests (valid and invalid, authenticated as a real user, with the anon key on /auth/v1) never
    get a 5xx, and every answer agrees with the document."""
    env = {"DATABASE_URL": await databases.migrated(), "JWT_SECRET": TEST_JWT_SECRET, "ACCESS_LOG": "0", **UNLIMITED}
    with serving(tmp_path, **env) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            credentials = {"email": "fuzz@example.com", "password": "correct horse battery"}
            assert (await http.post("/api/auth/signup", json=credentials)).status_code == 201
            token = (await http.post("/api/auth/login", json=credentials)).json()["access_token"]
        anon_key = (server.data_dir / "anon-key").read_text().strip()
        process = await asyncio.create_subprocess_exec(
            str(ST), "--config-file", str(CONFIG), "run", f"{server.base_url}/openapi.json",
            "--checks", "all",
            "--max-examples", str(EXAMPLES),
            "--seed", "1",
            "--generation-allow-x00", "false",
            "--header", f"Authorization: Bearer {token}",
            "--header", f"apikey: {anon_key}",
            "--exclude-path", "/api/auth/logout",  # would end the session the rest of the run uses
            "--exclude-path", "/auth/v1/logout",
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
