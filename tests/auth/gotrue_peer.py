"""A stand-in for Supabase Auth (GoTrue): the endpoints supabase-py calls, with the answers it parses.

In-memory users and sessions; access tokens signed as Supabase signs them: ES256 with a published P-256 key
(``kid`` in the header and in ``/.well-known/jwks.json``), or HS256 with a shared secret in ``mode="HS256"``.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

API_VERSION = "2024-01-01"


@dataclass
class SigningKey:
    """An asymmetric signing key and its public JWK."""

    kid: str
    alg: Literal["ES256", "RS256"]
    private_key: Any

    @classmethod
    def generate(cls, alg: Literal["ES256", "RS256"] = "ES256", kid: str | None = None) -> SigningKey:
        key = ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else rsa.generate_private_key(65537, 2048)
        return cls(kid or uuid.uuid4().hex, alg, key)

    def public_jwk(self) -> dict[str, Any]:
        algorithm = ECAlgorithm if self.alg == "ES256" else RSAAlgorithm
        jwk = algorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig", "key_ops": ["verify"]}

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        return jwt.encode(claims, self.private_key, algorithm=self.alg, headers={"kid": self.kid, **headers})


@dataclass
class PeerUser:
    id: str
    email: str
    password: str
    created_at: datetime
    confirmed_at: datetime | None
    last_sign_in_at: datetime | None = None


@dataclass
class PeerSession:
    id: str
    user_id: str
    refresh_token: str
    used_refresh_tokens: set[str] = field(default_factory=set)
    revoked: bool = False


class GoTruePeer:
    """The fake GoTrue; ``app`` is the ASGI app, the attributes are knobs and records for tests."""

    def __init__(
        self,
        *,
        anon_key: str = "peer-anon-key",
        mode: Literal["ES256", "HS256"] = "ES256",
        hs256_secret: str = "peer-jwt-secret-" + "s" * 32,
        access_ttl: int = 3600,
        confirm_email: bool = False,
        legacy_errors: bool = False,
    ) -> None:
        self.anon_key = anon_key
        self.mode = mode
        self.hs256_secret = hs256_secret
        self.access_ttl = access_ttl
        self.confirm_email = confirm_email  # sign-ups need confirming; duplicates get a fake user, not an error
        self.legacy_errors = legacy_errors  # answer errors in the pre-2024 shape whatever the client asks
        self.jwks_down = False
        self.keys: list[SigningKey] = [SigningKey.generate()]  # published; the last one signs
        self.users: dict[str, PeerUser] = {}  # by lower-cased email
        self.sessions: dict[str, PeerSession] = {}
        self.calls: Counter[str] = Counter()  # "METHOD path" -> count
        self.app = Starlette(
            routes=[
                Route("/auth/v1/signup", self._signup, methods=["POST"]),
                Route("/auth/v1/token", self._token, methods=["POST"]),
                Route("/auth/v1/logout", self._logout, methods=["POST"]),
                Route("/auth/v1/user", self._user, methods=["GET"]),
                Route("/auth/v1/.well-known/jwks.json", self._jwks, methods=["GET"]),
            ]
        )

    # Knobs and shortcuts

    @property
    def signing_key(self) -> SigningKey:
        return self.keys[-1]

    def rotate_key(self, *, keep_old: bool = True) -> str:
        """Sign with a new key (a new kid); the old one stays published unless ``keep_old`` is false."""
        key = SigningKey.generate()
        self.keys = [*self.keys, key] if keep_old else [key]
        return key.kid

    def add_user(self, email: str, password: str, *, confirmed: bool = True) -> PeerUser:
        now = datetime.now(UTC)
        user = PeerUser(str(uuid.uuid4()), email.lower(), password, now, now if confirmed else None)
        self.users[user.email] = user
        return user

    def confirm(self, email: str) -> None:
        self.users[email.lower()].confirmed_at = datetime.now(UTC)

    def live_sessions(self, user_id: str) -> list[PeerSession]:
        return [s for s in self.sessions.values() if s.user_id == user_id and not s.revoked]

    # Endpoints

    async def _signup(self, request: Request) -> Response:
        if (refused := self._check_api_key(request)) is not None:
            return refused
        body = await request.json()
        email, password = str(body.get("email", "")).lower(), str(body.get("password", ""))
        if "@" not in email:
            return self._error(
                request, 400, "email_address_invalid", "Unable to validate email address: invalid format"
            )
        if len(password) < 6:
            return self._error(
                request,
                422,
                "weak_password",
                "Password should be at least 6 characters.",
                weak_password={"reasons": ["length"]},
            )
        if email in self.users:
            if self.confirm_email:
                # GoTrue hides who is registered: a made-up, identity-less user instead of an error.
                fake = PeerUser(str(uuid.uuid4()), email, "", datetime.now(UTC), None)
                return JSONResponse(self._user_json(fake, identities=False))
            return self._error(request, 422, "user_already_exists", "User already registered")
        user = self.add_user(email, password, confirmed=not self.confirm_email)
        if self.confirm_email:
            return JSONResponse(self._user_json(user))
        return JSONResponse(self._new_session(request, user))

    async def _token(self, request: Request) -> Response:
        if (refused := self._check_api_key(request)) is not None:
            return refused
        body = await request.json()
        grant_type = request.query_params.get("grant_type")
        if grant_type == "password":
            user = self.users.get(str(body.get("email", "")).lower())
            if user is None or not secrets.compare_digest(user.password, str(body.get("password", ""))):
                return self._error(request, 400, "invalid_credentials", "Invalid login credentials")
            if user.confirmed_at is None:
                return self._error(request, 400, "email_not_confirmed", "Email not confirmed")
            return JSONResponse(self._new_session(request, user))
        if grant_type == "refresh_token":
            token = str(body.get("refresh_token", ""))
            session = next((s for s in self.sessions.values() if token == s.refresh_token and not s.revoked), None)
            if session is None:
                if any(token in s.used_refresh_tokens for s in self.sessions.values()):
                    return self._error(
                        request, 400, "refresh_token_already_used", "Invalid Refresh Token: Already Used"
                    )
                return self._error(
                    request, 400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found"
                )
            session.used_refresh_tokens.add(session.refresh_token)
            session.refresh_token = secrets.token_urlsafe(9)
            user = next(u for u in self.users.values() if u.id == session.user_id)
            return JSONResponse(self._session_json(request, user, session))
        return self._error(request, 400, "validation_failed", "unsupported_grant_type")

    async def _logout(self, request: Request) -> Response:
        if (refused := self._check_api_key(request)) is not None:
            return refused
        claims, refused = self._bearer_claims(request)
        if refused is not None:
            return refused
        scope = request.query_params.get("scope", "global")
        for session in self.live_sessions(claims["sub"]):
            is_current = session.id == claims["session_id"]
            if scope == "global" or (scope == "local") == is_current:
                session.revoked = True
        return Response(status_code=204)

    async def _user(self, request: Request) -> Response:
        if (refused := self._check_api_key(request)) is not None:
            return refused
        claims, refused = self._bearer_claims(request)
        if refused is not None:
            return refused
        user = next(u for u in self.users.values() if u.id == claims["sub"])
        return JSONResponse(self._user_json(user))

    async def _jwks(self, request: Request) -> Response:
        self.calls["GET jwks"] += 1
        if self.jwks_down:
            return JSONResponse({"message": "upstream unavailable"}, 503)
        # A project still on the legacy secret publishes an empty set: the secret is never exposed.
        keys = [] if self.mode == "HS256" else [key.public_jwk() for key in self.keys]
        return JSONResponse({"keys": keys}, headers={"Cache-Control": "public, max-age=600"})

    # Helpers

    def _check_api_key(self, request: Request) -> Response | None:
        self.calls[f"{request.method} {request.url.path.removeprefix('/auth/v1')}"] += 1
        if request.headers.get("apikey") != self.anon_key:  # what the API gateway in front of GoTrue checks
            return JSONResponse({"message": "Invalid API key"}, 401)
        return None

    def _bearer_claims(self, request: Request) -> tuple[dict[str, Any], Response | None]:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            if scheme.lower() != "bearer":
                raise jwt.InvalidTokenError("no bearer token")
            claims = self.decode(token)
        except jwt.PyJWTError as exc:
            return {}, self._error(request, 401, "bad_jwt", f"invalid JWT: unable to parse or verify signature, {exc}")
        session = self.sessions.get(claims.get("session_id", ""))
        if session is None or session.revoked:
            return {}, self._error(
                request, 403, "session_not_found", "Session from session_id claim in JWT does not exist"
            )
        return claims, None

    def decode(self, token: str) -> dict[str, Any]:
        """Verify one of this peer's access tokens, as GoTrue does."""
        if self.mode == "HS256":
            return jwt.decode(token, self.hs256_secret, algorithms=["HS256"], audience="authenticated")
        kid = jwt.get_unverified_header(token).get("kid")
        key = next((k for k in self.keys if k.kid == kid), None)
        if key is None:
            raise jwt.InvalidTokenError("unknown kid")
        return jwt.decode(token, key.private_key.public_key(), algorithms=[key.alg], audience="authenticated")

    def _error(self, request: Request, status: int, code: str, msg: str, **extra: Any) -> Response:
        # Like GoTrue: the 2024-01-01 shape when the client asks for that API version, else the legacy one.
        if not self.legacy_errors and request.headers.get("x-supabase-api-version", "") >= API_VERSION:
            return JSONResponse(
                {"code": code, "message": msg, **extra}, status, headers={"X-Supabase-Api-Version": API_VERSION}
            )
        return JSONResponse({"code": status, "error_code": code, "msg": msg, **extra}, status)

    def _new_session(self, request: Request, user: PeerUser) -> dict[str, Any]:
        user.last_sign_in_at = datetime.now(UTC)
        session = PeerSession(str(uuid.uuid4()), user.id, secrets.token_urlsafe(9))
        self.sessions[session.id] = session
        return self._session_json(request, user, session)

    def _session_json(self, request: Request, user: PeerUser, session: PeerSession) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": f"{str(request.base_url).rstrip('/')}/auth/v1",
            "sub": user.id,
            "aud": "authenticated",
            "exp": now + self.access_ttl,
            "iat": now,
            "email": user.email,
            "phone": "",
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {"email": user.email, "email_verified": True, "sub": user.id},
            "role": "authenticated",
            "aal": "aal1",
            "amr": [{"method": "password", "timestamp": now}],
            "session_id": session.id,
            "is_anonymous": False,
        }
        if self.mode == "HS256":
            access_token = jwt.encode(claims, self.hs256_secret, algorithm="HS256", headers={"typ": "JWT"})
        else:
            access_token = self.signing_key.sign(claims, typ="JWT")
        return {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": self.access_ttl,
            "expires_at": now + self.access_ttl,
            "refresh_token": session.refresh_token,
            "user": self._user_json(user),
        }

    @staticmethod
    def _user_json(user: PeerUser, *, identities: bool = True) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat().replace("+00:00", "Z") if value else None

        identity = {
            "identity_id": str(uuid.uuid5(uuid.NAMESPACE_URL, user.id)),
            "id": user.id,
            "user_id": user.id,
            "identity_data": {"email": user.email, "email_verified": False, "phone_verified": False, "sub": user.id},
            "provider": "email",
            "last_sign_in_at": iso(user.created_at),
            "created_at": iso(user.created_at),
            "updated_at": iso(user.created_at),
            "email": user.email,
        }
        return {
            "id": user.id,
            "aud": "authenticated",
            "role": "authenticated",
            "email": user.email,
            "email_confirmed_at": iso(user.confirmed_at),
            "phone": "",
            "confirmation_sent_at": None if user.confirmed_at else iso(user.created_at),
            "confirmed_at": iso(user.confirmed_at),
            "last_sign_in_at": iso(user.last_sign_in_at),
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {"email": user.email, "email_verified": False, "phone_verified": False, "sub": user.id},
            "identities": [identity] if identities else [],
            "created_at": iso(user.created_at),
            "updated_at": iso(user.created_at),
            "is_anonymous": False,
        }
