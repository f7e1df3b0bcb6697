"""Domain errors: what services raise, and the one table that gives each its code on both transports.

A REST problem document and a socket ``error`` frame are both built from :func:`error_code`, so one cause has
one code string everywhere; the HTTP status comes with the code (``ErrorCode.http_status``). Backends keep
their own trees (``store.errors``, ``sensay.errors``); services translate those into these.

    DomainError                     internal_error
    ├── InvalidInput                validation_error
    │   ├── UnknownUser             unknown_user
    │   ├── UnknownAction           unknown_action
    │   ├── ReplicaRequired         replica_required
    │   ├── SpeechNotRecognized     speech_not_recognized
    │   └── ToolFailed              tool_failed
    ├── NotFound                    not_found
    │   ├── ReplicaNotFound         replica_not_found
    │   ├── PrototypeNotFound       prototype_not_found
    │   ├── BondNotFound            bond_not_found
    │   ├── CallNotFound            call_not_found
    │   ├── TransferNotFound        transfer_not_found
    │   └── ToolNotFound            tool_not_found
    ├── Forbidden                   forbidden
    │   ├── WrongPin                wrong_pin
    │   └── WrongCode               wrong_code
    ├── Conflict                    (a group: each kind has its own code)
    │   ├── ClientIdConflict        client_id_conflict
    │   ├── InsufficientFunds       insufficient_funds
    │   ├── PathLocked              path_locked
    │   ├── MaxLevel                max_level
    │   ├── AlreadyBonded           already_bonded
    │   ├── BondEnded               bond_ended
    │   ├── CallEnded               call_ended
    │   ├── PinRequired             pin_required
    │   ├── NumberTaken             number_taken
    │   ├── IllegalTransition       illegal_transition
    │   ├── AlreadyUnlocked         already_unlocked
    │   ├── ListingClosed           listing_closed
    │   └── TaskConflict            task_conflict
    ├── AuthError                   unauthorized
    │   ├── CredentialsMissing      unauthorized (no bearer token or service key was given)
    │   ├── InvalidToken            unauthorized
    │   │   └── InvalidRefreshToken invalid_refresh_token
    │   │       ├── SessionExpired          (the session outlived its refresh lifetime)
    │   │       └── RefreshTokenReused      (an old refresh token came back: its session is ended)
    │   ├── SessionRevoked          unauthorized
    │   ├── InvalidCredentials      invalid_credentials
    │   ├── EmailTaken              email_taken
    │   ├── WeakPassword            signup_rejected
    │   ├── SamePassword            validation_error
    │   ├── SignupRejected          signup_rejected
    │   └── AuthUnavailable         auth_unavailable
    ├── RateLimited                 rate_limited (with ``retry_after``)
    ├── ReplicaUnavailable          replica_unavailable (Sensay failed or timed out; retryable)
    ├── ReplicaRejected             replica_rejected (Sensay refused, or answered something unreadable)
    │   ├── ReplicaQuotaExceeded    replica_quota_exceeded (a Sensay usage quota is spent)
    │   └── ReplicaPolicyRefused    replica_policy_refused (Sensay's content policy)
    ├── SpeechUnavailable           speech_unavailable (no speech recogniser installed)
    ├── NotReady                    not_ready
    └── ReplyDelayed                reply_delayed (the reply waits for the database; it still comes)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final
from uuid import UUID

from protocol import ErrorCode


class DomainError(Exception):
    """Base of the errors services raise. ``str(exc)`` is the detail shown to the client.

    ``extra`` holds fields a REST problem document adds (e.g. the stored message a failed reply answers).
    """

    def __init__(self, detail: str, *, retry_after: float | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after
        """Seconds after which trying again may succeed (REST sends it as ``Retry-After``)."""
        self.extra = extra


class InvalidInput(DomainError):
    """A value the client sent breaks a rule its type cannot express (the detail names it)."""


class UnknownUser(InvalidInput):
    """A user id in the request is not a user."""


class UnknownAction(InvalidInput):
    """The prototype has no action of this name."""


class ReplicaRequired(InvalidInput):
    """No replica was named and no default replica is configured."""


class SpeechNotRecognized(InvalidInput):
    """The audio is no 16-bit mono PCM WAV, or no words were recognised in it."""


class ToolFailed(InvalidInput):
    """A mock MCP tool could not process its input."""


class NotFound(DomainError):
    """What the request names does not exist, or is not visible to the caller."""


class ReplicaNotFound(NotFound):
    """No replica with this id is visible to the user."""


class PrototypeNotFound(NotFound):
    """No prototype with this id."""


class BondNotFound(NotFound):
    """No bond with this id belongs to the user."""


class CallNotFound(NotFound):
    """No (voice or simulated) call with this id belongs to the user."""


class TransferNotFound(NotFound):
    """No simulated transfer with this hash belongs to the user."""


class ToolNotFound(NotFound):
    """No mock MCP tool of this name."""


class Forbidden(DomainError):
    """The user may not do this (e.g. post to a room they are not a member of)."""


class WrongPin(Forbidden):
    """The caller's PIN is wrong (the detail says how many attempts are left)."""


class WrongCode(Forbidden):
    """The phone number's verification code is wrong, expired or used up."""


class Conflict(DomainError):
    """The request conflicts with the current state; each kind has its own code."""


class ClientIdConflict(Conflict):
    """A client id was already used for a message with other content."""


class InsufficientFunds(Conflict):
    """A $SNSY balance or stake is too small."""


class PathLocked(Conflict):
    """The replica already follows another evolution path."""


class MaxLevel(Conflict):
    """The replica is at the top of its evolution path."""


class AlreadyBonded(Conflict):
    """These replicas already form an active bond."""


class BondEnded(Conflict):
    """The bond has ended."""


class CallEnded(Conflict):
    """The call has ended."""


class PinRequired(Conflict):
    """The call waits for the caller's PIN."""


class NumberTaken(Conflict):
    """Another user has verified this phone number."""


class IllegalTransition(Conflict):
    """A simulated call cannot move to this status from its current one."""


class AlreadyUnlocked(Conflict):
    """The memory is unlocked for the user already."""


class ListingClosed(Conflict):
    """The marketplace listing was sold or withdrawn."""


class TaskConflict(Conflict):
    """The task a command named changed while the command ran."""


class AuthError(DomainError):
    """Authentication failed; ``str(exc)`` is safe to show to the client."""


class CredentialsMissing(AuthError):
    """No credentials were given (a missing bearer token, or a route's service key)."""


class InvalidToken(AuthError):
    """Missing, malformed, badly signed, expired or wrong-audience token."""


class SessionRevoked(AuthError):
    """The token's session was logged out."""


class InvalidRefreshToken(InvalidToken):
    """The refresh token is unknown, already used, or expired."""


class SessionExpired(InvalidRefreshToken):
    """The refresh token's session outlived its refresh lifetime."""


class RefreshTokenReused(InvalidRefreshToken):
    """An old refresh token came back: session ``session_id`` of ``user_id`` (its whole token family) was ended."""

    def __init__(self, detail: str, *, session_id: UUID, user_id: UUID) -> None:
        super().__init__(detail)
        self.session_id = session_id
        self.user_id = user_id


class InvalidCredentials(AuthError):
    """Wrong email or password (one message for both)."""


class EmailTaken(AuthError):
    """Sign-up with an email that is registered."""


class WeakPassword(AuthError):
    """A new password breaks the rules; ``reasons`` as GoTrue names them (e.g. ``length``)."""

    def __init__(self, detail: str, reasons: list[str]) -> None:
        super().__init__(detail)
        self.reasons = reasons


class SamePassword(AuthError):
    """A new password equal to the current one."""


class SignupRejected(AuthError):
    """The identity provider refused the sign-up."""


class AuthUnavailable(AuthError):
    """The identity provider did not answer."""


class RateLimited(DomainError):
    """Too many attempts; ``retry_after`` says when the next may succeed."""

    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(detail, retry_after=retry_after)


class ReplicaUnavailable(DomainError):
    """Sensay failed or timed out; the same request may succeed later."""


class ReplicaRejected(DomainError):
    """Sensay refused the request; sending it again will not help."""


class ReplicaQuotaExceeded(ReplicaRejected):
    """A Sensay usage quota is spent; sending again before it renews will not help."""


class ReplicaPolicyRefused(ReplicaRejected):
    """Sensay refused the message under its content policy."""


class SpeechUnavailable(DomainError):
    """No speech recogniser is installed (the ``[voice]`` extra)."""


class NotReady(DomainError):
    """The database does not answer or is not migrated."""


class ReplyDelayed(DomainError):
    """A stored message's reply waits for the database to answer again; it still comes by itself."""


ERROR_TABLE: Final[Mapping[type[DomainError], ErrorCode]] = MappingProxyType(
    {
        DomainError: ErrorCode.INTERNAL_ERROR,
        InvalidInput: ErrorCode.VALIDATION_ERROR,
        UnknownUser: ErrorCode.UNKNOWN_USER,
        UnknownAction: ErrorCode.UNKNOWN_ACTION,
        ReplicaRequired: ErrorCode.REPLICA_REQUIRED,
        ToolFailed: ErrorCode.TOOL_FAILED,
        NotFound: ErrorCode.NOT_FOUND,
        ReplicaNotFound: ErrorCode.REPLICA_NOT_FOUND,
        PrototypeNotFound: ErrorCode.PROTOTYPE_NOT_FOUND,
        BondNotFound: ErrorCode.BOND_NOT_FOUND,
        CallNotFound: ErrorCode.CALL_NOT_FOUND,
        TransferNotFound: ErrorCode.TRANSFER_NOT_FOUND,
        ToolNotFound: ErrorCode.TOOL_NOT_FOUND,
        Forbidden: ErrorCode.FORBIDDEN,
        ClientIdConflict: ErrorCode.CLIENT_ID_CONFLICT,
        InsufficientFunds: ErrorCode.INSUFFICIENT_FUNDS,
        PathLocked: ErrorCode.PATH_LOCKED,
        MaxLevel: ErrorCode.MAX_LEVEL,
        AlreadyBonded: ErrorCode.ALREADY_BONDED,
        BondEnded: ErrorCode.BOND_ENDED,
        CallEnded: ErrorCode.CALL_ENDED,
        IllegalTransition: ErrorCode.ILLEGAL_TRANSITION,
        PinRequired: ErrorCode.PIN_REQUIRED,
        WrongPin: ErrorCode.WRONG_PIN,
        WrongCode: ErrorCode.WRONG_CODE,
        NumberTaken: ErrorCode.NUMBER_TAKEN,
        SpeechNotRecognized: ErrorCode.SPEECH_NOT_RECOGNIZED,
        SpeechUnavailable: ErrorCode.SPEECH_UNAVAILABLE,
        AlreadyUnlocked: ErrorCode.ALREADY_UNLOCKED,
        ListingClosed: ErrorCode.LISTING_CLOSED,
        TaskConflict: ErrorCode.TASK_CONFLICT,
        AuthError: ErrorCode.UNAUTHORIZED,
        InvalidRefreshToken: ErrorCode.INVALID_REFRESH_TOKEN,
        InvalidCredentials: ErrorCode.INVALID_CREDENTIALS,
        EmailTaken: ErrorCode.EMAIL_TAKEN,
        WeakPassword: ErrorCode.SIGNUP_REJECTED,
        SamePassword: ErrorCode.VALIDATION_ERROR,
        SignupRejected: ErrorCode.SIGNUP_REJECTED,
        AuthUnavailable: ErrorCode.AUTH_UNAVAILABLE,
        RateLimited: ErrorCode.RATE_LIMITED,
        ReplicaUnavailable: ErrorCode.REPLICA_UNAVAILABLE,
        ReplicaRejected: ErrorCode.REPLICA_REJECTED,
        ReplicaQuotaExceeded: ErrorCode.REPLICA_QUOTA_EXCEEDED,
        ReplicaPolicyRefused: ErrorCode.REPLICA_POLICY_REFUSED,
        NotReady: ErrorCode.NOT_READY,
        ReplyDelayed: ErrorCode.REPLY_DELAYED,
    }
)
"""Each domain error class and its code; a class not listed takes its nearest listed base's code."""


def error_code(error: DomainError) -> ErrorCode:
    """The code of ``error`` on both transports (its HTTP status is ``code.http_status``)."""
    for cls in type(error).__mro__:
        code = ERROR_TABLE.get(cls)
        if code is not None:
            return code
    raise AssertionError("unreachable: DomainError is in the table")


def retry_after_header(seconds: float | None) -> str:
    """``Retry-After`` for a wait of ``seconds`` (``None``: unknown): whole seconds, rounded up, at least 1, so a
    client that waits as told is not turned away again."""
    return str(max(1, math.ceil(seconds or 1)))
