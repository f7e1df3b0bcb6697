"""The identity interface: what the API needs from an auth backend (local, or Supabase Auth)."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

import msgspec

from ..store.records import User as User  # re-exported: what the transports show of a user
from .tokens import Principal


class TokenPair(msgspec.Struct, frozen=True):
    """The answer to a login or refresh, in the shape Supabase Auth uses."""

    access_token: str
    refresh_token: str
    expires_in: int
    expires_at: int
    user: User
    token_type: str = "bearer"


class IdentityBackend(Protocol):
    """``client`` is the caller's address, for backends that limit attempts per address."""

    async def signup(self, email: str, password: str, *, client: str = "") -> User: ...

    async def login(self, email: str, password: str, *, client: str = "") -> TokenPair: ...

    async def refresh(self, refresh_token: str, *, client: str = "") -> TokenPair: ...

    async def logout(self, principal: Principal) -> None: ...

    async def authenticate(self, token: str) -> Principal:
        """Verify the token and that its session is live; raise ``AuthError`` otherwise."""
        ...

    async def get_user(self, principal: Principal) -> User: ...

    def session_ended(self, session_id: UUID, expires_at: int) -> None:
        """Another process logged this session out: refuse its tokens here too (until ``expires_at``)."""
        ...
