"""Errors of authentication: the ``AuthError`` branch of the domain errors (``server.errors``).

AuthError
├── InvalidToken         missing, malformed, badly signed, expired or wrong-audience token
│   └── InvalidRefreshToken  unknown, used or expired refresh token
│       ├── SessionExpired       the refresh token's session outlived its refresh lifetime
│       └── RefreshTokenReused   an old refresh token came back: its session (the whole family) is ended
├── SessionRevoked       the token's session was logged out
├── InvalidCredentials   wrong email or password (one message for both)
├── EmailTaken           sign-up with an email that is registered
├── WeakPassword         a new password that breaks the rules (``reasons`` as GoTrue names them)
├── SamePassword         a new password equal to the current one
├── SignupRejected       the identity provider refused the sign-up
└── AuthUnavailable      the identity provider did not answer
"""

from __future__ import annotations

from ..errors import (
    AuthError,
    AuthUnavailable,
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidToken,
    RateLimited,
    RefreshTokenReused,
    SamePassword,
    SessionExpired,
    SessionRevoked,
    SignupRejected,
    WeakPassword,
)

__all__ = [
    "AuthError",
    "AuthUnavailable",
    "EmailTaken",
    "InvalidCredentials",
    "InvalidRefreshToken",
    "InvalidToken",
    "RateLimited",
    "RefreshTokenReused",
    "SamePassword",
    "SessionExpired",
    "SessionRevoked",
    "SignupRejected",
    "WeakPassword",
]
