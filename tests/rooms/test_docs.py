"""The README's chatroom section says what the code does: every mode, its phases in order, every frame of a run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from protocol import SERVER_FRAME_TYPES
from server.rooms import modes
from server.store.records import RoomMode

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def mode_rows() -> dict[str, str]:
    """The rows of the modes table, by mode."""
    section = README.split("### Chatrooms", 1)[1].split("\n### ", 1)[0]
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)`.*$", section, re.MULTILINE)}


def test_the_readme_lists_every_mode_and_its_phases_in_order() -> None:
    """Each mode has a row; a phased mode's row names its phases in the order they run."""
    rows = mode_rows()
    assert set(rows) == set(get_args(RoomMode))
    for mode, phases in modes.PHASES.items():
        expected = [phase.name for phase in phases]
        assert [word for word in re.findall(r"`(\w+)`", rows[mode]) if word in expected] == expected, mode


def test_the_readme_shows_every_frame_of_a_run() -> None:
    """The run's frames, and the announcement of a new mode, are in the examples."""
    section = README.split("### Chatrooms", 1)[1].split("\n### ", 1)[0]
    for frame in ("room.turns", "room.phase", "room.vote", "room.verdict", "room.mode"):
        assert frame in SERVER_FRAME_TYPES and f'"type": "{frame}"' in section
