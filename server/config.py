"""Settings read from environment variables, validated once at start-up.

Every setting has an embedded default, so an empty environment runs the whole service locally:
embedded PostgreSQL in ``DATA_DIR``, the local replica, local auth and the in-process broker.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from limits import parse


class ConfigError(ValueError):
    """A setting is invalid; the message names the environment variable."""


class Secret:
    """A string that never shows itself in ``repr`` or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)


LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
LOG_FORMATS = ("text", "json")
TRANSACTION_POOLER_PORT = 6543
"""Supabase's (Supavisor's) transaction-mode port; its session mode is 5432 on the same host."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The validated configuration of one process."""

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".sensay-hub")
    log_level: str = "info"
    log_format: str = "text"
    access_log: bool = True
    allowed_origins: tuple[str, ...] = ("http://localhost:3000", "http://127.0.0.1:3000")
    database_url: Secret | None = None
    database_session_url: Secret | None = None
    database_transaction_pooler: bool = field(default=False, metadata={"env": None})  # derived from DATABASE_URL
    embedded_database_allowed: bool = field(default=True, metadata={"env": "EMBEDDED_DATABASE"})
    jwt_secret: Secret | None = None
    jwt_signing: str = "hs256"
    jwt_signing_key: Secret | None = None
    anon_key: str | None = None
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 30 * 24 * 3600
    refresh_token_reuse_interval: int = 10
    rate_limit_signup: str = "30/5minutes"
    rate_limit_login: str = "30/5minutes"
    rate_limit_refresh: str = "150/5minutes"
    rate_limit_email: str = "10/5minutes"
    rate_limit_account: str = "20/5minutes"
    login_slowdown: float = 1.0
    password_hash_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    redis_prefix: str = "sensay-hub"
    sensay_api_key: Secret | None = None
    sensay_api_url: str = "https://api.sensay.io"
    sensay_replica_id: str | None = None
    sensay_timeout: float = 30.0
    local_replica_word_delay: float = 0.0
    reply_lease_seconds: float = 10.0
    shutdown_drain_seconds: float = 8.0
    reply_delta_ms: float = 40.0
    supabase_url: str | None = None
    supabase_anon_key: Secret | None = None
    supabase_jwt_secret: Secret | None = None
    supabase_service_role_key: Secret | None = None
    supabase_verify_issuer: bool = True
    service_key: Secret | None = None
    metrics_port: int | None = None
    http_max_header_bytes: int = 32 * 1024
    trusted_proxies: tuple[str, ...] = field(default_factory=tuple)  # none: no peer may name another client
    redis_url: Secret | None = None
    presence_ttl: float = 15.0
    ws_max_frame_bytes: int = 64 * 1024
    ws_send_queue: int = 256
    ws_auth_timeout: float = 5.0
    ws_heartbeat_interval: float = 20.0
    ws_max_sockets_per_user: int = 32
    ws_max_sockets_per_address: int = 256
    ws_user_frame_rate: str = "100/second"  # five tabs at the socket rate; above one socket's burst
    rest_write_rate: str = "120/minute"
    scheduler_interval: float = 1.0
    memory_stake_seconds: float = 7 * 24 * 3600.0
    memory_stake_decay_percent: int = 10
    task_timezone: str = "UTC"
    voice_call_max_seconds: float = 600.0
    voice_pin_attempts: int = 3

    @property
    def voice_count_grace(self) -> float:
        """The longest gap between two counts of a call's talk time that is still talk (longer: downtime)."""
        return 2 * self.scheduler_interval + 1.0

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def local_replica(self) -> bool:
        return self.sensay_api_key is None

    @property
    def server_api_key(self) -> Secret | None:
        """The key of ``/metrics`` and the server API: ``SERVICE_KEY``, else Supabase's service-role key."""
        return self.service_key or self.supabase_service_role_key

    @property
    def supabase_issuer(self) -> str | None:
        """The ``iss`` Supabase access tokens must carry, unless ``SUPABASE_VERIFY_ISSUER=0``."""
        if self.supabase_url is None or not self.supabase_verify_issuer:
            return None
        return f"{self.supabase_url}/auth/v1"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting; raise :class:`ConfigError` naming the first bad variable."""
        env = os.environ if environ is None else environ
        reader = _Reader(env)
        database_url = reader.url("DATABASE_URL", ("postgres", "postgresql"))
        session_url = reader.url("DATABASE_SESSION_URL", ("postgres", "postgresql"))
        embedded_allowed = reader.boolean("EMBEDDED_DATABASE", True)
        if database_url is None and not embedded_allowed:
            raise ConfigError(
                "DATABASE_URL: not set, and EMBEDDED_DATABASE=0 forbids the embedded database "
                "(set DATABASE_URL, or EMBEDDED_DATABASE=1 to keep data inside the container)"
            )
        pooler = database_url is not None and is_transaction_pooler(database_url.reveal())
        if pooler and database_url is not None:
            database_url = Secret(without_pgbouncer_flag(database_url.reveal()))
            if session_url is None:
                session_url = supabase_session_url(database_url.reveal())
            if session_url is None:
                raise ConfigError(
                    "DATABASE_SESSION_URL: DATABASE_URL is a transaction pooler (port 6543 or pgbouncer=true), "
                    "which cannot hold LISTEN or the migration lock; set DATABASE_SESSION_URL to a session "
                    "connection (a direct connection, or the pooler's session mode)"
                )
        return cls(
            host=reader.text("HOST", "127.0.0.1"),
            port=reader.integer("PORT", 8000, low=0, high=65535),
            data_dir=Path(reader.text("DATA_DIR", ".sensay-hub")),
            log_level=reader.choice("LOG_LEVEL", "info", LOG_LEVELS),
            log_format=reader.choice("LOG_FORMAT", "text", LOG_FORMATS),
            access_log=reader.boolean("ACCESS_LOG", True),
            allowed_origins=reader.origins("ALLOWED_ORIGINS", cls.allowed_origins),
            database_url=database_url,
            database_session_url=session_url,
            database_transaction_pooler=pooler,
            embedded_database_allowed=embedded_allowed,
            jwt_secret=reader.secret("JWT_SECRET", min_length=32),
            jwt_signing=reader.choice("JWT_SIGNING", "hs256", ("hs256", "es256")),
            jwt_signing_key=reader.ec_private_key("JWT_SIGNING_KEY"),
            anon_key=reader.optional("ANON_KEY"),
            access_token_ttl=reader.integer("ACCESS_TOKEN_TTL", 3600, low=30, high=7 * 24 * 3600),
            refresh_token_ttl=reader.integer("REFRESH_TOKEN_TTL", 30 * 24 * 3600, low=60, high=365 * 24 * 3600),
            refresh_token_reuse_interval=reader.integer("REFRESH_TOKEN_REUSE_INTERVAL", 10, low=0, high=3600),
            rate_limit_signup=reader.rate("RATE_LIMIT_SIGNUP", cls.rate_limit_signup),
            rate_limit_login=reader.rate("RATE_LIMIT_LOGIN", cls.rate_limit_login),
            rate_limit_refresh=reader.rate("RATE_LIMIT_REFRESH", cls.rate_limit_refresh),
            rate_limit_email=reader.rate("RATE_LIMIT_EMAIL", cls.rate_limit_email),
            rate_limit_account=reader.rate("RATE_LIMIT_ACCOUNT", cls.rate_limit_account),
            login_slowdown=reader.number("LOGIN_SLOWDOWN", 1.0, low=0.0, high=30.0),
            password_hash_workers=reader.integer("PASSWORD_HASH_WORKERS", os.cpu_count() or 1, low=1, high=256),
            redis_prefix=reader.text("REDIS_PREFIX", "sensay-hub"),
            sensay_api_key=reader.secret("SENSAY_API_KEY"),
            sensay_api_url=reader.http_url("SENSAY_API_URL", "https://api.sensay.io"),
            sensay_replica_id=reader.optional("SENSAY_REPLICA_ID"),
            sensay_timeout=reader.number("SENSAY_TIMEOUT", 30.0, low=0.1, high=600.0),
            local_replica_word_delay=reader.number("LOCAL_REPLICA_WORD_DELAY", 0.0, low=0.0, high=10.0),
            reply_lease_seconds=reader.number("REPLY_LEASE_SECONDS", 10.0, low=0.5, high=10.0),
            shutdown_drain_seconds=reader.number("SHUTDOWN_DRAIN_SECONDS", 8.0, low=0.0, high=300.0),
            reply_delta_ms=reader.number("REPLY_DELTA_MS", 40.0, low=0.0, high=1000.0),
            supabase_url=reader.optional_http_url("SUPABASE_URL"),
            supabase_anon_key=reader.secret("SUPABASE_ANON_KEY"),
            supabase_jwt_secret=reader.secret("SUPABASE_JWT_SECRET"),
            supabase_service_role_key=reader.secret("SUPABASE_SERVICE_ROLE_KEY"),
            supabase_verify_issuer=reader.boolean("SUPABASE_VERIFY_ISSUER", True),
            service_key=reader.secret("SERVICE_KEY", min_length=32),
            metrics_port=reader.optional_integer("METRICS_PORT", low=1, high=65535),
            http_max_header_bytes=reader.integer("HTTP_MAX_HEADER_BYTES", 32 * 1024, low=4096, high=1024 * 1024),
            trusted_proxies=reader.networks("TRUSTED_PROXIES"),
            redis_url=reader.url("REDIS_URL", ("redis", "rediss")),
            presence_ttl=reader.number("PRESENCE_TTL", 15.0, low=1.0, high=3600.0),
            ws_max_frame_bytes=reader.integer("WS_MAX_FRAME_BYTES", 64 * 1024, low=1024, high=16 * 1024 * 1024),
            ws_send_queue=reader.integer("WS_SEND_QUEUE", 256, low=1, high=100_000),
            ws_auth_timeout=reader.number("WS_AUTH_TIMEOUT", 5.0, low=0.1, high=300.0),
            ws_heartbeat_interval=reader.number("WS_HEARTBEAT_INTERVAL", 20.0, low=0.1, high=3600.0),
            ws_max_sockets_per_user=reader.integer("WS_MAX_SOCKETS_PER_USER", 32, low=1, high=100_000),
            ws_max_sockets_per_address=reader.integer("WS_MAX_SOCKETS_PER_ADDRESS", 256, low=1, high=1_000_000),
            ws_user_frame_rate=reader.rate("WS_USER_FRAME_RATE", "100/second"),
            rest_write_rate=reader.rate("REST_WRITE_RATE", "120/minute"),
            scheduler_interval=reader.number("SCHEDULER_INTERVAL", 1.0, low=0.05, high=60.0),
            memory_stake_seconds=reader.number("MEMORY_STAKE_SECONDS", 7 * 24 * 3600.0, low=1.0, high=3650 * 86400.0),
            memory_stake_decay_percent=reader.integer("MEMORY_STAKE_DECAY_PERCENT", 10, low=0, high=100),
            task_timezone=reader.timezone("TASK_TIMEZONE", "UTC"),
            voice_call_max_seconds=reader.number("VOICE_CALL_MAX_SECONDS", 600.0, low=1.0, high=86400.0),
            voice_pin_attempts=reader.integer("VOICE_PIN_ATTEMPTS", 3, low=1, high=10),
        )


def is_transaction_pooler(url: str) -> bool:
    """Whether ``url`` points at a transaction-mode pooler: Supabase's port 6543, or ``pgbouncer=true``."""
    parts = urlsplit(url)
    flags = {key.lower(): value.lower() for key, value in parse_qsl(parts.query)}
    return parts.port == TRANSACTION_POOLER_PORT or flags.get("pgbouncer") in ("true", "1")


def without_pgbouncer_flag(url: str) -> str:
    """``url`` without ``pgbouncer=…``, which asyncpg would send to the server as an unknown setting."""
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key.lower() != "pgbouncer"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def supabase_session_url(url: str) -> Secret | None:
    """For Supabase's pooler (``*.pooler.supabase.com:6543``) its session mode, port 5432; else ``None``."""
    parts = urlsplit(url)
    if not (parts.hostname or "").endswith(".pooler.supabase.com") or parts.port != TRANSACTION_POOLER_PORT:
        return None
    return Secret(urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0] + ":5432")))


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.optional(name)
        if raw is None:
            return default
        value = raw.lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}: expected 1 or 0 (true/false), got {raw!r}")

    def optional_integer(self, name: str, *, low: int, high: int) -> int | None:
        if self.optional(name) is None:
            return None
        return self.integer(name, low, low=low, high=high)

    def timezone(self, name: str, default: str) -> str:
        value = self.text(name, default)
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{name}: not an IANA time zone, got {value!r}") from None
        return value

    def optional(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name}: must be between {low} and {high}, got {value}")
        return value

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a number, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name}: must be between {low} and {high}, got {value}")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default).lower()
        if value not in choices:
            raise ConfigError(f"{name}: must be one of {', '.join(choices)}, got {value!r}")
        return value

    def secret(self, name: str, *, min_length: int = 1) -> Secret | None:
        raw = self.optional(name)
        if raw is None:
            return None
        if len(raw) < min_length:
            raise ConfigError(f"{name}: must be at least {min_length} characters long")
        return Secret(raw)

    def rate(self, name: str, default: str) -> str:
        value = self.text(name, default)
        try:
            parse(value)
        except ValueError:
            raise ConfigError(f"{name}: expected a rate like 30/5minutes or 10 per hour, got {value!r}") from None
        return value

    def networks(self, name: str) -> tuple[str, ...]:
        """Comma-separated IP addresses or networks (``10.0.0.0/8, ::1``), normalised."""
        found = []
        for entry in (part.strip() for part in (self.optional(name) or "").split(",")):
            if entry:
                try:
                    found.append(str(ipaddress.ip_network(entry, strict=False)))
                except ValueError:
                    raise ConfigError(f"{name}: {entry!r} is not an IP address or network like 10.0.0.0/8") from None
        return tuple(found)

    def ec_private_key(self, name: str) -> Secret | None:
        raw = self.optional(name)
        if raw is None:
            return None
        try:
            key = serialization.load_pem_private_key(raw.encode(), password=None)
        except ValueError:
            raise ConfigError(f"{name}: must be an unencrypted private key in PEM") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ConfigError(f"{name}: must be a P-256 (prime256v1) EC key, as ES256 needs")
        return Secret(raw)

    def url(self, name: str, schemes: tuple[str, ...]) -> Secret | None:
        raw = self.optional(name)
        if raw is None:
            return None
        if urlsplit(raw).scheme not in schemes:
            # The value may hold a password: name the variable, never echo it.
            raise ConfigError(f"{name}: must be a URL with scheme {' or '.join(s + '://' for s in schemes)}")
        return Secret(raw)

    def http_url(self, name: str, default: str) -> str:
        return self.optional_http_url(name) or default

    def optional_http_url(self, name: str) -> str | None:
        raw = self.optional(name)
        if raw is None:
            return None
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{name}: must be an http(s) URL, got {raw!r}")
        return raw.rstrip("/")

    def origins(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        raw = self.optional(name)
        if raw is None:
            return default
        origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
        for origin in origins:
            if origin == "*":
                continue
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise ConfigError(f"{name}: {origin!r} is not an origin like https://example.com (or *)")
        return origins
