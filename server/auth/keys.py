"""The local backend's key material, kept in ``DATA_DIR`` (0600) unless the environment gives it.

- the HS256 secret (``JWT_SECRET`` or ``jwt-secret``): signs access tokens when ``JWT_SIGNING=hs256``, and always
  keys the HMAC of refresh tokens;
- the ES256 key (``JWT_SIGNING_KEY`` or ``jwt-es256.pem``): signs access tokens when ``JWT_SIGNING=es256``; its
  public half is published at ``/auth/v1/.well-known/jwks.json``;
- the anon key (``ANON_KEY`` or ``anon-key``): the public ``apikey`` supabase-js sends, as Supabase's gateway wants.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

Algorithm = Literal["HS256", "ES256"]
ISSUER = "sensay-hub"


def _write_new(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(value)


def load_or_create_secret(path: Path) -> str:
    """A signing secret kept in the data directory, so tokens survive restarts of an embedded setup."""
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    _write_new(path, value)
    return value


def load_or_create_ec_key(path: Path) -> str:
    """A P-256 private key (PEM) kept in the data directory."""
    if path.exists():
        return path.read_text()
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    _write_new(path, pem)
    return pem


def _thumbprint(public_jwk: dict[str, Any]) -> str:
    # RFC 7638 key thumbprint, written out because PyJWT has none: a kid that names the key, stable across restarts.
    required = {name: public_jwk[name] for name in ("crv", "kty", "x", "y")}
    digest = hashlib.sha256(json.dumps(required, separators=(",", ":"), sort_keys=True).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKeys:
    """Signs the local backend's JWTs with one algorithm and says how to check them."""

    algorithm: Algorithm
    secret: str = field(repr=False)
    ec_private_key: ec.EllipticCurvePrivateKey | None = field(default=None, repr=False)

    @classmethod
    def load(
        cls, algorithm: Algorithm, *, data_dir: Path, secret: str | None = None, ec_private_pem: str | None = None
    ) -> SigningKeys:
        """Keys from the environment's values, else from (or newly into) ``data_dir``."""
        secret = secret or load_or_create_secret(data_dir / "jwt-secret")
        if algorithm == "HS256":
            return cls("HS256", secret)
        pem = ec_private_pem or load_or_create_ec_key(data_dir / "jwt-es256.pem")
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)  # made here, or checked by config (JWT_SIGNING_KEY)
        return cls("ES256", secret, key)

    @property
    def kid(self) -> str | None:
        return _thumbprint(self._public_jwk()) if self.ec_private_key is not None else None

    def sign(self, claims: dict[str, Any]) -> str:
        if self.ec_private_key is not None:
            return jwt.encode(claims, self.ec_private_key, algorithm="ES256", headers={"kid": self.kid})
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def jwks(self) -> dict[str, Any]:
        """The public key set, as GoTrue publishes it: empty while tokens are HS256 (a shared secret is never shown)."""
        if self.ec_private_key is None:
            return {"keys": []}
        return {"keys": [{**self._public_jwk(), "kid": self.kid, "alg": "ES256", "use": "sig", "key_ops": ["verify"]}]}

    def refresh_mac(self, message: bytes) -> bytes:
        """The HMAC that makes a refresh token unforgeable (keyed apart from the JWT secret's own use)."""
        key = hmac.new(self.secret.encode(), b"sensay-hub refresh token", hashlib.sha256).digest()
        return hmac.new(key, message, hashlib.sha256).digest()

    def _public_jwk(self) -> dict[str, Any]:
        assert self.ec_private_key is not None
        return ECAlgorithm.to_jwk(self.ec_private_key.public_key(), as_dict=True)


def load_or_create_anon_key(path: Path, keys: SigningKeys) -> str:
    """The anon key: like a Supabase project's, a long-lived JWT with ``role: anon`` (public by design).

    Compared as an opaque string, never trusted as a user's token (its role is not ``authenticated``).
    """
    if path.exists():
        return path.read_text().strip()
    now = int(time.time())
    value = keys.sign({"iss": ISSUER, "role": "anon", "iat": now, "exp": now + 10 * 365 * 24 * 3600})
    _write_new(path, value)
    return value
