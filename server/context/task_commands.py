"""Understand task-list commands in chat ("add task buy milk", "mark 2 done", "show my tasks"), sans I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

CommandKind = Literal["add", "complete", "delete", "list"]


@dataclass(frozen=True)
class TaskCommand:
    kind: CommandKind
    description: str | None = None
    position: int | None = None
    """1-based position in the user's task list (oldest first)."""


_NUMBER_WORDS = {
    w: n
    for n, w in enumerate(
        "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
        "eighteen nineteen twenty".split(),
        start=1,
    )
}
_ORDINALS = {
    w: n
    for n, w in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth".split(),
        start=1,
    )
}
_POLITE = r"(?:(?:please|pls|plz|kindly|hey|hi|ok|okay|so|now|and|also|then|(?:can|could|would|will) you)[\s,]+)*"
_TRAIL = r"[\s,]*(?:please|pls|plz|thanks|thank you|for me)?[\s.!?]*$"
_TASK = r"(?:task|to-?do|item)"
_N = r"(?:number\s+|no\.?\s*|#\s*)?(?P<n>\d+|" + "|".join([*_NUMBER_WORDS, *_ORDINALS]) + r")"
_REF = rf"(?:the\s+)?(?:{_TASK}\s*)?{_N}(?:st|nd|rd|th)?(?:\s+{_TASK})?"
_DONE = r"(?:done|complete|completed|finished|checked(?:\s+off)?|ticked(?:\s+off)?)"

_ADD = [
    rf"^{_POLITE}(?:add|create|new|make|put)\s+(?:a\s+)?(?:new\s+)?{_TASK}s?\s*(?:[:\-–]\s*|to\s+|called\s+|for\s+)?"
    rf"(?P<d>.+?){_TRAIL}",
    rf"^{_POLITE}(?:add|put)\s+(?P<d>.+?)\s+(?:to|on|in)(?:to)?\s+(?:my|the)\s+(?:{_TASK}s?|{_TASK}\s+list|list)"
    rf"{_TRAIL}",
    rf"^{_POLITE}remind\s+me\s+to\s+(?P<d>.+?){_TRAIL}",
    rf"^{_POLITE}{_TASK}\s*:\s*(?P<d>.+?){_TRAIL}",
]
_COMPLETE = [
    rf"^{_POLITE}(?:complete|finish|close|check\s+off|tick\s+off|done)\s+(?:with\s+)?{_REF}{_TRAIL}",
    rf"^{_POLITE}mark\s+{_REF}\s+(?:as\s+)?{_DONE}{_TRAIL}",
    rf"^{_POLITE}(?:i\s+)?(?:have\s+|'ve\s+)?(?:finished|completed|did|done)\s+{_REF}{_TRAIL}",
    rf"^{_POLITE}{_REF}\s+(?:is\s+)?{_DONE}{_TRAIL}",
]
_DELETE = [
    rf"^{_POLITE}(?:delete|remove|drop|erase|cancel|discard|get\s+rid\s+of)\s+{_REF}"
    rf"(?:\s+(?:from|off)\s+(?:my|the)\s+(?:list|{_TASK}s?|{_TASK}\s+list))?{_TRAIL}",
]
_LIST = [
    rf"^{_POLITE}(?:list|show|display|view|see|give|tell)\s+(?:me\s+)?(?:all\s+)?(?:of\s+)?(?:my\s+|the\s+)?"
    rf"(?:{_TASK}s|{_TASK}\s+list|list\s+of\s+{_TASK}s)(?:\s+list)?{_TRAIL}",
    rf"^{_POLITE}what(?:'s|\s+is|\s+are|\s+do\s+i\s+have)\s+(?:on\s+)?(?:in\s+)?(?:my\s+|the\s+)?"
    rf"(?:{_TASK}s|{_TASK}\s+list|list)(?:\s+(?:today|now|left))?{_TRAIL}",
    rf"^{_POLITE}(?:my\s+)?(?:{_TASK}s|{_TASK}\s+list){_TRAIL}",
]


def _compile(patterns: list[str]) -> list[re.Pattern[str]]:
    return [re.compile(p, re.IGNORECASE | re.DOTALL) for p in patterns]


_RULES: list[tuple[CommandKind, list[re.Pattern[str]]]] = [
    ("add", _compile(_ADD)),
    ("list", _compile(_LIST)),
    ("complete", _compile(_COMPLETE)),
    ("delete", _compile(_DELETE)),
]


def parse_command(text: str) -> TaskCommand | None:
    """The task command ``text`` asks for, or ``None`` when it is ordinary chat."""
    text = " ".join(text.split())
    for kind, patterns in _RULES:
        for pattern in patterns:
            match = pattern.match(text)
            if match is None:
                continue
            if kind == "add":
                description = _clean(match["d"])
                if description:
                    return TaskCommand("add", description=description)
                continue
            if kind == "list":
                return TaskCommand("list")
            return TaskCommand(kind, position=_number(match["n"]))
    return None


def _number(word: str) -> int:
    word = word.lower()
    return int(word) if word.isdigit() else _NUMBER_WORDS.get(word) or _ORDINALS[word]


def _clean(description: str) -> str:
    return description.strip().strip("\"'“”‘’`").strip()
