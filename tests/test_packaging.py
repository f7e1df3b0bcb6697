"""The built distribution: an SPDX license with its text, and the README as the package's description."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from email.parser import HeaderParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_license_is_an_spdx_expression_with_its_text_beside_it() -> None:
    """pyproject.toml says ``license = "MIT"`` (not the deprecated table) and LICENSE holds the MIT text."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_the_wheel_carries_the_readme_and_the_license(tmp_path: Path) -> None:
    """A wheel built from the tree describes itself with README.md and ships LICENSE (as the image's build does)."""
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), ROOT],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = tmp_path.glob("sensay_hub-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(metadata_name).decode()
    headers = HeaderParser().parsestr(metadata)
    assert headers["License-Expression"] == "MIT"
    assert headers["Description-Content-Type"] == "text/markdown"
    assert "# sensay-hub" in metadata and "## Quick start" in metadata
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
