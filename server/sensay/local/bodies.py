"""The local replica's requests and errors: msgspec bodies and query, and errors in Sensay's shape."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Final, Literal, TypeVar

import msgspec
from msgspec import UNSET, Meta, UnsetType
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from .personas import DEFAULT_MODEL

CONTENT_MAX: Final = 100_000
_UUID: Final = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_Short = Annotated[str, Meta(max_length=50)]
_Positive = Annotated[int, Meta(ge=1)]
Source = Literal["discord", "telegram", "embed", "web", "telegram_autopilot"]


class ApiError(Exception):
    """An error answered in Sensay's shape (``success``, ``error``, ``error_code``, ``request_id``)."""

    def __init__(self, status: int, message: str, error_code: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code
        self.headers = headers or {}


def invalid(message: str) -> ApiError:
    """A 400 ``VALIDATION_ERROR``."""
    return ApiError(400, message, "VALIDATION_ERROR")


class UserBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """``POST /v1/users``; Sensay allows these characters in a name."""

    id: Annotated[str, Meta(min_length=1)] | UnsetType = UNSET
    name: Annotated[str, Meta(max_length=50, pattern=r"^[a-zA-Z0-9\s().,'\-/]*$")] = ""
    email: Annotated[str, Meta(pattern="@")] = ""
    linked_accounts: list[Any] = []


class LLMBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """The ``llm`` object of ``POST /v1/replicas``."""

    model: str = DEFAULT_MODEL
    system_message: Annotated[str, Meta(max_length=30_000)] = ""
    memory_mode: Any = None
    tools: Any = None
    embedding_model: Any = None


class ReplicaBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """``POST /v1/replicas``; fields the local replica does not use are accepted and ignored."""

    name: _Short
    slug: _Short
    short_description: _Short
    greeting: Annotated[str, Meta(max_length=600)]
    owner_id: str = msgspec.field(name="ownerID")
    llm: LLMBody
    purpose: Annotated[str, Meta(max_length=1000)] = ""
    type: Literal["individual", "character", "brand"] = "character"
    private: bool = False
    tags: list[str] = []
    suggested_questions: list[str] = []
    profile_image: str = ""
    whitelist_emails: Any = None
    voice_preview_text: Any = None
    is_accessible_by_customer_support: Any = None
    is_every_conversation_accessible_by_support: Any = None
    is_private_conversations_enabled: Any = None
    introduction_audio_id: Any = msgspec.field(default=None, name="introductionAudioID")


class ChatBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/replicas/{replicaUUID}/chat/completions``."""

    content: Annotated[str, Meta(min_length=1, max_length=CONTENT_MAX)]
    skip_chat_history: bool = False
    source: Source = "web"
    discord_data: Any = None
    usage_limits: Any = msgspec.field(default=None, name="usageLimits")


class ListQuery(msgspec.Struct, kw_only=True, rename={"owner_id": "ownerID"}):
    """The query of ``GET /v1/replicas``; other parameters are ignored."""

    page: _Positive = 1
    page_size: _Positive = 24
    page_index: _Positive = 1
    sort: Literal["name", "popularity"] = "name"
    owner_id: str = ""
    slug: str = ""
    search: str = ""


class ReplicaPath(msgspec.Struct):
    """The path of a replica's operations."""

    replica_id: Annotated[str, Meta(pattern=_UUID)]


_B = TypeVar("_B")


async def read_body(request: Request, type_: type[_B]) -> _B:
    """The request's JSON body as ``type_``: 415 unless declared as JSON, 400 when malformed or invalid."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(415, "Content-Type must be application/json", "UNSUPPORTED_MEDIA_TYPE")
    try:
        return msgspec.json.decode(await request.body(), type=type_)
    except msgspec.ValidationError as exc:
        raise invalid(f"Invalid body: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise invalid(f"Malformed JSON body: {exc}") from exc


def read_params(values: Any, type_: type[_B], what: str) -> _B:
    """Query or path parameters (strings) as ``type_``; 400 when invalid."""
    try:
        return msgspec.convert(dict(values), type_, strict=False)
    except msgspec.ValidationError as exc:
        raise invalid(f"Invalid {what}: {exc}") from exc


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``content`` as a JSON response."""
    return Response(msgspec.json.encode(content), status_code=status, headers=headers, media_type="application/json")


def _error(message: str, error_code: str, status: int, headers: dict[str, str]) -> Response:
    request_id = f"local::{uuid.uuid4().hex}"
    body = {
        "success": False,
        "error": message,
        "error_code": error_code,
        "fingerprint": uuid.uuid4().hex,
        "request_id": request_id,
    }
    return json_response(body, status, {"X-Request-ID": request_id, **headers})


async def api_error_response(request: Request, exc: Exception) -> Response:
    """Starlette's handler of :class:`ApiError`."""
    assert isinstance(exc, ApiError)
    return _error(exc.message, exc.error_code, exc.status, exc.headers)


async def http_error_response(request: Request, exc: Exception) -> Response:
    """Starlette's handler of its own errors (unknown path, wrong method), in Sensay's shape."""
    assert isinstance(exc, HTTPException)
    return _error(exc.detail, "HTTP_ERROR", exc.status_code, dict(exc.headers or {}))
