"""The auth settings this backend added: parsed, defaulted and refused by name like every other setting."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from server.config import ConfigError, Settings


def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_defaults() -> None:
    """HS256, GoTrue's 10 s reuse interval and its per-address rates, one argon2 worker per CPU."""
    settings = Settings.from_env({})
    assert (settings.jwt_signing, settings.jwt_signing_key, settings.anon_key) == ("hs256", None, None)
    assert settings.refresh_token_reuse_interval == 10
    assert (settings.rate_limit_signup, settings.rate_limit_login) == ("30/5minutes", "30/5minutes")
    assert (settings.rate_limit_refresh, settings.rate_limit_email) == ("150/5minutes", "10/5minutes")
    assert settings.password_hash_workers >= 1 and settings.redis_prefix == "sensay-hub"


def test_values_are_read() -> None:
    key = pem(ec.generate_private_key(ec.SECP256R1()))
    settings = Settings.from_env(
        {
            "JWT_SIGNING": "ES256",
            "JWT_SIGNING_KEY": key,
            "ANON_KEY": "public-anon-key",
            "REFRESH_TOKEN_REUSE_INTERVAL": "0",
            "RATE_LIMIT_LOGIN": "5 per minute",
            "PASSWORD_HASH_WORKERS": "3",
            "REDIS_PREFIX": "staging",
        }
    )
    assert settings.jwt_signing == "es256" and settings.jwt_signing_key is not None
    assert settings.jwt_signing_key.reveal() == key.strip() and "BEGIN" not in repr(settings)
    assert (settings.anon_key, settings.refresh_token_reuse_interval) == ("public-anon-key", 0)
    assert (settings.rate_limit_login, settings.password_hash_workers, settings.redis_prefix) == (
        "5 per minute",
        3,
        "staging",
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JWT_SIGNING", "rs256"),
        ("JWT_SIGNING_KEY", "not a pem"),
        ("JWT_SIGNING_KEY", pem(ec.generate_private_key(ec.SECP384R1()))),
        ("JWT_SIGNING_KEY", pem(rsa.generate_private_key(65537, 2048))),
        ("REFRESH_TOKEN_REUSE_INTERVAL", "-1"),
        ("RATE_LIMIT_SIGNUP", "lots"),
        ("RATE_LIMIT_EMAIL", "10/fortnight"),
        ("PASSWORD_HASH_WORKERS", "0"),
    ],
)
def test_bad_values_are_named(name: str, value: str) -> None:
    """Each bad value stops start-up with a message naming its variable (and never echoing a key)."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    assert str(caught.value).startswith(f"{name}:")
    assert "PRIVATE KEY" not in str(caught.value)
