"""The README's tables say what the code does: error codes, close codes and configuration defaults."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from protocol import CloseCode, ErrorCode
from server.config import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def table(header: str) -> list[list[str]]:
    """The rows of the README table whose header row starts with ``header`` (cells stripped)."""
    lines = README.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]*)`", cell)


def test_every_error_code_is_in_the_readme_as_the_protocol_defines_it() -> None:
    """Each ErrorCode has a row with its HTTP status, whether the socket sends it, and whether it is retryable."""
    rows = {ticked(row[0])[0]: row for row in table("| code | HTTP status |")}
    assert set(rows) == {code.value for code in ErrorCode}
    for code in ErrorCode:
        _, status, socket, retryable, _ = rows[code.value]
        assert status == str(code.http_status or "-"), code
        assert socket == ("yes" if code.socket else "no"), code
        assert retryable == ("yes" if code.retryable else "no"), code


def test_every_close_code_is_in_the_readme() -> None:
    """The close-code table lists exactly the codes of the AsyncAPI document (CloseCode), 1007 included."""
    listed = {int(row[0]) for row in table("| code | when | reconnect? |")}
    assert listed == {int(code) for code in CloseCode}
    assert 1007 in listed


def test_configuration_defaults_are_the_code_s() -> None:
    """Each setting is in the README, with the default Settings has (prose when the default is computed or unset)."""
    rows = table("| variable | default | meaning |")
    documented: dict[str, str] = {}
    for variable, default, _ in rows:
        names = ticked(variable)
        values = ticked(default) if default.startswith("`") else [""] * len(names)  # else prose: no fixed value
        if len(values) != len(names):  # `A` + `B`: one default for both
            values = values * len(names) if len(values) == 1 else [""] * len(names)
        documented.update(zip(names, values, strict=True))
    # A field is read from the variable of its name, or the one its metadata names (``env``: None when derived).
    defaults = {
        field.metadata.get("env", field.name.upper()): field
        for field in dataclasses.fields(Settings)
        if field.metadata.get("env", "") is not None
    }
    assert set(defaults) == set(documented)
    settings = Settings()
    for name, shown in documented.items():
        value = getattr(settings, defaults[name].name)
        if not shown:
            assert value is None or defaults[name].default is dataclasses.MISSING, f"{name}: README shows no default"
        elif isinstance(value, tuple):
            assert shown == ",".join(value), name
        elif isinstance(value, Path):
            assert Path(shown) == value, name
        elif isinstance(value, (int, float)):
            assert float(shown) == value, name
        else:
            assert shown == value, name
