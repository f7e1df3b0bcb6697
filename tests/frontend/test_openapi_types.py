"""Types generated from the served /openapi.json by openapi-typescript (as any front end would) are usable.

A free-form object (a user's metadata, an action's result, a prototype's state…) must come out open, so that
reading its fields compiles under strict ``tsc``; a bare ``{"type": "object"}`` would come out as
``Record<string, never>``, where every field is an error.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from .node import PACKAGE, install_dependencies, run, tsc

OPENAPI_TYPESCRIPT = PACKAGE / "node_modules" / "openapi-typescript" / "bin" / "cli.js"

READS_FREE_FORM_FIELDS = """\
import type { components, operations } from "./api.js";

type Schemas = components["schemas"];
type RunToolBody = operations["runTool"]["requestBody"]["content"]["application/json"];

export function read(
  user: Schemas["GoTrueUser"],
  done: Schemas["ActionDone"],
  detail: Schemas["PrototypeDetail"],
  jwks: Schemas["Jwks"],
  interaction: Schemas["Interaction"],
): unknown[] {
  const body: RunToolBody = { query: "engines", limit: 2 };
  return [user.user_metadata.x, done.result.reply, detail.state.balance, jwks.keys[0]?.kid,
          interaction.details.command, body];
}
"""

STRICT = {
    "compilerOptions": {
        "target": "ES2022",
        "module": "NodeNext",
        "moduleResolution": "NodeNext",
        "types": [],
        "strict": True,
        "noUncheckedIndexedAccess": True,
        "noEmit": True,
    },
    "include": ["*.ts"],
}


async def test_openapi_typescript_types_let_a_front_end_read_free_form_fields(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    """openapi-typescript on the served document: no field is ``Record<string, never>``, and a front end reading
    ``user.user_metadata.x``, an action's result and the other free-form objects compiles under strict tsc."""
    install_dependencies()
    document = await http.get("/openapi.json")
    assert document.status_code == 200
    (tmp_path / "openapi.json").write_bytes(document.content)
    run("node", str(OPENAPI_TYPESCRIPT), str(tmp_path / "openapi.json"), "-o", str(tmp_path / "api.ts"))
    generated = (tmp_path / "api.ts").read_text(encoding="utf-8")
    closed = [line.strip() for line in generated.splitlines() if "Record<string, never>" in line]
    # Only the document's empty top-level maps (no webhooks, no $defs) may be empty.
    assert closed == ["export type webhooks = Record<string, never>;", "export type $defs = Record<string, never>;"]

    (tmp_path / "reads.ts").write_text(READS_FREE_FORM_FIELDS, encoding="utf-8")
    (tmp_path / "tsconfig.json").write_text(json.dumps(STRICT), encoding="utf-8")
    tsc("-p", str(tmp_path / "tsconfig.json"))
