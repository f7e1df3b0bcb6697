"""Fixtures of the front-end tests: the TypeScript package built once per session, servers tuned for them."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from server.config import Settings

from .node import TEST_BUILD, install_dependencies, tsc


@pytest.fixture(scope="session")
def node_tests() -> Path:
    """The Node tests compiled with the client's sources (``npm ci`` first when needed)."""
    install_dependencies()
    shutil.rmtree(TEST_BUILD, ignore_errors=True)
    tsc("-p", "tsconfig.test.json", "--outDir", str(TEST_BUILD))
    return TEST_BUILD


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared test settings with room for a slowly streamed reply on a busy machine."""
    return replace(settings, sensay_timeout=10.0)
