"""Errors of authentication: the ``AuthError`` branch of the domain errors (``server.errors``).

AuthError
├── InvalidToken         missing, malformed, badly signed, expired or wrong-audience token
│   └── InvalidRefreshToken  unknown, used or expired refresh token
├── SessionRevoked       the token's session was logged out
├── InvalidCredentials   wrong email or password (one message for both)
├── EmailTaken           sign-up with an email that is registered
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
    SessionRevoked,
    SignupRejected,
)

__all__ = [
    "AuthError",
    "AuthUnavailable",
    "EmailTaken",
    "InvalidCredentials",
    "InvalidRefreshToken",
    "InvalidToken",
    "SessionRevoked",
    "SignupRejected",
]
