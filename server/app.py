"""The Starlette application factory; the lifespan builds every part from the settings and wires them."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, NamedTuple

import asyncpg
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from protocol import WS_PATH, ChangeFrame, ResyncFrame

from . import logs
from .api import mcp_server, proxies
from .api import realtime as realtime_api
from .api.middleware import HttpMetrics, RefuseNul, RequestContext
from .api.problems import exception_handlers
from .api.routes import rest_routes, uses_supabase_auth
from .auth.identity import IdentityBackend
from .auth.keys import SigningKeys, load_or_create_anon_key
from .auth.local import LocalIdentity
from .auth.passwords import Passwords
from .auth.throttle import AuthRates, AuthThrottle
from .broker import create_broker
from .broker.presence import create_presence
from .chat.service import ChatService
from .config import Settings
from .context.conversation import Conversations
from .feed.base import TABLES, Change, ChangeFeed, OnChange, OnGap
from .feed.postgres import PostgresFeed
from .hub.hub import ControlHandler, EndSession, Hub
from .hub.operators import Operators
from .prototypes.service import PrototypeService
from .prototypes.simulations import Simulations
from .ratelimit import RateLimiter
from .realtime.service import Realtime
from .realtime.tokens import Tokens
from .replies import Leases, ReplicaDirectory, Replies
from .rooms.conductor import RoomConductor
from .rooms.service import RoomService
from .sensay.client import SensayClient, build_http_client
from .startup import announce, check_supabase_keys, describe_backends, metrics_listener
from .state import AppState
from .store.database import DEFAULT_STATEMENT_CACHE, create_pool
from .store.embedded import embedded_postgres
from .store.migrate import migrate
from .tables import Tables
from .web import demo
from .ws import endpoint

if TYPE_CHECKING:
    from .sensay.local import LocalReplica

logger = logging.getLogger("server")

SHUTDOWN_CLOSE_SECONDS = 5.0
"""How long the sockets still open at shutdown get to close (replies go on meanwhile)."""


@asynccontextmanager
async def _sensay_base_url(settings: Settings, replica: LocalReplica | None) -> AsyncIterator[tuple[str, str]]:
    """Yield ``(base_url, organization_secret)``: Sensay's, or a local replica's on a loopback port."""
    if settings.sensay_api_key is not None:
        yield settings.sensay_api_url, settings.sensay_api_key.reveal()
        return
    from .sensay.local import create_local_replica, serve_local_replica

    if replica is None:
        replica = create_local_replica(
            organization_secret=secrets.token_urlsafe(24), word_delay=settings.local_replica_word_delay
        )
    async with serve_local_replica(replica) as base_url:
        yield base_url, replica.organization_secret


class HubApp(Starlette):
    """The app, with ``/ws`` handed straight to the hub's endpoint.

    Every idle socket keeps its whole call chain alive; skipping the middleware stack and router
    (which add nothing to a WebSocket: CORS and the exception handlers are for HTTP) saves a few KB per
    socket. The route stays in ``routes`` for anyone serving the plain Starlette stack.

    Request ids and HTTP metrics wrap the whole stack, error middleware included, so 500s have both. Before
    anything reads it, the client's address is resolved from trusted proxies' headers (``TRUSTED_PROXIES``).
    """

    trusted_proxies = proxies.TrustedProxies()

    def build_middleware_stack(self) -> ASGIApp:
        return RequestContext(HttpMetrics(RefuseNul(super().build_middleware_stack()), self.routes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            proxies.apply(scope, self.trusted_proxies)
        if scope["type"] == "websocket" and scope["path"] == WS_PATH:
            scope["app"] = self
            await endpoint.websocket_endpoint(WebSocket(scope, receive, send))
            return
        await super().__call__(scope, receive, send)


def _change_feed(settings: Settings, dsn: str, pool: asyncpg.Pool) -> ChangeFeed:
    """Supabase Realtime when ``SUPABASE_URL`` and ``SUPABASE_SERVICE_ROLE_KEY`` are set, else triggers + NOTIFY."""
    if settings.supabase_url is not None and settings.supabase_service_role_key is not None:
        from .feed.supabase import SupabaseFeed

        return SupabaseFeed(settings.supabase_url, settings.supabase_service_role_key.reveal())
    return PostgresFeed(dsn, pool)


def _forget_session(identity: IdentityBackend) -> ControlHandler[EndSession]:
    """A logout on any process reaches this process's identity backend (Supabase keeps revocations in memory)."""

    async def forget(message: EndSession) -> None:
        identity.session_ended(message.session_id, message.expires_at)

    return forget


def route_changes(hub: Hub) -> tuple[OnChange, OnGap]:
    """Glue from the change feed to the hub: a change goes to its owner's sockets, a gap to everyone."""

    async def on_change(change: Change) -> None:
        frame = ChangeFrame(
            table=change.table,
            op=change.op,
            record=change.record,
            old_record=change.old_record,
            commit_timestamp=change.commit_timestamp,
        )
        hub.send_local(change.user_id, frame)  # every process runs its own feed: no broker hop

    async def on_gap(reason: str) -> None:
        hub.broadcast_local(ResyncFrame(reason=reason, tables=list(TABLES)))

    return on_change, on_gap


def fan_out(*listeners: tuple[OnChange, OnGap]) -> tuple[OnChange, OnGap]:
    """One change feed, several listeners (the hub's sockets, Realtime's channels), called in order."""

    async def on_change(change: Change) -> None:
        for listener, _ in listeners:
            await listener(change)

    async def on_gap(reason: str) -> None:
        for _, listener in listeners:
            await listener(reason)

    return on_change, on_gap


@asynccontextmanager
async def _realtime(
    settings: Settings, pool: asyncpg.Pool, identity: IdentityBackend, hub: Hub, redis_url: str | None
) -> AsyncIterator[tuple[Realtime, Tokens] | None]:
    """``/realtime/v1`` with its own broker connection (broadcast and presence between processes), unless
    ``SUPABASE_URL`` is set."""
    if settings.supabase_url is not None or not isinstance(identity, LocalIdentity):
        yield None
        return
    realtime = Realtime(create_broker(redis_url), pool)
    await realtime.start()
    hub.on_control(EndSession, lambda ended: realtime.end_session(ended.session_id))
    try:
        yield realtime, Tokens(identity.authenticate, identity.anon_key)
    finally:
        await realtime.stop()


def _signing_keys(settings: Settings) -> SigningKeys:
    return SigningKeys.load(
        "ES256" if settings.jwt_signing == "es256" else "HS256",
        data_dir=settings.data_dir,
        secret=settings.jwt_secret.reveal() if settings.jwt_secret is not None else None,
        ec_private_pem=settings.jwt_signing_key.reveal() if settings.jwt_signing_key is not None else None,
    )


def prepare_shared_files(settings: Settings) -> None:
    """Make the local signing keys and anon key in ``DATA_DIR`` once, before several workers read them."""
    if uses_supabase_auth(settings):
        return
    keys = _signing_keys(settings)
    if settings.anon_key is None:
        load_or_create_anon_key(settings.data_dir / "anon-key", keys)


@asynccontextmanager
async def _identity(settings: Settings, pool: asyncpg.Pool, limiter: RateLimiter) -> AsyncIterator[IdentityBackend]:
    """Supabase Auth when ``SUPABASE_URL`` and ``SUPABASE_ANON_KEY`` are set, else local auth."""
    if uses_supabase_auth(settings):
        from .auth.supabase import SupabaseIdentity

        assert settings.supabase_url is not None and settings.supabase_anon_key is not None
        secret = settings.supabase_jwt_secret
        supabase = SupabaseIdentity(
            pool,
            url=settings.supabase_url,
            anon_key=settings.supabase_anon_key.reveal(),
            jwt_secret=secret.reveal() if secret is not None else None,
            issuer=settings.supabase_issuer,
        )
        try:
            verification = await check_supabase_keys(supabase, has_secret=secret is not None)
            logger.info("Supabase tokens verified with %s", verification)
            yield supabase
        finally:
            await supabase.aclose()
        return
    keys = _signing_keys(settings)
    anon_key = settings.anon_key or load_or_create_anon_key(settings.data_dir / "anon-key", keys)
    # Public by design (the front end ships it): printed so that zero configuration is one copy and paste away.
    logs.mark_public(anon_key)  # browsers hold it: the log may show it, unlike every other token
    logger.info("auth: local, %s tokens; supabase-js: url <this server>, anon key %s", keys.algorithm, anon_key)
    passwords = Passwords(settings.password_hash_workers)
    try:
        yield LocalIdentity(
            pool,
            keys=keys,
            anon_key=anon_key,
            passwords=passwords,
            throttle=AuthThrottle(
                limiter,
                AuthRates.parse(
                    signup=settings.rate_limit_signup,
                    login=settings.rate_limit_login,
                    refresh=settings.rate_limit_refresh,
                    email=settings.rate_limit_email,
                    account=settings.rate_limit_account,
                ),
                slowdown=settings.login_slowdown,
            ),
            access_ttl=settings.access_token_ttl,
            refresh_ttl=settings.refresh_token_ttl,
            reuse_interval=settings.refresh_token_reuse_interval,
        )
    finally:
        passwords.close()


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[tuple[asyncpg.Pool, str, int]]:
    """The pool (closed on exit), the DSN of a session-level connection, and how many migrations were applied."""
    async with AsyncExitStack() as stack:
        if settings.database_url is not None:
            dsn = settings.database_url.reveal()
            session_dsn = settings.database_session_url.reveal() if settings.database_session_url else dsn
        else:
            dsn = session_dsn = await stack.enter_async_context(embedded_postgres(settings.data_dir))
        applied = await migrate(session_dsn)  # its advisory lock needs a session of its own
        cache = 0 if settings.database_transaction_pooler else DEFAULT_STATEMENT_CACHE
        pool = await create_pool(dsn, statement_cache_size=cache)
        stack.push_async_callback(pool.close)
        yield pool, session_dsn, len(applied)


@asynccontextmanager
async def _sensay(settings: Settings, replica: LocalReplica | None) -> AsyncIterator[SensayClient]:
    """The Sensay client, for api.sensay.io or the local replica; its HTTP client closed on exit."""
    async with _sensay_base_url(settings, replica) as (base_url, org_secret):
        http = build_http_client(base_url, timeout=settings.sensay_timeout)
        async with http:
            yield SensayClient(http, organization_secret=org_secret)


@asynccontextmanager
async def _hub(settings: Settings, redis_url: str | None, identity: IdentityBackend) -> AsyncIterator[Hub]:
    """The hub over the broker ``redis_url`` chooses, started; stopped on exit."""
    broker = create_broker(redis_url)
    hub = Hub(broker, create_presence(broker, prefix=settings.redis_prefix, ttl=settings.presence_ttl))
    await hub.start()
    try:
        hub.on_control(EndSession, _forget_session(identity))
        yield hub
    finally:
        await hub.stop()


class Services(NamedTuple):
    replicas: ReplicaDirectory
    replies: Replies
    chat: ChatService
    conductor: RoomConductor
    rooms: RoomService
    prototypes: PrototypeService


def _services(settings: Settings, pool: asyncpg.Pool, hub: Hub, sensay: SensayClient) -> Services:
    """The reply pipeline and the services on it; chat and the prototypes share one :class:`Conversations`."""
    replicas = ReplicaDirectory(sensay, default_replica_id=settings.sensay_replica_id)
    leases = Leases(pool, lease=settings.reply_lease_seconds)
    # Retries happen inside the client; a reply as a whole gets a few attempts' worth of time.
    replies = Replies(
        sensay,
        hub,
        timeout=settings.sensay_timeout * 2,
        leases=leases,
        delta_interval=settings.reply_delta_ms / 1000,
        room_delta_interval=settings.room_delta_ms / 1000,
    )
    turns = Conversations(pool, hub, replies, replicas, task_timezone=settings.task_timezone)
    conductor = RoomConductor(pool, hub, replies, replicas, leases)
    return Services(
        replicas=replicas,
        replies=replies,
        chat=ChatService(turns),
        conductor=conductor,
        rooms=RoomService(pool, hub, conductor, replicas),
        prototypes=PrototypeService(pool, hub, replies, replicas, settings, conversations=turns),
    )


@asynccontextmanager
async def _running(
    settings: Settings, replica: LocalReplica | None, mcp: mcp_server.McpEndpoint
) -> AsyncIterator[AppState]:
    """Everything the app runs on, opened in order, and closed in reverse once the hub has drained."""
    async with AsyncExitStack() as stack:
        pool, session_dsn, applied = await stack.enter_async_context(_database(settings))
        redis_url = settings.redis_url.reveal() if settings.redis_url else None
        limiter = RateLimiter(redis_url, prefix=settings.redis_prefix)
        stack.push_async_callback(limiter.aclose)
        identity = await stack.enter_async_context(_identity(settings, pool, limiter))
        sensay = await stack.enter_async_context(_sensay(settings, replica))
        hub = await stack.enter_async_context(_hub(settings, redis_url, identity))
        services = _services(settings, pool, hub, sensay)
        await services.prototypes.seed()
        services.prototypes.start()
        stack.push_async_callback(services.prototypes.stop)
        services.replies.start_sweeping()
        stack.push_async_callback(services.replies.stop_sweeping)
        await stack.enter_async_context(mcp.running())

        served = await stack.enter_async_context(_realtime(settings, pool, identity, hub, redis_url))
        listeners = [route_changes(hub), (mcp.on_change, mcp.on_gap)]
        listeners += [(served[0].on_change, served[0].on_gap)] if served else []
        feed = _change_feed(settings, session_dsn, pool)  # LISTEN needs a session too
        await feed.start(*fan_out(*listeners))
        stack.push_async_callback(feed.stop)
        stack.enter_context(metrics_listener(settings))
        announce(settings, describe_backends(settings, applied))
        try:
            yield AppState(
                settings=settings,
                pool=pool,
                identity=identity,
                hub=hub,
                replicas=services.replicas,
                chat=services.chat,
                rooms=services.rooms,
                prototypes=services.prototypes,
                simulations=Simulations(pool, services.prototypes.context),
                limiter=limiter,
                operators=Operators(hub),
                realtime=served[0] if served else None,
                realtime_tokens=served[1] if served else None,
                tables=Tables(pool),
            )
        finally:
            # Before anything closes (the Sensay client, the broker, the pool): replies and room turns finish
            # within the drain, and what is still running is handed over, never failed by a closed stream.
            await hub.drain(SHUTDOWN_CLOSE_SECONDS)
            drain = settings.shutdown_drain_seconds
            await asyncio.gather(services.replies.drain(drain), services.conductor.drain(drain))


def _middleware(settings: Settings) -> list[Middleware]:
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.allowed_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            # What supabase-js sends to /auth/v1, and the answers' headers it reads.
            allow_headers=["Authorization", "Content-Type", "apikey", "X-Client-Info", "X-Supabase-Api-Version"],
            expose_headers=["X-Supabase-Api-Version", "Retry-After"],
            max_age=600,
        )
    ]


def create_app(settings: Settings | None = None, *, replica: LocalReplica | None = None) -> Starlette:
    """Build the app; nothing is opened until the lifespan starts.

    ``replica`` replaces the local replica the app would build (tests use it to inject faults).
    """
    settings = settings if settings is not None else Settings.from_env()
    mcp = mcp_server.McpEndpoint()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[AppState]:
        async with _running(settings, replica, mcp) as state:
            yield state

    routes = [
        *rest_routes(settings),
        *endpoint.routes,
        *realtime_api.routes(settings),
        *mcp_server.routes(mcp),
        *demo.routes,
    ]
    app = HubApp(
        routes=routes, middleware=_middleware(settings), exception_handlers=exception_handlers, lifespan=lifespan
    )
    app.trusted_proxies = proxies.TrustedProxies(proxies.parse_networks(",".join(settings.trusted_proxies)))
    return app
