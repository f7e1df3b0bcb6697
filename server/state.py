"""What the lifespan builds and every handler reads from ``request.state``."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

import asyncpg

from .auth.identity import IdentityBackend
from .config import Settings

if TYPE_CHECKING:
    from .chat.service import ChatService
    from .hub.hub import Hub
    from .ratelimit import RateLimiter
    from .rooms.service import RoomService
    from .sensay.client import SensayClient


class AppState(TypedDict):
    settings: Settings
    pool: asyncpg.Pool
    identity: IdentityBackend
    hub: Hub
    chat: ChatService
    rooms: RoomService
    sensay: SensayClient
    limiter: RateLimiter
