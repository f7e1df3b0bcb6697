"""Errors of authentication.

AuthError
├── InvalidToken       missing, malformed, badly signed, expired or wrong-audience token
├── SessionRevoked     the token's session was logged out
├── InvalidCredentials wrong email or password (one message for both)
└── EmailTaken         sign-up with an email that is registered
"""

from __future__ import annotations


class AuthError(Exception):
    """Base of authentication errors; ``str(exc)`` is safe to show to the client."""


class InvalidToken(AuthError):
    pass


class SessionRevoked(AuthError):
    pass


class InvalidCredentials(AuthError):
    pass


class EmailTaken(AuthError):
    pass


class SignupRejected(AuthError):
    pass


class AuthUnavailable(AuthError):
    pass
