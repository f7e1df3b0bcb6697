"""The committed OpenAPI document (input of the TypeScript client's REST types) is what /openapi.json serves."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from server.api.openapi_export import OPENAPI_FILE, main, rendered


def test_committed_document_is_up_to_date() -> None:
    """protocol/schema/openapi.json is fresh (else: `python -m server.api.openapi_export`)."""
    assert OPENAPI_FILE.read_text(encoding="utf-8") == rendered()
    assert main(["--check"]) == 0


def test_export_writes_then_check_passes(tmp_path: Path) -> None:
    """--check reports a missing or stale file without writing; a plain run writes it."""
    out = tmp_path / "openapi.json"
    assert main(["--check", "--out", str(out)]) == 1
    assert not out.exists()
    assert main(["--out", str(out)]) == 0
    assert main(["--check", "--out", str(out)]) == 0


async def test_served_document_equals_the_committed_one(http: httpx.AsyncClient) -> None:
    """What the server answers at /openapi.json is the committed document."""
    assert (await http.get("/openapi.json")).json() == json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
