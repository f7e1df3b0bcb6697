"""Settings.from_env: embedded defaults, a clear error naming each bad variable, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import ConfigError, Secret, Settings


def test_empty_environment_gives_the_embedded_defaults() -> None:
    """An empty environment is valid and selects the embedded database, the local replica and local auth."""
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.data_dir == Path(".sensay-hub")
    assert settings.log_level == "info"
    assert settings.embedded_database
    assert settings.local_replica
    assert settings.jwt_secret is None
    assert settings.redis_url is None
    assert settings.sensay_api_url == "https://api.sensay.io"


def test_blank_values_count_as_unset() -> None:
    """A variable set to whitespace falls back to its default instead of failing."""
    assert Settings.from_env({"PORT": "  ", "LOG_LEVEL": "", "DATABASE_URL": " "}) == Settings()


def test_values_are_parsed_and_normalised() -> None:
    """Numbers become numbers, the log level is lower-cased, origins and URLs lose their trailing slash."""
    settings = Settings.from_env(
        {
            "HOST": "0.0.0.0",
            "PORT": "9000",
            "DATA_DIR": "/data",
            "LOG_LEVEL": "DEBUG",
            "ALLOWED_ORIGINS": "https://app.example.com/, http://localhost:5173",
            "SENSAY_API_URL": "https://sensay.example/",
            "WS_AUTH_TIMEOUT": "2.5",
        }
    )
    assert settings.host == "0.0.0.0"
    assert settings.port == 9000
    assert settings.data_dir == Path("/data")
    assert settings.log_level == "debug"
    assert settings.allowed_origins == ("https://app.example.com", "http://localhost:5173")
    assert settings.sensay_api_url == "https://sensay.example"
    assert settings.ws_auth_timeout == 2.5


@pytest.mark.parametrize(
    ("env", "accepted"),
    [
        ({"PORT": "0"}, 0),
        ({"PORT": "65535"}, 65535),
    ],
)
def test_port_bounds_are_inclusive(env: dict[str, str], accepted: int) -> None:
    """PORT accepts 0 (any free port) and 65535."""
    assert Settings.from_env(env).port == accepted


def test_wildcard_origin_is_allowed() -> None:
    """ALLOWED_ORIGINS=* is accepted as the wildcard."""
    assert Settings.from_env({"ALLOWED_ORIGINS": "*"}).allowed_origins == ("*",)


def test_jwt_secret_of_exactly_32_characters_is_accepted() -> None:
    """JWT_SECRET's minimum length is 32 characters, inclusive."""
    settings = Settings.from_env({"JWT_SECRET": "k" * 32})
    assert settings.jwt_secret is not None
    assert settings.jwt_secret.reveal() == "k" * 32


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "abc"),
        ("PORT", "65536"),
        ("PORT", "-1"),
        ("LOG_LEVEL", "verbose"),
        ("ALLOWED_ORIGINS", "https://app.example.com/chat"),
        ("ALLOWED_ORIGINS", "app.example.com"),
        ("JWT_SECRET", "too-short-for-hs256"),
        ("SENSAY_API_URL", "ftp://api.sensay.io"),
        ("SENSAY_API_URL", "api.sensay.io"),
        ("SUPABASE_URL", "postgres://project.supabase.co"),
        ("DATABASE_URL", "mysql://app@db/app"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("ACCESS_TOKEN_TTL", "5"),
        ("WS_AUTH_TIMEOUT", "never"),
        ("WS_MAX_FRAME_BYTES", "1"),
    ],
)
def test_bad_variable_is_named_in_the_error(name: str, value: str) -> None:
    """Each invalid setting raises ConfigError whose message starts with the variable's name."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    assert str(caught.value).startswith(f"{name}:"), str(caught.value)


def test_first_bad_variable_fails_even_when_others_are_fine() -> None:
    """A single bad variable among valid ones is still reported."""
    with pytest.raises(ConfigError, match="^LOG_LEVEL:"):
        Settings.from_env({"PORT": "8080", "LOG_LEVEL": "loud", "HOST": "0.0.0.0"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://app:hunter2-db-password@db.internal/app"),
        ("REDIS_URL", "http://:hunter2-redis-password@cache.internal:6379"),
        ("JWT_SECRET", "hunter2-short-secret"),
    ],
)
def test_error_for_a_secret_does_not_echo_its_value(name: str, value: str) -> None:
    """The ConfigError for a secret setting names the variable but never repeats the value."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    message = str(caught.value)
    assert name in message
    assert "hunter2" not in message


def test_secrets_are_masked_in_repr() -> None:
    """repr() and str() of the settings show no secret, though each can still be revealed."""
    secrets = {
        "DATABASE_URL": "postgresql://app:db-password-123@db.internal:5432/app",
        "JWT_SECRET": "jwt-secret-value-" + "j" * 32,
        "SENSAY_API_KEY": "sensay-api-key-value",
        "SUPABASE_ANON_KEY": "supabase-anon-key-value",
        "SUPABASE_JWT_SECRET": "supabase-jwt-secret-value",
        "SUPABASE_SERVICE_ROLE_KEY": "supabase-service-role-value",
        "REDIS_URL": "redis://:redis-password-456@cache.internal:6379/0",
    }
    settings = Settings.from_env(secrets)
    shown = repr(settings) + str(settings)
    for value in secrets.values():
        assert value not in shown
    for fragment in ("db-password-123", "redis-password-456", "sensay-api-key-value"):
        assert fragment not in shown
    assert settings.database_url is not None and settings.database_url.reveal() == secrets["DATABASE_URL"]
    assert settings.redis_url is not None and settings.redis_url.reveal() == secrets["REDIS_URL"]
    assert not settings.embedded_database
    assert not settings.local_replica


def test_secret_equality_compares_values_without_showing_them() -> None:
    """Two Secrets with the same value are equal; their repr is the same mask."""
    assert Secret("a" * 40) == Secret("a" * 40)
    assert Secret("a" * 40) != Secret("b" * 40)
    assert repr(Secret("a" * 40)) == repr(Secret("b" * 40))


def test_operations_settings_are_read() -> None:
    """Log format, access log, metrics port, service key, header bound and the issuer switch come from the env."""
    settings = Settings.from_env(
        {
            "LOG_FORMAT": "JSON",
            "ACCESS_LOG": "off",
            "METRICS_PORT": "9100",
            "SERVICE_KEY": "k" * 32,
            "HTTP_MAX_HEADER_BYTES": "16384",
            "SUPABASE_URL": "https://ref.supabase.co",
            "SUPABASE_VERIFY_ISSUER": "0",
        }
    )
    assert settings.log_format == "json" and settings.access_log is False
    assert settings.metrics_port == 9100 and settings.http_max_header_bytes == 16384
    assert settings.server_api_key == Secret("k" * 32)
    assert settings.supabase_issuer is None
    assert Settings.from_env({"SUPABASE_URL": "https://ref.supabase.co/"}).supabase_issuer == (
        "https://ref.supabase.co/auth/v1"
    )


def test_the_service_key_falls_back_to_supabases_service_role_key() -> None:
    """Without SERVICE_KEY, the Supabase service-role key guards the operators' routes."""
    settings = Settings.from_env({"SUPABASE_SERVICE_ROLE_KEY": "service-role"})
    assert settings.server_api_key == Secret("service-role")
    assert Settings.from_env({}).server_api_key is None


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"ACCESS_LOG": "maybe"}, "ACCESS_LOG"),
        ({"METRICS_PORT": "0"}, "METRICS_PORT"),
        ({"SERVICE_KEY": "short"}, "SERVICE_KEY"),
        ({"HTTP_MAX_HEADER_BYTES": "10"}, "HTTP_MAX_HEADER_BYTES"),
        ({"EMBEDDED_DATABASE": "0"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://u:p@db.internal:6543/app"}, "DATABASE_SESSION_URL"),
        ({"DATABASE_URL": "postgresql://u:p@db.internal/app?pgbouncer=true"}, "DATABASE_SESSION_URL"),
    ],
)
def test_bad_operations_settings_name_their_variable(env: dict[str, str], variable: str) -> None:
    """Each bad value stops start-up with an error naming the variable to fix, never echoing a password."""
    with pytest.raises(ConfigError, match=variable) as raised:
        Settings.from_env(env)
    assert "u:p@" not in str(raised.value)


def test_embedded_database_may_be_allowed_explicitly() -> None:
    """EMBEDDED_DATABASE=1 without DATABASE_URL keeps the embedded default."""
    assert Settings.from_env({"EMBEDDED_DATABASE": "1"}).embedded_database


def test_supabase_transaction_pooler_gets_its_session_mode_for_listen_and_migrations() -> None:
    """Supabase's pooler on 6543: statement cache off, pgbouncer flag dropped, session mode on 5432 for LISTEN."""
    url = (
        "postgresql://postgres.ref:pw@aws-0-eu-west-1.pooler.supabase.com:6543/postgres?pgbouncer=true&sslmode=require"
    )
    settings = Settings.from_env({"DATABASE_URL": url})
    assert settings.database_transaction_pooler
    assert settings.database_url is not None and settings.database_session_url is not None
    assert settings.database_url.reveal() == url.replace("pgbouncer=true&", "")
    assert settings.database_session_url.reveal() == (
        "postgresql://postgres.ref:pw@aws-0-eu-west-1.pooler.supabase.com:5432/postgres?sslmode=require"
    )


def test_a_session_url_given_is_used_and_a_direct_url_is_no_pooler() -> None:
    """DATABASE_SESSION_URL wins over the derived one; an ordinary URL needs none."""
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u:p@pgbouncer.internal:6432/app?pgbouncer=true",
            "DATABASE_SESSION_URL": "postgresql://u:p@db.internal:5432/app",
        }
    )
    assert settings.database_transaction_pooler
    assert settings.database_session_url == Secret("postgresql://u:p@db.internal:5432/app")
    direct = Settings.from_env({"DATABASE_URL": "postgresql://u:p@db.internal:5432/app"})
    assert not direct.database_transaction_pooler and direct.database_session_url is None


def test_every_bad_variable_is_named_at_once() -> None:
    """Several bad variables are reported together, each with what it got (a secret's value never shown)."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"PORT": "eighty", "METRICS_PORT": "0", "JWT_SECRET": "hunter2", "LOG_LEVEL": "info"})
    message = str(caught.value)
    assert message.startswith("PORT:") and "'eighty'" in message
    assert "METRICS_PORT:" in message and "JWT_SECRET:" in message and "hunter2" not in message


def test_a_settings_field_read_from_the_environment_keeps_its_type() -> None:
    """Secrets come back as Secret, lists as tuples, paths as Path: what the dataclass declares."""
    settings = Settings.from_env(
        {"SENSAY_API_KEY": "k", "TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16", "DATA_DIR": "/d"}
    )
    assert isinstance(settings.sensay_api_key, Secret) and settings.sensay_api_key.reveal() == "k"
    assert settings.trusted_proxies == ("10.0.0.1/32", "192.168.0.0/16")
    assert settings.data_dir == Path("/d")
