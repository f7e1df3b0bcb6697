"""``python -m server.api.openapi_export [--check]``: write ``/openapi.json`` to ``protocol/schema/openapi.json``.

The TypeScript client's REST types are generated from that file, so no server has to run to generate them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Final

from protocol.export import SCHEMA_DIR, render

from ..config import Settings
from . import mcp_server
from .openapi import build_document
from .routes import rest_routes

OPENAPI_FILE: Final = SCHEMA_DIR / "openapi.json"


def rendered() -> str:
    """The document ``/openapi.json`` serves, as the committed file must read."""
    return render(build_document([*rest_routes(Settings()), *mcp_server.routes(mcp_server.McpEndpoint())]))


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` only compare) the committed OpenAPI document; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m server.api.openapi_export", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if the file is stale")
    parser.add_argument("--out", type=Path, default=OPENAPI_FILE, help="output file (default: %(default)s)")
    args = parser.parse_args(argv)
    content = rendered()
    current = args.out.read_text(encoding="utf-8") if args.out.exists() else None
    if current == content:
        return 0
    if args.check:
        print(f"stale: {args.out} (run `python -m server.api.openapi_export`)", file=sys.stderr)
        return 1
    args.out.write_text(content, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
