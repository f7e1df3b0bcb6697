"""What the Sensay API returns, as msgspec structs: ours in snake_case, Sensay's wire shapes, and decoding."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypeVar

import httpx
import msgspec

from .errors import SensayError

Source = Literal["discord", "telegram", "embed", "web", "telegram_autopilot"]
ReplicaType = Literal["individual", "character", "brand"]


class ReplicaLLM(msgspec.Struct, kw_only=True, frozen=True):
    """The model settings of a replica."""

    model: str | None = None
    system_message: str | None = None


class Replica(msgspec.Struct, kw_only=True, frozen=True):
    """A replica as Sensay describes it, with our snake_case field names (Sensay's are camelCase)."""

    uuid: str
    name: str
    slug: str
    short_description: str | None = None
    greeting: str | None = None
    owner_id: str | None = None
    purpose: str | None = None
    type: str | None = None
    private: bool = False
    tags: tuple[str, ...] = ()
    suggested_questions: tuple[str, ...] = ()
    profile_image: str | None = None
    llm: ReplicaLLM | None = None


class ChatHistoryItem(msgspec.Struct, kw_only=True, frozen=True):
    """One message of a user's chat history with a replica."""

    id: int | float
    role: str
    content: str
    created_at: datetime
    source: str | None = None
    user_uuid: str | None = None
    is_private: bool = False
    original_message_id: str | None = None


class HistoryMatch(msgspec.Struct, frozen=True):
    """A message found in Sensay's chat history, and the replica's answer after it (``None``: not answered yet)."""

    answer: str | None


class SensayLLM(msgspec.Struct, kw_only=True, frozen=True, rename="camel"):
    """A replica's ``llm`` in Sensay's shape."""

    model: str | None = None
    system_message: str | None = None


class SensayReplica(msgspec.Struct, kw_only=True, frozen=True, rename="camel"):
    """A replica in Sensay's own camelCase shape; unknown fields are ignored."""

    uuid: str
    name: str
    slug: str
    short_description: str | None = None
    greeting: str | None = None
    owner_id: str | None = msgspec.field(default=None, name="ownerID")
    purpose: str | None = None
    type: str | None = None
    private: bool = False
    tags: tuple[str, ...] = ()
    suggested_questions: tuple[str, ...] = ()
    profile_image: str | None = None
    llm: SensayLLM | None = None

    def ours(self) -> Replica:
        """Sensay's camelCase replica as our snake_case one: the one place the names are mapped."""
        llm = ReplicaLLM(model=self.llm.model, system_message=self.llm.system_message) if self.llm else None
        fields = {name: getattr(self, name) for name in Replica.__struct_fields__ if name != "llm"}
        return Replica(**fields, llm=llm)


class ReplicaPage(msgspec.Struct):
    """``GET /v1/replicas``: items are checked one by one, so one bad item does not lose the page."""

    items: list[Any] = []
    total: int | None = None


class History(msgspec.Struct):
    """``GET /v1/replicas/{replicaUUID}/chat/history``."""

    items: list[Any] = []


class Completion(msgspec.Struct):
    """A chat completion answered as JSON."""

    content: str


class Created(msgspec.Struct):
    """``POST /v1/replicas``."""

    uuid: str


class ErrorBody(msgspec.Struct):
    """Sensay's error body."""

    error: str | None = None
    request_id: str | None = None
    error_code: str | None = None


_T = TypeVar("_T")


def decode(response: httpx.Response, type_: type[_T]) -> _T:
    """The response's JSON body as ``type_``; a :class:`SensayError` when it is not one."""
    try:
        raw = msgspec.json.decode(response.content)
        return msgspec.convert(without_nulls(raw), type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SensayError(
            f"unexpected response body from Sensay {response.request.method} {response.request.url.path}: {exc}",
            status=response.status_code,
            request_id=request_id_header(response),
        ) from exc


def without_nulls(value: Any) -> Any:
    """An object without its null fields."""
    # Sensay sends null for absent optional fields; dropping them lets the struct defaults apply.
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if item is not None}
    return value


def request_id_header(response: httpx.Response) -> str | None:
    """Sensay's ``X-Request-ID`` of a response."""
    request_id: str | None = response.headers.get("X-Request-ID")
    return request_id
