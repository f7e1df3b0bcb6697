"""The bodies of ``/auth/v1`` in GoTrue's shapes (as supabase/auth's ``openapi.yaml`` and its Go types name them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import NAMESPACE_URL, uuid5

import msgspec

from ..auth.local import Profile

_IDENTITY_NAMESPACE = uuid5(NAMESPACE_URL, "sensay-hub:identity")


class GoTrueIdentityData(msgspec.Struct):
    email: str
    email_verified: bool
    phone_verified: bool
    sub: str


class GoTrueIdentity(msgspec.Struct):
    """The user's one email identity."""

    identity_id: str
    id: str
    user_id: str
    identity_data: GoTrueIdentityData
    provider: Literal["email"]
    last_sign_in_at: str | None
    created_at: str
    updated_at: str
    email: str


class GoTrueAppMetadata(msgspec.Struct):
    provider: Literal["email"]
    providers: list[str]


class GoTrueUser(msgspec.Struct):
    """A user as GoTrue shows one: email confirmed at sign-up (the hub sends no mail), one email identity."""

    id: str
    aud: Literal["authenticated"]
    role: Literal["authenticated"]
    email: str
    email_confirmed_at: str
    phone: str
    confirmed_at: str
    last_sign_in_at: str | None
    app_metadata: GoTrueAppMetadata
    user_metadata: dict[str, Any]
    identities: list[GoTrueIdentity]
    created_at: str
    updated_at: str
    is_anonymous: bool


class GoTrueSession(msgspec.Struct):
    """A session: tokens and the user (GoTrue's ``AccessTokenResponse``)."""

    access_token: str
    token_type: Literal["bearer"]
    expires_in: int
    expires_at: int
    refresh_token: str
    user: GoTrueUser


class GoTrueSettings(msgspec.Struct):
    """What sign-up and login methods are on: email, auto-confirmed; everything else off."""

    external: dict[str, bool]
    disable_signup: bool
    mailer_autoconfirm: bool
    phone_autoconfirm: bool
    sms_provider: str
    saml_enabled: bool
    passkeys_enabled: bool


class GoTrueHealth(msgspec.Struct):
    """GoTrue's health fields."""

    version: str
    name: str
    description: str


class Jwks(msgspec.Struct):
    """The public keys that verify ES256 access tokens (none with HS256)."""

    keys: list[dict[str, Any]]


class WeakPasswordReasons(msgspec.Struct):
    message: str
    reasons: list[str]


class GoTrueErrorBody(msgspec.Struct, omit_defaults=True):
    """A GoTrue error as clients sending ``X-Supabase-Api-Version: 2024-01-01`` get it."""

    code: Annotated[str, msgspec.Meta(description="The error code (`x-sb-error-code` carries it too).")]
    message: str
    weak_password: WeakPasswordReasons | None = None


class GoTrueLegacyErrorBody(msgspec.Struct, omit_defaults=True):
    """A GoTrue error as older clients (no ``X-Supabase-Api-Version``) get it."""

    code: Annotated[int, msgspec.Meta(description="The HTTP status.")]
    error_code: str
    msg: str
    weak_password: WeakPasswordReasons | None = None


class GatewayRefusal(msgspec.Struct):
    """Supabase's API gateway's answer to a missing or wrong `apikey` (no error code)."""

    message: str
    hint: str


GOTRUE_ERRORS = (GoTrueErrorBody, GoTrueLegacyErrorBody)
"""Either shape, as the client asked (see ``gotrue.py``)."""


def _timestamp(value: datetime) -> str:
    return value.isoformat()


def gotrue_user(profile: Profile) -> GoTrueUser:
    user_id, created = str(profile.id), _timestamp(profile.created_at)
    last_sign_in = _timestamp(profile.last_sign_in_at) if profile.last_sign_in_at is not None else None
    identity = GoTrueIdentity(
        identity_id=str(uuid5(_IDENTITY_NAMESPACE, user_id)),
        id=user_id,
        user_id=user_id,
        identity_data=GoTrueIdentityData(email=profile.email, email_verified=True, phone_verified=False, sub=user_id),
        provider="email",
        last_sign_in_at=last_sign_in,
        created_at=created,
        updated_at=created,
        email=profile.email,
    )
    return GoTrueUser(
        id=user_id,
        aud="authenticated",
        role="authenticated",
        email=profile.email,
        email_confirmed_at=created,
        phone="",
        confirmed_at=created,
        last_sign_in_at=last_sign_in,
        app_metadata=GoTrueAppMetadata(provider="email", providers=["email"]),
        user_metadata=profile.user_metadata,
        identities=[identity],
        created_at=created,
        updated_at=_timestamp(profile.updated_at),
        is_anonymous=False,
    )
