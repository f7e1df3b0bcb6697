"""What the TypeScript package generates and compiles is committed fresh: types, and the demo page's client."""

from __future__ import annotations

import filecmp
from pathlib import Path

from server.web.demo import STATIC_DIR

from .node import install_dependencies, run, tsc


def test_generated_types_are_up_to_date() -> None:
    """src/generated/*.ts match what the schemas in protocol/schema generate (else: `npm run generate`)."""
    install_dependencies()
    run("node", "scripts/generate.mjs", "--check")


def test_committed_web_client_matches_a_fresh_build(tmp_path: Path) -> None:
    """server/web/static/client is exactly what `npm run build:web` compiles from src/."""
    install_dependencies()
    tsc("-p", "tsconfig.web.json", "--outDir", str(tmp_path))
    committed = STATIC_DIR / "client"

    def files(root: Path) -> list[Path]:
        return sorted(path.relative_to(root) for path in root.rglob("*") if path.is_file())

    stale = "server/web/static/client is stale: run `npm run build:web` in protocol/typescript"
    assert files(committed) == files(tmp_path), stale
    assert [
        name for name in files(tmp_path) if not filecmp.cmp(tmp_path / name, committed / name, shallow=False)
    ] == [], stale
