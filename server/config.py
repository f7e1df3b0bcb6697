"""Settings read from environment variables, validated once at start-up.

Every setting has an embedded default, so an empty environment runs the whole service locally:
embedded PostgreSQL in ``DATA_DIR``, the local replica, local auth and the in-process broker.

:class:`Settings` is a frozen dataclass whose field types carry the rules (bounds, choices, formats); pydantic
validates the environment against it. A field is read from the variable of its name in upper case, or the one its
metadata names (``env``; ``None`` for a derived field). A blank variable counts as unset.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from limits import parse
from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, TypeAdapter, ValidationError


class ConfigError(ValueError):
    """A setting is invalid; the message names the environment variable."""


class Secret(SecretStr):
    """A string that never shows itself in ``repr`` or logs (pydantic's ``SecretStr``)."""

    def reveal(self) -> str:
        """The value itself."""
        return self.get_secret_value()


TRANSACTION_POOLER_PORT = 6543
"""Supabase's (Supavisor's) transaction-mode port; its session mode is 5432 on the same host."""


# Rules of single settings, each raising ValueError with what is expected (pydantic adds the variable).


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _rate(value: str) -> str:
    try:
        parse(value)
    except ValueError:
        raise ValueError(f"expected a rate like 30/5minutes or 10 per hour, got {value!r}") from None
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"not an IANA time zone, got {value!r}") from None
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _origins(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    origins = tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())
    for origin in origins:
        parts = urlsplit(origin)
        if origin != "*" and (parts.scheme not in ("http", "https") or not parts.netloc or parts.path):
            raise ValueError(f"{origin!r} is not an origin like https://example.com (or *)")
    return origins


def _networks(value: Any) -> Any:
    """Comma-separated IP addresses or networks (``10.0.0.0/8, ::1``), normalised."""
    if not isinstance(value, str):
        return value
    found = []
    for entry in (part.strip() for part in value.split(",")):
        if entry:
            try:
                found.append(str(ipaddress.ip_network(entry, strict=False)))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network like 10.0.0.0/8") from None
    return tuple(found)


def _url(*schemes: str) -> AfterValidator:
    def check(value: Secret) -> Secret:
        if urlsplit(value.reveal()).scheme not in schemes:
            # The value may hold a password: name the variable, never echo it.
            raise ValueError(f"must be a URL with scheme {' or '.join(s + '://' for s in schemes)}")
        return value

    return AfterValidator(check)


def _min_length(length: int) -> AfterValidator:
    def check(value: Secret) -> Secret:
        if len(value.reveal()) < length:
            raise ValueError(f"must be at least {length} characters long")
        return value

    return AfterValidator(check)


def _ec_private_key(value: Secret) -> Secret:
    try:
        key = serialization.load_pem_private_key(value.reveal().encode(), password=None)
    except ValueError:
        raise ValueError("must be an unencrypted private key in PEM") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("must be a P-256 (prime256v1) EC key, as ES256 needs")
    return value


def _between(low: float, high: float) -> Any:
    return Field(ge=low, le=high)


_Choice = BeforeValidator(_lower)
_Rate = Annotated[str, AfterValidator(_rate)]
_HttpUrl = Annotated[str, AfterValidator(_http_url)]
LogLevel = Literal["critical", "error", "warning", "info", "debug"]


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The validated configuration of one process."""

    host: str = "127.0.0.1"
    port: Annotated[int, _between(0, 65535)] = 8000
    data_dir: Path = Path(".sensay-hub")
    log_level: Annotated[LogLevel, _Choice] = "info"
    log_format: Annotated[Literal["text", "json"], _Choice] = "text"
    access_log: bool = True
    allowed_origins: Annotated[tuple[str, ...], BeforeValidator(_origins)] = (
        "http://localhost:3000",
        "http://127.0.0.1:3000",
    )
    database_url: Annotated[Secret, _url("postgres", "postgresql")] | None = None
    database_session_url: Annotated[Secret, _url("postgres", "postgresql")] | None = None
    database_transaction_pooler: bool = field(default=False, metadata={"env": None})  # derived from DATABASE_URL
    embedded_database_allowed: bool = field(default=True, metadata={"env": "EMBEDDED_DATABASE"})
    jwt_secret: Annotated[Secret, _min_length(32)] | None = None
    jwt_signing: Annotated[Literal["hs256", "es256"], _Choice] = "hs256"
    jwt_signing_key: Annotated[Secret, AfterValidator(_ec_private_key)] | None = None
    anon_key: str | None = None
    access_token_ttl: Annotated[int, _between(30, 7 * 24 * 3600)] = 3600
    refresh_token_ttl: Annotated[int, _between(60, 365 * 24 * 3600)] = 30 * 24 * 3600
    refresh_token_reuse_interval: Annotated[int, _between(0, 3600)] = 10
    rate_limit_signup: _Rate = "30/5minutes"
    rate_limit_login: _Rate = "30/5minutes"
    rate_limit_refresh: _Rate = "150/5minutes"
    rate_limit_email: _Rate = "10/5minutes"
    rate_limit_account: _Rate = "20/5minutes"
    login_slowdown: Annotated[float, _between(0.0, 30.0)] = 1.0
    password_hash_workers: Annotated[int, _between(1, 256)] = field(default_factory=lambda: os.cpu_count() or 1)
    redis_prefix: str = "sensay-hub"
    sensay_api_key: Secret | None = None
    sensay_api_url: _HttpUrl = "https://api.sensay.io"
    sensay_replica_id: str | None = None
    sensay_timeout: Annotated[float, _between(0.1, 600.0)] = 30.0
    local_replica_word_delay: Annotated[float, _between(0.0, 10.0)] = 0.0
    reply_lease_seconds: Annotated[float, _between(0.5, 10.0)] = 10.0
    shutdown_drain_seconds: Annotated[float, _between(0.0, 300.0)] = 8.0
    reply_delta_ms: Annotated[float, _between(0.0, 1000.0)] = 40.0
    room_delta_ms: Annotated[float, _between(0.0, 1000.0)] = 200.0
    supabase_url: _HttpUrl | None = None
    supabase_anon_key: Secret | None = None
    supabase_jwt_secret: Secret | None = None
    supabase_service_role_key: Secret | None = None
    supabase_verify_issuer: bool = True
    service_key: Annotated[Secret, _min_length(32)] | None = None
    metrics_port: Annotated[int, _between(1, 65535)] | None = None
    http_max_header_bytes: Annotated[int, _between(4096, 1024 * 1024)] = 32 * 1024
    # none: no peer may name another client
    trusted_proxies: Annotated[tuple[str, ...], BeforeValidator(_networks)] = field(default_factory=tuple)
    redis_url: Annotated[Secret, _url("redis", "rediss")] | None = None
    presence_ttl: Annotated[float, _between(1.0, 3600.0)] = 15.0
    ws_max_frame_bytes: Annotated[int, _between(1024, 16 * 1024 * 1024)] = 64 * 1024
    ws_send_queue: Annotated[int, _between(1, 100_000)] = 256
    ws_auth_timeout: Annotated[float, _between(0.1, 300.0)] = 5.0
    ws_heartbeat_interval: Annotated[float, _between(0.1, 3600.0)] = 20.0
    ws_max_sockets_per_user: Annotated[int, _between(1, 100_000)] = 32
    ws_max_sockets_per_address: Annotated[int, _between(1, 1_000_000)] = 256
    ws_user_frame_rate: _Rate = "100/second"  # five tabs at the socket rate; above one socket's burst
    rest_write_rate: _Rate = "120/minute"
    scheduler_interval: Annotated[float, _between(0.05, 60.0)] = 1.0
    memory_stake_seconds: Annotated[float, _between(1.0, 3650 * 86400.0)] = 7 * 24 * 3600.0
    memory_stake_decay_percent: Annotated[int, _between(0, 100)] = 10
    task_timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"
    voice_call_max_seconds: Annotated[float, _between(1.0, 86400.0)] = 600.0
    voice_pin_attempts: Annotated[int, _between(1, 10)] = 3

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
        """Read and validate every setting; raise :class:`ConfigError` naming each bad variable."""
        env = os.environ if environ is None else environ
        names = _variables()
        values = {name: env[variable].strip() for variable, name in names.items() if env.get(variable, "").strip()}
        try:
            settings = _adapter().validate_python(values)
        except ValidationError as exc:
            raise ConfigError(_explain(exc, {name: variable for variable, name in names.items()})) from None
        return _with_database(settings)


def _variables() -> dict[str, str]:
    """Each environment variable read, with the field it sets."""
    found = {}
    for setting in dataclasses.fields(Settings):
        variable = setting.metadata.get("env", setting.name.upper())
        if variable is not None:
            found[variable] = setting.name
    return found


@cache
def _adapter() -> TypeAdapter[Settings]:
    return TypeAdapter(Settings)


def _explain(exc: ValidationError, variables: Mapping[str, str]) -> str:
    """One line per bad variable: its name, what is expected and, unless it is a secret, what it got."""
    secret = {f.name for f in dataclasses.fields(Settings) if "Secret" in str(f.type)}
    lines = []
    for error in exc.errors(include_url=False):
        name = str(error["loc"][0])
        if error["type"] == "value_error":
            lines.append(f"{variables[name]}: {error['ctx']['error']}")
            continue
        message = error["msg"][:1].lower() + error["msg"][1:]
        shown = "" if name in secret else f", got {error['input']!r}"
        lines.append(f"{variables[name]}: {message}{shown}")
    return "; ".join(lines)


def _with_database(settings: Settings) -> Settings:
    """The database settings completed: a transaction pooler's flag dropped and its session URL derived."""
    database_url, session_url = settings.database_url, settings.database_session_url
    if database_url is None and not settings.embedded_database_allowed:
        raise ConfigError(
            "DATABASE_URL: not set, and EMBEDDED_DATABASE=0 forbids the embedded database "
            "(set DATABASE_URL, or EMBEDDED_DATABASE=1 to keep data inside the container)"
        )
    if database_url is None or not is_transaction_pooler(database_url.reveal()):
        return settings
    database_url = Secret(without_pgbouncer_flag(database_url.reveal()))
    session_url = session_url or supabase_session_url(database_url.reveal())
    if session_url is None:
        raise ConfigError(
            "DATABASE_SESSION_URL: DATABASE_URL is a transaction pooler (port 6543 or pgbouncer=true), "
            "which cannot hold LISTEN or the migration lock; set DATABASE_SESSION_URL to a session "
            "connection (a direct connection, or the pooler's session mode)"
        )
    return dataclasses.replace(
        settings, database_url=database_url, database_session_url=session_url, database_transaction_pooler=True
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
