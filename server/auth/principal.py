"""Who a verified token speaks for: what the token checks return and the token cache keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token speaks for."""

    user_id: UUID
    email: str | None
    role: str
    session_id: UUID | None
    expires_at: int
    # The bearer token itself, for backends that must present it upstream again (Supabase logout).
    access_token: str | None = field(default=None, repr=False, compare=False)
