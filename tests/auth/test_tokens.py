"""Access-token verification: the local HS256 verifier and the Supabase one (shared secret or JWKS)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from server.auth.errors import InvalidToken
from server.auth.jwks import JwksCache, jwks_url
from server.auth.keys import SigningKeys
from server.auth.tokens import SupabaseTokenVerifier, TokenIssuer

from .gotrue_peer import SigningKey

SECRET = "legacy-jwt-secret-" + "k" * 32
URL = "https://project.supabase.co/auth/v1/.well-known/jwks.json"


class FakeJwks:
    """A JWKS endpoint behind httpx's mock transport, with a hand-turned clock."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.extra: list[dict[str, Any]] = []
        self.down = False
        self.fetches = 0
        self.now = 1000.0
        self.http = httpx.AsyncClient(transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"keys": [k.public_jwk() for k in self.keys] + self.extra})

    def cache(self, **kwargs: Any) -> JwksCache:
        return JwksCache(URL, http=self.http, clock=lambda: self.now, **kwargs)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": "https://project.supabase.co/auth/v1",
        "sub": str(uuid.uuid4()),
        "aud": "authenticated",
        "role": "authenticated",
        "email": "alice@example.com",
        "session_id": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 3600,
        "aal": "aal1",
        "is_anonymous": False,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(
    header: dict[str, Any], payload: dict[str, Any], signature: bytes | None = None, *, hmac_key: bytes = b""
) -> str:
    """A token built by hand, for headers and keys that PyJWT refuses to sign with."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    if signature is None and hmac_key:
        signature = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature or b'')}"


@pytest.fixture
def es_key() -> SigningKey:
    return SigningKey.generate("ES256", kid="es-1")


@pytest.fixture
async def fake(es_key: SigningKey) -> AsyncIterator[FakeJwks]:
    fake = FakeJwks(es_key)
    async with fake.http:
        yield fake


@pytest.fixture
def verifier(fake: FakeJwks) -> SupabaseTokenVerifier:
    return SupabaseTokenVerifier(SECRET, fake.cache())


async def refused(verifier: SupabaseTokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        await verifier.verify(token)
    return str(caught.value)


@pytest.mark.parametrize("algorithm", ["HS256", "ES256"])
async def test_local_tokens_verify_by_the_supabase_path(algorithm: Literal["HS256", "ES256"], tmp_path: Path) -> None:
    """The local issuer's tokens pass the Supabase verifier: HS256 by secret, ES256 by the JWKS it publishes."""
    keys = SigningKeys.load(algorithm, data_dir=tmp_path)
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    token, exp = TokenIssuer(keys, ttl=60).issue(user_id, "a@example.com", session_id)
    jwks = JwksCache.of(keys.jwks()) if algorithm == "ES256" else None
    verifier = SupabaseTokenVerifier(keys.secret if algorithm == "HS256" else None, jwks, issuer="sensay-hub")
    principal = await verifier.verify(token)
    assert (principal.user_id, principal.session_id, principal.expires_at) == (user_id, session_id, exp)
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    other = SigningKeys.load(algorithm, data_dir=tmp_path / "other")
    await refused(verifier, TokenIssuer(other, ttl=60).issue(user_id, "a@example.com", session_id)[0])


async def test_hs256_accepted(verifier: SupabaseTokenVerifier) -> None:
    """A legacy HS256 token signed with the project's secret verifies into its principal."""
    payload = claims()
    token = jwt.encode(payload, SECRET, algorithm="HS256")
    principal = await verifier.verify(token)
    assert principal.user_id == uuid.UUID(payload["sub"])
    assert principal.session_id == uuid.UUID(payload["session_id"])
    assert (principal.email, principal.role, principal.expires_at) == (
        "alice@example.com",
        "authenticated",
        payload["exp"],
    )
    assert principal.access_token == token
    assert "access_token" not in repr(principal)


async def test_es256_from_jwks_accepted(verifier: SupabaseTokenVerifier, es_key: SigningKey, fake: FakeJwks) -> None:
    """An ES256 token verifies with the JWKS key its kid names; the key is fetched once and cached."""
    for _ in range(3):
        principal = await verifier.verify(es_key.sign(claims()))
        assert principal.email == "alice@example.com"
    assert fake.fetches == 1


async def test_rs256_from_jwks_accepted(fake: FakeJwks) -> None:
    """An RS256 token verifies with an RSA key from the JWKS, with no shared secret configured."""
    rsa_key = SigningKey.generate("RS256", kid="rsa-1")
    fake.keys.append(rsa_key)
    verifier = SupabaseTokenVerifier(None, fake.cache())
    assert (await verifier.verify(rsa_key.sign(claims()))).role == "authenticated"


async def test_expired_refused(verifier: SupabaseTokenVerifier, es_key: SigningKey) -> None:
    """Tokens past exp (beyond the leeway) are refused, whichever way they are signed."""
    past = int(time.time()) - 60
    assert await refused(verifier, es_key.sign(claims(exp=past))) == "token expired"
    assert await refused(verifier, jwt.encode(claims(exp=past), SECRET, algorithm="HS256")) == "token expired"


async def test_within_leeway_accepted(verifier: SupabaseTokenVerifier, es_key: SigningKey) -> None:
    """A token that expired a second ago still passes: clocks drift a little."""
    await verifier.verify(es_key.sign(claims(exp=int(time.time()) - 1)))


async def test_wrong_audience_refused(verifier: SupabaseTokenVerifier, es_key: SigningKey) -> None:
    """Only the "authenticated" audience is accepted."""
    await refused(verifier, es_key.sign(claims(aud="anon")))
    await refused(verifier, jwt.encode(claims(aud="other"), SECRET, algorithm="HS256"))


@pytest.mark.parametrize("missing", ["exp", "sub", "aud"])
async def test_required_claims(verifier: SupabaseTokenVerifier, es_key: SigningKey, missing: str) -> None:
    """exp, sub and aud are required."""
    await refused(verifier, es_key.sign(claims(**{missing: None})))


async def test_bad_subject_and_role_refused(verifier: SupabaseTokenVerifier, es_key: SigningKey) -> None:
    """A sub that is no UUID, or a role other than "authenticated" (e.g. service_role), is refused."""
    await refused(verifier, es_key.sign(claims(sub="not-a-uuid")))
    await refused(verifier, es_key.sign(claims(role="service_role")))
    await refused(verifier, es_key.sign(claims(role=None)))


async def test_issuer_checked_when_configured(fake: FakeJwks, es_key: SigningKey) -> None:
    """With an issuer configured, iss must match it exactly and be present."""
    verifier = SupabaseTokenVerifier(SECRET, fake.cache(), issuer="https://project.supabase.co/auth/v1")
    await verifier.verify(es_key.sign(claims()))
    await refused(verifier, es_key.sign(claims(iss="https://evil.supabase.co/auth/v1")))
    await refused(verifier, es_key.sign(claims(iss=None)))


async def test_wrong_key_same_kid_refused(verifier: SupabaseTokenVerifier) -> None:
    """A token signed by another P-256 key that claims the published kid fails the signature check."""
    impostor = SigningKey.generate("ES256", kid="es-1")
    await refused(verifier, impostor.sign(claims()))


async def test_wrong_secret_refused(verifier: SupabaseTokenVerifier) -> None:
    """An HS256 token signed with another secret is refused."""
    await refused(verifier, jwt.encode(claims(), "another-secret-" + "x" * 32, algorithm="HS256"))


@pytest.mark.parametrize("kid", [None, "es-1"])
async def test_alg_none_refused(verifier: SupabaseTokenVerifier, kid: str | None) -> None:
    """Unsigned tokens (``alg: none``) are refused, with or without a known kid."""
    header = {"alg": "none", "typ": "JWT"} | ({"kid": kid} if kid else {})
    await refused(verifier, forge(header, claims(), b""))
    await refused(verifier, forge({**header, "alg": "None"}, claims(), b""))


@pytest.mark.parametrize("with_secret", [True, False])
async def test_hs256_with_public_key_refused(fake: FakeJwks, es_key: SigningKey, with_secret: bool) -> None:
    """HS256 tokens MACed with the public key (PEM, DER or JWK bytes) never verify: HS256 means the secret only."""
    public = es_key.private_key.public_key()
    encodings = [
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        json.dumps(es_key.public_jwk()).encode(),
    ]
    verifier = SupabaseTokenVerifier(SECRET if with_secret else None, fake.cache())
    for key_bytes in encodings:
        for header in ({"alg": "HS256", "typ": "JWT"}, {"alg": "HS256", "typ": "JWT", "kid": "es-1"}):
            await refused(verifier, forge(header, claims(), hmac_key=key_bytes))


async def test_alg_must_fit_the_key(verifier: SupabaseTokenVerifier, fake: FakeJwks, es_key: SigningKey) -> None:
    """The header's alg must be one the named key admits: no RS256 on an EC key, no ES384 at all."""
    rsa_key = SigningKey.generate("RS256", kid="rsa-1")
    fake.keys.append(rsa_key)
    posing = SigningKey("es-1", "RS256", rsa_key.private_key)  # RS256-signed, names the EC key
    await refused(verifier, posing.sign(claims()))
    await refused(verifier, forge({"alg": "ES384", "kid": "es-1"}, claims(), b"\x00" * 96))
    await refused(verifier, forge({"alg": "PS256", "kid": "rsa-1"}, claims(), b"\x00" * 256))


async def test_sources_are_not_interchangeable(fake: FakeJwks, es_key: SigningKey) -> None:
    """Without a secret HS256 is refused; without a JWKS ES256 is refused; at least one source is needed."""
    await refused(SupabaseTokenVerifier(None, fake.cache()), jwt.encode(claims(), SECRET, algorithm="HS256"))
    await refused(SupabaseTokenVerifier(SECRET, None), es_key.sign(claims()))
    with pytest.raises(ValueError):
        SupabaseTokenVerifier(None, None)


async def test_garbage_refused(verifier: SupabaseTokenVerifier) -> None:
    """Malformed tokens are InvalidToken, not crashes."""
    for token in [
        "",
        "abc",
        "a.b.c",
        "eyJhbGciOiJFUzI1NiJ9.e30.",
        forge({"alg": "ES256"}, claims(), b"x"),
        forge({"alg": ["HS256"]}, claims(), b"x"),
        forge({"alg": "ES256", "kid": ["es-1"]}, claims(), b"x"),
    ]:
        await refused(verifier, token)


async def test_unknown_kid_refreshes_then_refuses(verifier: SupabaseTokenVerifier, fake: FakeJwks) -> None:
    """A kid not in the cache triggers one JWKS fetch; still unknown, the token is refused."""
    await verifier.verify(fake.keys[0].sign(claims()))
    assert fake.fetches == 1
    fake.now += 60
    stranger = SigningKey.generate("ES256", kid="stranger")
    await refused(verifier, stranger.sign(claims()))
    assert fake.fetches == 2


async def test_rotated_key_picked_up(verifier: SupabaseTokenVerifier, fake: FakeJwks, es_key: SigningKey) -> None:
    """A new key published after the cache filled is fetched when a token first names it; the old one still works."""
    await verifier.verify(es_key.sign(claims()))
    fake.now += 60
    new_key = SigningKey.generate("ES256", kid="es-2")
    fake.keys.append(new_key)
    await verifier.verify(new_key.sign(claims()))
    await verifier.verify(es_key.sign(claims()))
    assert fake.fetches == 2


async def test_refresh_rate_limited(fake: FakeJwks) -> None:
    """A flood of unknown kids costs one JWKS request per min_refresh_interval, even when concurrent."""
    cache = fake.cache(min_refresh_interval=30)
    verifier = SupabaseTokenVerifier(None, cache)
    bogus = [SigningKey(f"bogus-{i}", "ES256", fake.keys[0].private_key).sign(claims()) for i in range(50)]
    results = await asyncio.gather(*(verifier.verify(t) for t in bogus), return_exceptions=True)
    assert all(isinstance(r, InvalidToken) for r in results)
    assert fake.fetches == 1
    fake.now += 29
    await refused(verifier, bogus[0])
    assert fake.fetches == 1
    fake.now += 2
    await refused(verifier, bogus[1])
    assert fake.fetches == 2


async def test_ttl_refresh_drops_retired_keys(fake: FakeJwks, es_key: SigningKey) -> None:
    """After the TTL the set is fetched again and replaces the cache: a retired key stops verifying."""
    cache = fake.cache(ttl=600)
    verifier = SupabaseTokenVerifier(None, cache)
    token = es_key.sign(claims())
    await verifier.verify(token)
    fake.keys = [SigningKey.generate("ES256", kid="es-2")]
    fake.now += 599
    await verifier.verify(token)  # still fresh: no fetch
    assert fake.fetches == 1
    fake.now += 2
    await refused(verifier, token)
    assert fake.fetches == 2 and cache.kids == {"es-2"}


async def test_outage_serves_cached_keys(fake: FakeJwks, es_key: SigningKey) -> None:
    """While the JWKS endpoint is down, cached keys keep verifying past the TTL; unknown kids are refused."""
    cache = fake.cache(ttl=600)
    verifier = SupabaseTokenVerifier(None, cache)
    await verifier.verify(es_key.sign(claims()))
    fake.down = True
    fake.now += 3600
    await verifier.verify(es_key.sign(claims()))
    await refused(verifier, SigningKey.generate("ES256", kid="new").sign(claims()))


async def test_outage_without_cache_refuses(fake: FakeJwks, es_key: SigningKey) -> None:
    """With the endpoint down and nothing cached, tokens are InvalidToken (not a network error)."""
    fake.down = True
    await refused(SupabaseTokenVerifier(None, fake.cache()), es_key.sign(claims()))


async def test_jwks_ignores_symmetric_and_malformed_keys(fake: FakeJwks) -> None:
    """An "oct" key in the JWKS is never trusted, nor keys without a kid or with a bad shape."""
    fake.extra = [
        {"kty": "oct", "kid": "oct-1", "k": b64(SECRET.encode()), "alg": "HS256"},
        {"kty": "EC", "kid": "broken", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        {**fake.keys[0].public_jwk(), "kid": None},
        "not a key",
    ]
    cache = fake.cache()
    await cache.refresh()
    assert cache.kids == {"es-1"}
    await refused(
        SupabaseTokenVerifier(None, cache), forge({"alg": "HS256", "kid": "oct-1"}, claims(), hmac_key=SECRET.encode())
    )


def test_jwks_url() -> None:
    """The JWKS lives under the project's auth path."""
    assert jwks_url("https://ref.supabase.co/") == "https://ref.supabase.co/auth/v1/.well-known/jwks.json"
