"""Every REST route of the app, in matching order; ``/openapi.json`` describes exactly these."""

from __future__ import annotations

from starlette.routing import BaseRoute

from ..config import Settings
from . import (
    auth,
    conversations,
    gotrue,
    gotrue_links,
    health,
    metrics,
    mock,
    openapi,
    postgrest,
    prototypes,
    replicas,
    rooms,
    server_api,
    tasks,
    voice,
)


def uses_supabase_auth(settings: Settings) -> bool:
    return settings.supabase_url is not None and settings.supabase_anon_key is not None


def rest_routes(settings: Settings) -> list[BaseRoute]:
    """The REST routes the app serves with ``settings`` (a new module's ``routes`` is added here)."""
    return [
        *health.routes,
        *metrics.routes,
        *server_api.routes,
        *auth.routes,
        # with Supabase, supabase-js talks to it; the key-free routes first (gotrue's catch-all answers the rest)
        *([] if uses_supabase_auth(settings) else [*gotrue_links.routes, *gotrue.routes]),
        *([] if uses_supabase_auth(settings) else postgrest.routes),
        *conversations.routes,
        *tasks.routes,
        *replicas.routes,
        *rooms.routes,
        *prototypes.routes,
        *voice.routes,
        *mock.routes,
        *openapi.routes,
    ]
