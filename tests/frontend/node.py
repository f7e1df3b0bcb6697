"""Running the TypeScript client's tooling and Node tests from pytest (Node 20+ and npm must be installed)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[2]
PACKAGE: Final = ROOT / "protocol" / "typescript"
TEST_BUILD: Final = PACKAGE / ".test-build" / os.environ.get("PYTEST_XDIST_WORKER", "main")
"""Where this pytest process compiles the Node tests: one directory per xdist worker, so that one worker's fresh
compile never deletes the files another is running."""
SUPABASE_JS_PROJECT: Final = ROOT / "tests" / "auth" / "js"
"""The npm project with the supabase-js version the tests run (``npm ci``'d by tests/auth/test_supabase_js.py)."""
_TS_BLOCK: Final = re.compile(r"^```ts\n(.*?)^```", re.DOTALL | re.MULTILINE)


def run(*command: str, timeout: float = 300) -> str:
    """Run a command in the package directory; fail the test with its output if it fails."""
    result = subprocess.run(
        command, cwd=PACKAGE, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"`{' '.join(command)}` failed (exit {result.returncode}):\n{output}"
    return output


def install_dependencies() -> None:
    """``npm ci`` when ``node_modules`` is missing or older than the lockfile."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("Node 20+ and npm are needed for the TypeScript client's tests")
    installed = PACKAGE / "node_modules" / ".package-lock.json"
    lock = PACKAGE / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        run("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")


def tsc(*args: str) -> str:
    return run("node", "node_modules/typescript/bin/tsc", *args)


async def node_test(name: str, timeout: float = 100, **env: str) -> None:
    """Run ``test/<name>.test.ts`` (compiled) with ``node --test``; fail with Node's output if any test fails."""
    process = await asyncio.create_subprocess_exec(
        "node",
        "--test",
        "--test-reporter=spec",
        str(TEST_BUILD / "test" / f"{name}.test.js"),
        cwd=PACKAGE,
        env={**os.environ, **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(timeout):
            output, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, f"node --test {name} failed (exit {process.returncode}):\n{output.decode()}"


def readme_typescript() -> list[str]:
    """The README's ```ts blocks, in order."""
    return _TS_BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def strict_project(directory: Path, files: list[str], *, out_dir: Path | None = None) -> Path:
    """A strict tsconfig in ``directory`` for ``files``, resolving ``@sensay-hub/client`` to the client's sources
    and ``@supabase/supabase-js`` to the tests' copy; it emits ES2022 modules to ``out_dir`` when given."""
    config = {
        "compilerOptions": {
            "target": "ES2022",
            "module": "ES2022",
            "moduleResolution": "bundler",
            "lib": ["ES2022", "DOM"],
            "strict": True,
            "skipLibCheck": True,
            "types": ["node"],
            "typeRoots": [str(PACKAGE / "node_modules" / "@types")],
            "paths": {
                "@sensay-hub/client": [str(PACKAGE / "src" / "index.ts")],
                "@supabase/supabase-js": [str(SUPABASE_JS_PROJECT / "node_modules" / "@supabase" / "supabase-js")],
                "ws": [str(PACKAGE / "node_modules" / "@types" / "ws")],
            },
            **({"outDir": str(out_dir)} if out_dir is not None else {"noEmit": True}),
        },
        "files": files,
    }
    path = directory / "tsconfig.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path
