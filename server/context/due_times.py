"""Due times in task descriptions ("call the plumber tomorrow at 5pm"), found with dateparser."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from dateparser.search import search_dates

# dateparser also reads lone words such as "may" or "march" as dates; a due time must say more than that.
_TIME_WORDS: Final = re.compile(
    r"\d|\b(?:today|tonight|tomorrow|noon|midnight|morning|afternoon|evening|next|week|weekend|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
    re.IGNORECASE,
)

# dateparser drops a bare hour ("next Tuesday at 9"); say it as a clock time, 1-6 in the afternoon as people mean.
_BARE_HOUR: Final = re.compile(
    r"\b(at|by|around)\s+(1[0-2]|[1-9])\b(?!\s*(?:[:.]\d|am\b|pm\b|a\.m|p\.m|o'?clock))", re.IGNORECASE
)


def _clock(found: re.Match[str]) -> str:
    hour = int(found[2])
    return f"{found[1]} {hour + 12 if hour <= 6 else hour:02d}:00"


def parse_due(text: str, now: datetime, timezone: str) -> datetime | None:
    """The first future time ``text`` names, read in ``timezone`` relative to ``now`` (aware); ``None`` if none.

    CPU-bound (tens of milliseconds): call it off the event loop.
    """
    zone = ZoneInfo(timezone)
    local_now = now.astimezone(zone).replace(tzinfo=None)
    settings = {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": local_now,
        "TIMEZONE": timezone,
        "RETURN_AS_TIMEZONE_AWARE": True,
    }
    found = search_dates(_BARE_HOUR.sub(_clock, text), languages=["en"], settings=settings)
    for phrase, when in found or []:
        if not _TIME_WORDS.search(phrase):
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=zone)
        if when < now - timedelta(minutes=1):  # "at 9am" said at 10am means tomorrow's
            when += timedelta(days=1)
        return when
    return None
