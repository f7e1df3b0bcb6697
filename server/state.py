"""What the lifespan builds, and the typed accessor every handler reads it through."""

from __future__ import annotations

from typing import TypedDict, cast

import asyncpg
from starlette.requests import HTTPConnection

from .auth.identity import IdentityBackend
from .chat.service import ChatService
from .config import Settings
from .hub.hub import Hub
from .hub.operators import Operators
from .prototypes.service import PrototypeService
from .prototypes.simulations import Simulations
from .ratelimit import RateLimiter
from .realtime.service import Realtime
from .realtime.tokens import Tokens
from .replies import ReplicaDirectory
from .rooms.service import RoomService
from .store.database import readiness
from .tables import Tables


class AppState(TypedDict):
    settings: Settings
    pool: asyncpg.Pool
    identity: IdentityBackend
    hub: Hub
    replicas: ReplicaDirectory
    chat: ChatService
    rooms: RoomService
    prototypes: PrototypeService
    simulations: Simulations
    limiter: RateLimiter
    operators: Operators
    realtime: Realtime | None
    """``/realtime/v1``'s channels; ``None`` when ``SUPABASE_URL`` is set."""
    realtime_tokens: Tokens | None
    tables: Tables
    """``/rest/v1``'s tables (served with the local auth backend only)."""


async def not_ready(state: AppState) -> str | None:
    """Why the service cannot take requests (the database does not answer, or is not migrated), else ``None``."""
    return await readiness(state["pool"])


def app_state(conn: HTTPConnection) -> AppState:
    """The lifespan's state (Starlette hands each request and socket a shallow copy as ``scope["state"]``)."""
    return cast(AppState, conn.scope["state"])
