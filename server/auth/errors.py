"""Errors of authentication.

AuthError
├── InvalidToken         missing, malformed, badly signed, expired or wrong-audience token; unknown refresh token
│   ├── SessionExpired   the refresh token's session outlived its refresh lifetime
│   └── RefreshTokenReused  an old refresh token came back: its session (the whole token family) is ended
├── SessionRevoked       the token's session was logged out
├── InvalidCredentials   wrong email or password (one message for both)
├── EmailTaken           sign-up with an email that is registered
├── WeakPassword         a new password that breaks the rules (``reasons`` as GoTrue names them)
├── SamePassword         a new password equal to the current one
├── SignupRejected       the identity provider refused a sign-up
├── RateLimited          too many attempts; ``retry_after`` seconds until the next may succeed
└── AuthUnavailable      the identity provider did not answer
"""

from __future__ import annotations

from uuid import UUID


class AuthError(Exception):
    """Base of authentication errors; ``str(exc)`` is safe to show to the client."""


class InvalidToken(AuthError):
    pass


class SessionExpired(InvalidToken):
    pass


class RefreshTokenReused(InvalidToken):
    """The session ``session_id`` of ``user_id`` was revoked because one of its old refresh tokens was replayed."""

    def __init__(self, message: str, *, session_id: UUID, user_id: UUID) -> None:
        super().__init__(message)
        self.session_id = session_id
        self.user_id = user_id


class SessionRevoked(AuthError):
    pass


class InvalidCredentials(AuthError):
    pass


class EmailTaken(AuthError):
    pass


class WeakPassword(AuthError):
    def __init__(self, message: str, reasons: list[str]) -> None:
        super().__init__(message)
        self.reasons = reasons


class SamePassword(AuthError):
    pass


class SignupRejected(AuthError):
    pass


class RateLimited(AuthError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthUnavailable(AuthError):
    pass
