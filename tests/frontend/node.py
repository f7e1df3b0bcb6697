"""Running the TypeScript client's tooling and Node tests from pytest (Node 20+ and npm must be installed)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path
from typing import Final

import pytest

PACKAGE: Final = Path(__file__).resolve().parents[2] / "protocol" / "typescript"
TEST_BUILD: Final = PACKAGE / ".test-build"


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
