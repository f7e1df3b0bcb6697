"""Declared dependencies: each is put to use, its floor is the version the tests run, and the lock pins it."""

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
# Used at run time without an import of ours: uvicorn serves /ws with websockets' implementation.
RUNTIME_ONLY = {"websockets", "sniffio"}  # sniffio: imported by httpcore on every request (see pyproject.toml)


def _locked() -> dict[str, tuple[str, int]]:
    """Each locked distribution's version and the number of hashes pinned with it."""
    pins: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", LOCK):
        match = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", block)
        if match:
            pins[canonicalize_name(match[1])] = (match[2], block.count("--hash=sha256:"))
    return pins


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


def test_floors_are_the_locked_versions() -> None:
    """Each direct dependency's floor is exactly the version the lock (CI and the Docker image) installs."""
    pins = _locked()
    for raw in PYPROJECT["project"]["dependencies"] + PYPROJECT["build-system"]["requires"]:
        requirement = Requirement(raw)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: run .ci/lock"
        version, hashes = pins[name]
        assert requirement.specifier.contains(version), f"the lock's {name}=={version} breaks {raw}"
        assert hashes > 0, f"{name} has no hash in requirements.lock"
        if name != "setuptools":  # the build backend: any version the floor admits
            floors = [s.version for s in requirement.specifier if s.operator == ">="]
            assert floors == [version], f"{raw}: raise the floor to the tested {version} (or re-lock)"
