"""What the lifespan says and checks at start-up: one block naming every backend in use, the Supabase
key check that refuses to run when no token could ever be verified, and the optional metrics port."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from prometheus_client import start_http_server

from .config import Settings
from .metrics import VERSION
from .store.embedded import describe_embedded

if TYPE_CHECKING:
    from .auth.supabase import SupabaseIdentity

logger = logging.getLogger("server")


class StartupError(RuntimeError):
    """The configuration cannot work; the message says what to change."""


def _where(url: str) -> str:
    """``host:port/database`` of a PostgreSQL URL: never the user or password."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'local socket'}:{parts.port or 5432}{parts.path or '/'}"


def describe_database(settings: Settings, migrations_applied: int) -> str:
    if settings.database_url is None:
        where = f"embedded {describe_embedded(settings.data_dir)} in {settings.data_dir / 'pg'}"
    else:
        where = f"PostgreSQL at {_where(settings.database_url.reveal())}"
        if settings.database_transaction_pooler:
            where += " (transaction pooler: statement cache off)"
        if settings.database_session_url is not None:
            where += f"; LISTEN and migrations at {_where(settings.database_session_url.reveal())}"
    return f"{where}; {migrations_applied} migration(s) applied now"


def describe_backends(settings: Settings, migrations_applied: int) -> dict[str, str]:
    """Each part and what serves it, for the start-up block."""
    supabase = settings.supabase_url
    if settings.supabase_url is not None and settings.supabase_service_role_key is not None:
        feed = f"Supabase Realtime at {supabase}"
    else:
        feed = "PostgreSQL triggers + LISTEN/NOTIFY"
    metrics = "/metrics (loopback clients or the service key)"
    if settings.metrics_port is not None:
        metrics += f", and port {settings.metrics_port} without a key"
    return {
        "database": describe_database(settings, migrations_applied),
        "replicas": "local replica (no SENSAY_API_KEY)"
        if settings.sensay_api_key is None
        else f"Sensay API at {settings.sensay_api_url}",
        "auth": f"Supabase Auth at {supabase}" if supabase and settings.supabase_anon_key else "local (HS256 tokens)",
        "change feed": feed,
        "broker": "Redis" if settings.redis_url is not None else "in-process",
        "metrics": metrics,
        "logs": f"{settings.log_format}, level {settings.log_level}",
    }


def announce(settings: Settings, backends: dict[str, str]) -> None:
    """Log the start-up block: one record (one JSON object with ``LOG_FORMAT=json``)."""
    url = f"http://{settings.host}:{settings.port}"
    lines = [f"sensay-hub {VERSION} serving {url} (WebSocket at /ws)"]
    width = max(map(len, backends))
    lines += [f"  {name.ljust(width)}  {value}" for name, value in backends.items()]
    logger.info("\n".join(lines), extra={"version": VERSION, "url": url, "backends": backends})


async def check_supabase_keys(identity: SupabaseIdentity, *, has_secret: bool) -> str:
    """Fetch the project's JWKS now; say how tokens will be verified, and refuse a setup that verifies none."""
    jwks = identity.jwks
    if jwks is None:
        return "HS256 (SUPABASE_JWT_SECRET)"
    await jwks.refresh()
    kids = sorted(jwks.kids)
    if kids:
        return f"JWKS ({len(kids)} signing key(s))" + (" and HS256 (SUPABASE_JWT_SECRET)" if has_secret else "")
    if has_secret:
        return "HS256 (SUPABASE_JWT_SECRET); the JWKS has no signing keys yet"
    if jwks.loaded:
        raise StartupError(
            f"Supabase tokens cannot be verified: the JWKS at {jwks.jwks_url} has no asymmetric signing keys "
            "(the project signs with its legacy HS256 secret) and SUPABASE_JWT_SECRET is not set. Set "
            "SUPABASE_JWT_SECRET to the project's JWT secret, or move the project to asymmetric signing keys."
        )
    logger.error(
        "Supabase tokens cannot be verified yet: the JWKS at %s did not answer and SUPABASE_JWT_SECRET is not set; "
        "every token is refused until the JWKS answers",
        jwks.jwks_url,
    )
    return "JWKS (not reachable yet)"


@contextmanager
def metrics_listener(settings: Settings) -> Iterator[None]:
    """Serve ``/metrics`` on ``METRICS_PORT`` (prometheus-client's own server, in a thread) while inside."""
    if settings.metrics_port is None:
        yield
        return
    server, thread = start_http_server(settings.metrics_port, addr=settings.host)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
