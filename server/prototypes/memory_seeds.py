"""The memories the local replica's personas ship with: two per lockable tier, so a new user has something to
unlock on day one.

Public memories are left out on purpose: a public memory is told to every user in every chat with the replica,
and a persona's public knowledge is its system message. A real Sensay replica's memories are seeded by the
operator (``POST /api/server/memories``), with the same rule.
"""

from __future__ import annotations

from typing import Final, Literal

from ..sensay.local import ADA_LOVELACE_UUID, SENSAY_GUIDE_UUID, SOCRATES_UUID, TASK_MEMORY_UUID

SeedTier = Literal["premium", "expert", "exclusive"]

LOCAL_SEEDS: Final[dict[str, tuple[tuple[SeedTier, str], ...]]] = {
    ADA_LOVELACE_UUID: (
        ("premium", "Her notes on Menabrea's article came out three times longer than the article itself."),
        ("premium", "She signed her translation only with her initials, A.A.L."),
        ("expert", "Note G walks the Analytical Engine through computing the Bernoulli numbers, step by step."),
        ("expert", "She saw that the Engine could compose music if pitch and harmony were put into its notation."),
        ("exclusive", "She called her way of thinking 'poetical science' and meant it as a method, not a joke."),
        ("exclusive", "Her last letters to Babbage argue about who should publish the Engine's designs."),
    ),
    SOCRATES_UUID: (
        ("premium", "He never wrote a line: everything said of him comes from Plato, Xenophon and Aristophanes."),
        ("premium", "He served as a hoplite at Potidaea and is said to have saved Alcibiades there."),
        ("expert", "The oracle at Delphi named him the wisest of men; he set out to prove it wrong."),
        ("expert", "He likened himself to a midwife: he delivers other people's ideas and tests whether they live."),
        ("exclusive", "He spoke of a daimonion, an inner voice that only ever told him what not to do."),
        ("exclusive", "At his trial he proposed free meals in the Prytaneum as his 'punishment'."),
    ),
    SENSAY_GUIDE_UUID: (
        ("premium", "A replica answers from what it was trained on, and says so when it does not know."),
        ("premium", "Replicas can be public, private, or shared with a link."),
        ("expert", "The API keeps each conversation's history itself: a client sends only the newest message."),
        ("expert", "An organization secret plus a user id lets a back end act as that user."),
        ("exclusive", "The showcase's seven prototypes each run on the same chat API underneath."),
        ("exclusive", "Token-gated memories let a replica's owner decide who hears which of its stories."),
    ),
    TASK_MEMORY_UUID: (
        ("premium", "Tasks with a due time get a reminder on every open tab when they come due."),
        ("premium", "A task can be added from chat, from the REST API or from an MCP client."),
        ("expert", "Small tasks done first in the morning make the longer ones easier to start."),
        ("expert", "A list of more than seven open tasks is better split by day."),
        ("exclusive", "Writing a task down is the first step of doing it: the reminder does the rest."),
        ("exclusive", "The oldest open task is usually the one most worth dropping or doing today."),
    ),
}
"""Replica id -> (tier, content) of each memory it ships with (at the tier's price)."""
