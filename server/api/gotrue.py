"""``/auth/v1``: the part of Supabase Auth's (GoTrue's) API that supabase-js and supabase-py call, on local auth.

Bodies, status codes and errors are GoTrue's, so a front end written for Supabase runs unchanged against a
zero-config hub. Errors take the shape the client asked for: with ``X-Supabase-Api-Version: 2024-01-01`` (what
the clients send) ``{"code": "<error code>", "message": …}`` and the version echoed, else the older
``{"code": <status>, "error_code": …, "msg": …}``. Like Supabase's gateway, every route but the JWKS wants the
project's ``apikey``. Served only with the local backend: with ``SUPABASE_URL`` the front end talks to Supabase.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Annotated, Any, Final, Literal, cast, get_args

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ..auth.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidToken,
    RefreshTokenReused,
    SamePassword,
    SessionExpired,
)
from ..auth.local import LogoutScope
from .auth import client_address, end_sessions
from .gotrue_shapes import (
    GoTrueHealth,
    GoTrueSession,
    GoTrueSettings,
    GoTrueUser,
    Jwks,
    gotrue_user,
)
from .gotrue_wire import (
    BODY_FAILS,
    GoTrueError,
    body_of,
    endpoint,
    gotrue_operation,
    identity_of,
    principal_of,
    session_response,
    valid_email,
)
from .methods import allowed_methods
from .operation import Answer, Endpoint, Method, routes_of
from .responses import json_response


class SignupBody(msgspec.Struct):
    email: str = ""
    phone: str = ""
    password: str = ""
    data: dict[str, Any] | None = None


@gotrue_operation(
    "POST",
    "/signup",
    "gotrueSignUp",
    {200: GoTrueSession},
    {
        400: "`validation_failed`, `phone_provider_disabled`, `bad_json`",
        413: "`request_entity_too_large`",
        422: "`user_already_exists`, `weak_password` (with `weak_password.reasons`), `anonymous_provider_disabled`, "
        "`validation_failed` (a string holding NUL)",
        429: "`over_request_rate_limit`",
    },
    body=SignupBody,
)
@endpoint()
async def signup(request: Request) -> Response:
    """Create a user and log them in (GoTrue with auto-confirm: the hub sends no confirmation mail)."""
    body = await body_of(request, SignupBody)
    if body.phone and not body.email:
        raise GoTrueError(400, "phone_provider_disabled", "Phone signups are disabled")
    if not body.email and not body.password:
        raise GoTrueError(422, "anonymous_provider_disabled", "Anonymous sign-ins are disabled")
    email = valid_email(body.email)
    if not body.password:
        raise GoTrueError(400, "validation_failed", "Signup requires a valid password")
    identity = identity_of(request)
    try:
        profile = await identity.register(email, body.password, client=client_address(request), metadata=body.data)
    except EmailTaken:
        raise GoTrueError(422, "user_already_exists", "User already registered") from None
    return await session_response(identity, await identity.start_session(profile))


class PasswordGrant(msgspec.Struct):
    email: str = ""
    phone: str = ""
    password: str = ""


class RefreshGrant(msgspec.Struct):
    refresh_token: str = ""


class TokenQuery(msgspec.Struct):
    grant_type: Annotated[
        Literal["password", "refresh_token", "pkce", "id_token", "web3"],
        msgspec.Meta(description="`password` logs in, `refresh_token` rotates; the others are not supported."),
    ]


class LogoutQuery(msgspec.Struct):
    scope: Annotated[LogoutScope, msgspec.Meta(description="End all the user's sessions, this one, or all others.")] = (
        "global"
    )


_UNSUPPORTED_GRANTS = {  # PKCE never starts here (no OAuth, no magic links), so no flow state is ever found
    "pkce": (404, "flow_state_not_found", "invalid flow state, no valid flow state found"),
    "id_token": (
        400,
        "provider_disabled",
        "Sign-in with OAuth/OIDC ID tokens is not supported by the hub's local auth",
    ),
    "web3": (422, "web3_provider_disabled", "Web3 sign-in is not supported by the hub's local auth"),
}


@gotrue_operation(
    "POST",
    "/token",
    "gotrueToken",
    {200: GoTrueSession},
    {
        400: "`invalid_credentials`, `validation_failed`, `refresh_token_not_found`, `refresh_token_already_used` "
        "(the session is ended), `session_expired`, `provider_disabled`, `bad_json`",
        404: "`flow_state_not_found` (`pkce`: no flow ever starts here)",
        413: "`request_entity_too_large`",
        422: "`phone_provider_disabled`, `web3_provider_disabled`, `validation_failed` (a string holding NUL)",
        429: "`over_request_rate_limit`",
    },
    body=(PasswordGrant, RefreshGrant),
    query=TokenQuery,
)
@endpoint()
async def token(request: Request) -> Response:
    """``grant_type=password`` logs in, ``grant_type=refresh_token`` rotates the refresh token."""
    grant = request.query_params.get("grant_type", "")
    if grant == "password":
        return await _password_grant(request)
    if grant == "refresh_token":
        return await _refresh_grant(request)
    raise GoTrueError(*_UNSUPPORTED_GRANTS.get(grant, (400, "invalid_credentials", "unsupported_grant_type")))


async def _password_grant(request: Request) -> Response:
    body = await body_of(request, PasswordGrant)
    if body.email and body.phone:
        raise GoTrueError(
            400, "validation_failed", "Only an email address or phone number should be provided on login."
        )
    if body.phone:
        raise GoTrueError(422, "phone_provider_disabled", "Phone logins are disabled")
    if not body.email:
        raise GoTrueError(400, "validation_failed", "missing email or phone")
    identity = identity_of(request)
    try:
        pair = await identity.login(body.email.strip(), body.password, client=client_address(request))
    except InvalidCredentials:
        raise GoTrueError(400, "invalid_credentials", "Invalid login credentials") from None
    return await session_response(identity, pair)


async def _refresh_grant(request: Request) -> Response:
    body = await body_of(request, RefreshGrant)
    if len(body.refresh_token) < 12:
        raise GoTrueError(400, "validation_failed", "Refresh token is not valid")
    identity = identity_of(request)
    try:
        pair = await identity.refresh(body.refresh_token, client=client_address(request))
    except RefreshTokenReused as exc:
        await end_sessions(request, exc.user_id, [exc.session_id])
        raise GoTrueError(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used") from None
    except SessionExpired:
        raise GoTrueError(400, "session_expired", "Invalid Refresh Token: Session Expired") from None
    except InvalidToken:
        raise GoTrueError(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found") from None
    return await session_response(identity, pair)


@gotrue_operation(
    "GET",
    "/user",
    "gotrueGetUser",
    {200: GoTrueUser},
    {401: "`no_authorization`", 403: "`bad_jwt`, `session_not_found`"},
    bearer=True,
)
@endpoint()
async def get_user(request: Request) -> Response:
    """The user of the token."""
    principal = await principal_of(request)
    return json_response(gotrue_user(await identity_of(request).profile(principal.user_id)))


class UserUpdate(msgspec.Struct):
    email: str = ""
    phone: str = ""
    password: str | None = None
    data: dict[str, Any] | None = None


@gotrue_operation(
    "PUT",
    "/user",
    "gotrueUpdateUser",
    {200: GoTrueUser},
    {
        **BODY_FAILS,
        401: "`no_authorization`",
        403: "`bad_jwt`, `session_not_found`",
        422: "`same_password`, `weak_password`, `email_address_not_authorized`, `phone_provider_disabled`, "
        "`validation_failed` (a string holding NUL)",
        429: "`over_request_rate_limit`",
    },
    body=UserUpdate,
    bearer=True,
)
@endpoint()
async def update_user(request: Request) -> Response:
    """Change the password (ending the user's other sessions) and/or merge ``data`` into ``user_metadata``."""
    principal = await principal_of(request)
    body = await body_of(request, UserUpdate, required=True)
    identity = identity_of(request)
    if body.email and body.email.strip().lower() != (principal.email or "").lower():
        raise GoTrueError(
            422, "email_address_not_authorized", "Changing the email address is not supported by the hub's local auth"
        )
    if body.phone:
        raise GoTrueError(422, "phone_provider_disabled", "Phone numbers are not supported by the hub's local auth")
    try:
        profile, ended = await identity.update_user(
            principal, password=body.password, metadata=body.data, client=client_address(request)
        )
    except SamePassword as exc:
        raise GoTrueError(422, "same_password", str(exc)) from None
    await end_sessions(request, principal.user_id, ended)
    return json_response(gotrue_user(profile))


@gotrue_operation(
    "POST",
    "/logout",
    "gotrueLogOut",
    {204: None},
    {400: "`validation_failed` (an unknown `scope`)", 401: "`no_authorization`", 403: "`bad_jwt`, `session_not_found`"},
    query=LogoutQuery,
    bearer=True,
)
@endpoint()
async def logout(request: Request) -> Response:
    """End this session (``scope=local``), all the user's (``global``, the default) or all others (``others``)."""
    principal = await principal_of(request)
    scope = request.query_params.get("scope") or "global"
    if scope not in get_args(LogoutScope):
        raise GoTrueError(400, "validation_failed", f"Unsupported logout scope {scope!r}")
    ended = await identity_of(request).end_sessions(principal, cast(LogoutScope, scope))
    await end_sessions(request, principal.user_id, ended)
    return Response(status_code=204)


_OAUTH_PROVIDERS = (
    "apple azure bitbucket discord facebook figma fly github gitlab google kakao keycloak linkedin linkedin_oidc"
    " notion slack slack_oidc snapchat spotify twitch twitter workos zoom"
).split()


@gotrue_operation("GET", "/settings", "gotrueSettings", {200: GoTrueSettings}, {})
@endpoint()
async def settings(request: Request) -> Response:
    """Which sign-up and login methods are on."""
    providers = dict.fromkeys(_OAUTH_PROVIDERS, False)
    return json_response(
        GoTrueSettings(
            external={**providers, "email": True, "phone": False, "anonymous_users": False},
            disable_signup=False,
            mailer_autoconfirm=True,
            phone_autoconfirm=False,
            sms_provider="",
            saml_enabled=False,
            passkeys_enabled=False,
        )
    )


@gotrue_operation("GET", "/health", "gotrueHealth", {200: GoTrueHealth}, {})
@endpoint()
async def health(request: Request) -> Response:
    """GoTrue's health check."""
    description = "sensay-hub's local auth, speaking GoTrue's API"
    return json_response(GoTrueHealth(version("sensay-hub"), "GoTrue", description))


@gotrue_operation(
    "GET",
    "/.well-known/jwks.json",
    "gotrueJwks",
    {200: Answer(Jwks, headers={"Cache-Control": "`public, max-age=600`"})},
    {},
    apikey=False,
)
@endpoint(apikey=False)
async def jwks(request: Request) -> Response:
    """The public keys of ES256 tokens (empty with HS256, whose secret is never shown), open as Supabase's is."""
    document = msgspec.convert(identity_of(request).keys.jwks(), Jwks)
    return json_response(document, headers={"Cache-Control": "public, max-age=600"})


# What the hub's local auth does not do, and what it says instead (it sends no email or SMS, and has no OAuth).
_NOT_SUPPORTED = {
    "authorize": ("provider_disabled", "OAuth providers are not supported by the hub's local auth"),
    "callback": ("provider_disabled", "OAuth providers are not supported by the hub's local auth"),
    "otp": ("otp_disabled", "Magic links and one-time codes are not supported by the hub's local auth"),
    "magiclink": ("otp_disabled", "Magic links are not supported by the hub's local auth"),
    "verify": ("otp_disabled", "Email and phone verification is not needed: the hub's local auth confirms at sign-up"),
    "resend": ("otp_disabled", "The hub's local auth sends no email or SMS"),
    "recover": ("otp_disabled", "Password recovery by email is not supported by the hub's local auth"),
    "reauthenticate": ("otp_disabled", "Reauthentication codes are not supported by the hub's local auth"),
    "factors": ("mfa_totp_enroll_not_enabled", "Multi-factor authentication is not supported by the hub's local auth"),
    "sso": ("sso_provider_not_found", "SSO is not supported by the hub's local auth"),
    "invite": ("feature_disabled", "Invitations are not supported by the hub's local auth"),
    "admin": ("feature_disabled", "The admin API is not supported by the hub's local auth"),
}


@endpoint()
async def _not_supported(request: Request) -> Response:
    """Anything else GoTrue serves: a refusal naming what is supported.

    OAuth, magic links, OTP, verification, recovery, MFA, SSO, invitations and the admin API are not supported
    by the hub's local auth.
    """
    served = allowed_methods(request.scope, request.app.routes, catch_all_counts=False)
    if served:  # a route of its own serves this path, with other methods
        raise GoTrueError(405, "method_not_allowed", "Method Not Allowed", headers={"Allow": ", ".join(served)})
    first = request.path_params["rest"].strip("/").split("/", 1)[0]
    code, message = _NOT_SUPPORTED.get(
        first,
        ("feature_disabled", f"/auth/v1/{request.path_params['rest']} is not supported by the hub's local auth"),
    )
    supported = "supported: email and password sign-up and login, refresh, user, logout, settings, health, JWKS"
    raise GoTrueError(404 if code == "feature_disabled" else 400, code, f"{message} ({supported})")


def _unsupported(method: Method) -> Endpoint:
    return gotrue_operation(
        method,
        "/{rest:path}",
        f"gotrueUnsupported{method.title()}",
        {},
        {
            400: "`provider_disabled`, `otp_disabled`, `mfa_totp_enroll_not_enabled`, `sso_provider_not_found`",
            404: "`feature_disabled`",
            405: "`method_not_allowed`: a route of its own serves the path, with the methods in `Allow`",
        },
    )(_not_supported)


_METHODS: Final[tuple[Method, ...]] = ("GET", "POST", "PUT", "PATCH", "DELETE")
routes = routes_of(
    signup,
    token,
    get_user,
    update_user,
    logout,
    settings,
    health,
    jwks,
    *(_unsupported(method) for method in _METHODS),
)
