"""Due times said in words, read with dateparser relative to a fixed now (Monday 7 Dec 2026, 13:00 UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.context.due_times import parse_due

NOW = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "due"),
    [
        ("the dentist next Tuesday at 9", datetime(2026, 12, 8, 9, 0, tzinfo=UTC)),
        ("call Bob at 5", datetime(2026, 12, 7, 17, 0, tzinfo=UTC)),
        ("call the plumber tomorrow at 5pm", datetime(2026, 12, 8, 17, 0, tzinfo=UTC)),
        ("buy milk on Friday", datetime(2026, 12, 11, 0, 0, tzinfo=UTC)),
        ("meet Ann at 10:30 tomorrow", datetime(2026, 12, 8, 10, 30, tzinfo=UTC)),
    ],
)
def test_a_bare_hour_is_a_clock_time_people_mean(text: str, due: datetime) -> None:
    """ "at 9" is 09:00 and "at 5" 17:00 (dateparser alone drops a bare hour: "next Tuesday at 9" was midnight)."""
    assert parse_due(text, NOW, "UTC") == due


def test_words_without_a_time_have_no_due_time() -> None:
    assert parse_due("buy milk", NOW, "UTC") is None
