"""Finding a message we sent in Sensay's chat history, to tell whether Sensay took it in (no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from .models import ChatHistoryItem, HistoryMatch

# How far Sensay's clock may be behind ours when looking for a message we just sent.
CLOCK_SKEW: Final = timedelta(seconds=30)


def match_in_history(items: Sequence[ChatHistoryItem], content: str, since: datetime) -> HistoryMatch | None:
    """The newest user message ``content`` in ``items`` at or after ``since`` (less clock skew), with its answer.

    Sensay's history does not link an answer to its question, so answers are paired with questions in order
    (each answer goes to the oldest question not yet answered): exact for one conversation at a time.
    """
    earliest = since - CLOCK_SKEW
    waiting: list[int] = []
    answers: dict[int, str] = {}
    for index, item in enumerate(items):
        if item.role == "user":
            waiting.append(index)
        elif item.role == "assistant" and waiting:
            answers[waiting.pop(0)] = item.content
    for index in range(len(items) - 1, -1, -1):
        item = items[index]
        if item.role == "user" and item.content == content and _aware(item.created_at) >= earliest:
            return HistoryMatch(answers.get(index))
    return None


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
