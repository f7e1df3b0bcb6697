"""What Pure Voice needs besides the database: the simulated telephony provider, PIN hashing, speech to text."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..auth.passwords import Passwords
from .speech import Recognizer
from .telephony_sim import Telephony

PIN_HASH_WORKERS = 1
"""PINs are hashed rarely (set, and once per call): one thread."""


@dataclass(frozen=True)
class VoiceKit:
    """One process's telephony provider (shared with ``/api/mock/telephony``), PIN hasher and speech recogniser."""

    telephony: Telephony = field(default_factory=Telephony)
    passwords: Passwords = field(default_factory=lambda: Passwords(PIN_HASH_WORKERS))
    speech: Recognizer = field(default_factory=Recognizer)

    def close(self) -> None:
        self.passwords.close()
        self.speech.close()
