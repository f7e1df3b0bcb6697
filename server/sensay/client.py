"""Typed async client of the Sensay API (users, replicas, chat completions and history).

The client owns paths, headers, retries, the concurrency bound and stream parsing; all I/O goes through the
``httpx.AsyncClient`` it is given, whose ``base_url`` points at api.sensay.io or at the local replica.

Retries (full-jitter exponential backoff, or ``Retry-After`` when the server sends one) cover 429, 5xx,
connection errors and timeouts only, and a stream is retried only until its first text delta has been yielded.
A quota or policy refusal is never retried. A ``Retry-After`` that does not fit the caller's ``deadline`` (or
exceeds a minute) is not waited out: the error is raised at once with ``retry_after`` set.

A chat ``POST`` that may have reached Sensay (a read timeout, a dropped connection, a 500) is not sent again
blindly, since Sensay would keep the user's message twice: the user's chat history is checked first. Sensay's
answer found there is used; the message found without an answer fails the call; only a message Sensay never
took in is sent again. A ``skip_chat_history`` message cannot be checked, so it is not sent again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import re
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Final, Literal, TypeVar

import httpx
import msgspec

from .. import metrics
from .errors import SensayError, SensayNotFound, SensayUnavailable, error_for_status

__all__ = [
    "DEFAULT_API_VERSION",
    "ChatHistoryItem",
    "HistoryMatch",
    "ChatStreamParser",
    "Replica",
    "ReplicaLLM",
    "SensayClient",
    "Source",
    "build_http_client",
]

logger = logging.getLogger(__name__)

DEFAULT_API_VERSION: Final = "2025-03-25"
Source = Literal["discord", "telegram", "embed", "web", "telegram_autopilot"]
ReplicaType = Literal["individual", "character", "brand"]

_USER_CACHE_SIZE: Final = 100_000
_MAX_RETRY_AFTER: Final = 60.0
# Sensay's rule for user names (POST /v1/users): at most 50 of these characters.
_NAME_DISALLOWED = re.compile(r"[^a-zA-Z0-9 ().,'\-/]")
_NAME_MAX: Final = 50
_DATA_STREAM_PART = re.compile(r"^([0-9a-z]):(.*)$", re.DOTALL)
_NOT_RETRYABLE_TRANSPORT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)
# Failures after which the request was certainly not taken in by Sensay.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_NOT_PROCESSED_STATUSES: Final = frozenset({429, 502, 503, 504})
# How far Sensay's clock may be behind ours when looking for a message we just sent.
_CLOCK_SKEW: Final = timedelta(seconds=30)


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


class _SensayLLM(msgspec.Struct, kw_only=True, frozen=True, rename="camel"):
    model: str | None = None
    system_message: str | None = None


class _SensayReplica(msgspec.Struct, kw_only=True, frozen=True, rename="camel"):
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
    llm: _SensayLLM | None = None


def _replica(item: _SensayReplica) -> Replica:
    """Sensay's camelCase replica as our snake_case one: the one place the names are mapped."""
    llm = ReplicaLLM(model=item.llm.model, system_message=item.llm.system_message) if item.llm else None
    fields = {name: getattr(item, name) for name in Replica.__struct_fields__ if name != "llm"}
    return Replica(**fields, llm=llm)


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


class _Answered(Exception):
    """Sensay took in a chat message whose response we lost, and its answer is in the history."""

    def __init__(self, answer: str) -> None:
        self.answer = answer


class _ReplicaPage(msgspec.Struct):
    items: list[Any] = []
    total: int | None = None


class _History(msgspec.Struct):
    items: list[Any] = []


class _Completion(msgspec.Struct):
    content: str


class _Created(msgspec.Struct):
    uuid: str


class _ErrorBody(msgspec.Struct):
    error: str | None = None
    request_id: str | None = None
    error_code: str | None = None


_T = TypeVar("_T")


def build_http_client(base_url: str, *, timeout: float = 30.0) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` suited to :class:`SensayClient`: bounded pool, short connect, ``timeout`` per read."""
    host = httpx.URL(base_url).host
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32, keepalive_expiry=30.0),
        headers={"User-Agent": "sensay-hub/0.1"},
        # A proxy from the environment must never capture the loopback local replica.
        trust_env=not _is_loopback(host),
    )


class SensayClient:
    """Typed async client of the Sensay API, acting on behalf of our users.

    Every method that takes a ``user_id`` first makes sure the user exists at Sensay (once per process).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        organization_secret: str,
        api_version: str = DEFAULT_API_VERSION,
        max_concurrency: int = 32,
        max_retries: int = 3,
        backoff_base: float = 0.2,
        backoff_cap: float = 5.0,
    ) -> None:
        if not organization_secret:
            raise ValueError("organization_secret must not be empty")
        if max_concurrency < 1 or max_retries < 0 or backoff_base < 0 or backoff_cap < 0:
            raise ValueError("max_concurrency must be >= 1; max_retries and backoff must be >= 0")
        self._http = http
        self._secret = organization_secret
        self._api_version = api_version
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._known_users: OrderedDict[str, None] = OrderedDict()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={str(self._http.base_url)!r}, organization_secret='********', "
            f"api_version={self._api_version!r})"
        )

    # users

    async def ensure_user(self, user_id: str, name: str | None = None) -> None:
        """Create the user at Sensay unless this process already did; an existing user (409) is fine."""
        if user_id in self._known_users:
            self._known_users.move_to_end(user_id)
            return
        body: dict[str, Any] = {"id": user_id}
        clean_name = _clean_user_name(name)
        if clean_name:
            body["name"] = clean_name
        await self._request("POST", "/v1/users", body=body, accept=(409,))
        self._known_users[user_id] = None
        if len(self._known_users) > _USER_CACHE_SIZE:
            self._known_users.popitem(last=False)

    # replicas

    async def list_replicas(
        self,
        user_id: str,
        *,
        owner_id: str | None = None,
        slug: str | None = None,
        search: str | None = None,
        page: int = 1,
        page_size: int = 24,
    ) -> list[Replica]:
        """One page of the replicas visible to the user; items Sensay describes badly are skipped (and logged)."""
        await self.ensure_user(user_id)
        params: dict[str, str | int] = {"page": page, "page_size": page_size}
        for key, value in (("ownerID", owner_id), ("slug", slug), ("search", search)):
            if value is not None:
                params[key] = value
        response = await self._request("GET", "/v1/replicas", user_id=user_id, params=params)
        replicas: list[Replica] = []
        for item in _decode(response, _ReplicaPage).items:
            try:
                replicas.append(_replica(msgspec.convert(_without_nulls(item), _SensayReplica)))
            except msgspec.ValidationError as exc:
                uuid = item.get("uuid") if isinstance(item, dict) else None
                logger.warning("skipping replica %s from Sensay: %s", uuid, exc)
        return replicas

    async def get_replica(self, user_id: str, replica_id: str) -> Replica:
        """One replica by UUID."""
        await self.ensure_user(user_id)
        response = await self._request("GET", _replica_path(replica_id), user_id=user_id)
        return _replica(_decode(response, _SensayReplica))

    async def create_replica(
        self,
        user_id: str,
        *,
        name: str,
        slug: str,
        short_description: str,
        greeting: str,
        owner_id: str | None = None,
        purpose: str | None = None,
        system_message: str | None = None,
        model: str | None = None,
        replica_type: ReplicaType = "character",
        private: bool = False,
        tags: tuple[str, ...] = (),
        suggested_questions: tuple[str, ...] = (),
    ) -> str:
        """Create a replica owned by ``owner_id`` (default: the acting user) and return its UUID."""
        await self.ensure_user(user_id)
        llm: dict[str, str] = {}
        if model is not None:
            llm["model"] = model
        if system_message is not None:
            llm["systemMessage"] = system_message
        body: dict[str, Any] = {
            "name": name,
            "slug": slug,
            "shortDescription": short_description,
            "greeting": greeting,
            "ownerID": owner_id or user_id,
            "type": replica_type,
            "private": private,
            "llm": llm,
        }
        if purpose is not None:
            body["purpose"] = purpose
        if tags:
            body["tags"] = list(tags)
        if suggested_questions:
            body["suggestedQuestions"] = list(suggested_questions)
        response = await self._request("POST", "/v1/replicas", user_id=user_id, body=body)
        return _decode(response, _Created).uuid

    # chat

    async def chat(
        self,
        user_id: str,
        replica_id: str,
        content: str,
        *,
        source: Source = "web",
        skip_chat_history: bool = False,
        deadline: float | None = None,
    ) -> str:
        """Send the user's newest message and return the replica's whole answer (Sensay keeps the context).

        ``deadline`` (event-loop time): a ``Retry-After`` that would end past it fails the call at once.
        """
        await self.ensure_user(user_id)
        body = {"content": content, "source": source, "skip_chat_history": skip_chat_history}
        since = datetime.now(UTC)

        async def may_resend(error: SensayError) -> None:
            await self._check_before_resend(error, user_id, replica_id, content, skip_chat_history, since)

        try:
            response = await self._request(
                "POST",
                _replica_path(replica_id, "/chat/completions"),
                user_id=user_id,
                body=body,
                deadline=deadline,
                may_resend=may_resend,
            )
        except _Answered as answered:
            return answered.answer
        return _decode(response, _Completion).content

    async def chat_stream(
        self,
        user_id: str,
        replica_id: str,
        content: str,
        *,
        source: Source = "web",
        skip_chat_history: bool = False,
        deadline: float | None = None,
        in_doubt: Callable[[bool], None] | None = None,
    ) -> AsyncGenerator[str, None]:
        """Send the user's newest message and yield the answer's text deltas as they arrive.

        Raises :class:`SensayUnavailable` when the stream breaks off, so a partial answer is never mistaken for a
        whole one. Close the iterator (``contextlib.aclosing``) when stopping early. ``deadline`` as for
        :meth:`chat`. ``in_doubt(True)`` is called as a request goes out and ``in_doubt(False)`` once Sensay
        answered it (status and headers) or the attempt ended: in between, whether Sensay took the message in is
        unknown, and cancelling then leaves it unknown.
        """
        await self.ensure_user(user_id)
        since = datetime.now(UTC)
        path = _replica_path(replica_id, "/chat/completions")
        body = msgspec.json.encode({"content": content, "source": source, "skip_chat_history": skip_chat_history})
        headers = self._headers(user_id, has_body=True, accept="text/event-stream")
        yielded = False
        attempt = 0
        while True:
            failed: httpx.Response | None = None
            async with AsyncExitStack() as stack:
                try:
                    await stack.enter_async_context(self._semaphore)
                    start = time.perf_counter()
                    if in_doubt is not None:
                        in_doubt(True)
                    try:
                        response = await stack.enter_async_context(
                            self._http.stream("POST", path, content=body, headers=headers)
                        )
                    except httpx.HTTPError:
                        _count("POST", path, start, None)
                        raise
                    finally:
                        if in_doubt is not None:
                            in_doubt(False)
                    _count("POST", path, start, response)
                    if response.is_success:
                        async for delta in _stream_deltas(response):
                            yielded = True
                            yield delta
                            # Deltas parsed from one read arrive without a pause; yielding here lets socket
                            # senders drain between them, so a fast reply cannot overflow healthy send queues.
                            await asyncio.sleep(0)
                        return
                    await response.aread()
                    error = _response_error("POST", path, response)
                    failed = response
                except httpx.HTTPError as exc:
                    error = _transport_error("POST", path, exc)
                    if yielded:
                        error = SensayUnavailable(f"Sensay stream for POST {path} broke off: {exc!r}")
                        error.__cause__ = exc
                except SensayUnavailable as exc:
                    error = exc
                if yielded or not error.retryable or attempt >= self._max_retries:
                    raise error from error.__cause__
            try:
                await self._check_before_resend(error, user_id, replica_id, content, skip_chat_history, since)
            except _Answered as answered:
                yield answered.answer
                return
            await self._pause_before_retry(attempt, error, failed, deadline)
            attempt += 1

    async def find_in_history(
        self, user_id: str, replica_id: str, content: str, *, since: datetime
    ) -> HistoryMatch | None:
        """The newest user message ``content`` Sensay kept at or after ``since`` (less clock skew), with its answer.

        ``None`` when Sensay has no such message: it never took it in, and sending it again cannot repeat it.
        Sensay's history does not link an answer to its question, so answers are paired with questions in order
        (each answer goes to the oldest question not yet answered): exact for one conversation at a time.
        """
        items = await self.chat_history(user_id, replica_id)
        earliest = since - _CLOCK_SKEW
        waiting: list[int] = []
        answers: dict[int, str] = {}
        for index, item in enumerate(items):
            if item.role == "user":
                waiting.append(index)
            elif item.role == "assistant" and waiting:
                answers[waiting.pop(0)] = item.content
        for index in range(len(items) - 1, -1, -1):
            item = items[index]
            if item.role == "user" and item.content == content and _aware(item.created_at) >= earliest:
                return HistoryMatch(answers.get(index))
        return None

    async def _check_before_resend(
        self, error: SensayError, user_id: str, replica_id: str, content: str, skip_history: bool, since: datetime
    ) -> None:
        """Return when the failed chat POST may be sent again; raise when Sensay may have taken it in already.

        Raises :class:`_Answered` when the history holds Sensay's answer, else ``error`` (not sent again).
        """
        if not _may_have_reached(error):
            return
        if skip_history:
            logger.warning("%s; not sent again: the message may have reached Sensay, out of its history", error)
            raise error from error.__cause__
        try:
            found = await self.find_in_history(user_id, replica_id, content, since=since)
        except SensayError as exc:
            logger.warning("%s; not sent again: Sensay's chat history could not be checked: %s", error, exc)
            raise error from error.__cause__
        if found is None:
            return
        if found.answer is not None:
            logger.warning("%s; Sensay had taken the message in and answered it: its answer is used", error)
            raise _Answered(found.answer)
        logger.warning("%s; not sent again: Sensay has the message but no answer to it yet", error)
        raise error from error.__cause__

    async def chat_history(self, user_id: str, replica_id: str) -> list[ChatHistoryItem]:
        """The user's chat history with the replica, oldest first."""
        await self.ensure_user(user_id)
        response = await self._request("GET", _replica_path(replica_id, "/chat/history"), user_id=user_id)
        items = _decode(response, _History).items
        try:
            return [msgspec.convert(_without_nulls(item), ChatHistoryItem) for item in items]
        except msgspec.ValidationError as exc:
            raise SensayError(f"unexpected chat history item from Sensay: {exc}", status=response.status_code) from exc

    # plumbing

    def _headers(self, user_id: str | None, *, has_body: bool, accept: str = "application/json") -> dict[str, str]:
        headers = {"X-ORGANIZATION-SECRET": self._secret, "X-API-Version": self._api_version, "Accept": accept}
        if user_id is not None:
            headers["X-USER-ID"] = user_id
        if has_body:
            headers["Content-Type"] = "application/json"
        return headers

    async def _request(
        self,
        method: str,
        path: str,
        *,
        user_id: str | None = None,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        accept: tuple[int, ...] = (),
        deadline: float | None = None,
        may_resend: Callable[[SensayError], Awaitable[None]] | None = None,
    ) -> httpx.Response:
        """Send one JSON request with retries; return the response when it is 2xx or in ``accept``.

        ``may_resend`` is awaited before a retry and raises when the request must not be sent again.
        """
        content = msgspec.json.encode(body) if body is not None else None
        headers = self._headers(user_id, has_body=content is not None)
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                async with self._semaphore:
                    start = time.perf_counter()
                    try:
                        response = await self._http.request(
                            method, path, content=content, headers=headers, params=params
                        )
                    finally:
                        _count(method, path, start, response)
            except httpx.HTTPError as exc:
                error = _transport_error(method, path, exc)
            else:
                if response.is_success or response.status_code in accept:
                    return response
                error = _response_error(method, path, response)
            if not error.retryable or attempt >= self._max_retries:
                raise error from error.__cause__
            if may_resend is not None:
                await may_resend(error)
            await self._pause_before_retry(attempt, error, response, deadline)
            attempt += 1

    async def _pause_before_retry(
        self, attempt: int, error: SensayError, response: httpx.Response | None, deadline: float | None = None
    ) -> None:
        """Sleep for the server's Retry-After if given, else a full-jitter exponential backoff.

        A Retry-After beyond ``deadline`` (or beyond a minute) is not waited out: ``error`` is raised at once,
        carrying the wait in ``retry_after``.
        """
        retry_after = _parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
        if retry_after is not None:
            now = asyncio.get_running_loop().time()
            if retry_after > _MAX_RETRY_AFTER or (deadline is not None and now + retry_after > deadline):
                error.retry_after = retry_after
                error.message += f"; Sensay asks to wait {retry_after:g} s, more than the time left"
                raise error from error.__cause__
            delay = retry_after
        else:
            delay = random.uniform(0.0, min(self._backoff_cap, self._backoff_base * 2**attempt))
        logger.warning("%s; retry %d/%d in %.2fs", error, attempt + 1, self._max_retries, delay)
        await asyncio.sleep(delay)


class ChatStreamParser:
    """Sans-I/O parser turning the lines of a streamed completion into text deltas.

    Understands both Vercel AI SDK styles: data-stream parts (``0:"text"``, ``3:"error"``, ``d:{...}`` finish) and
    SSE UI-message events (``data: {"type":"text-delta","delta":"..."}``, ``data: [DONE]``). Other parts are ignored.
    """

    def __init__(self) -> None:
        self.finished = False
        self._data: list[str] = []

    def feed(self, line: str) -> list[str]:
        """Consume one line (without its newline); return the text deltas it completes."""
        line = line.removesuffix("\r")
        if self.finished:
            return []
        if not line:
            return self._dispatch_event()
        if line.startswith(":"):
            return []
        field, sep, value = line.partition(":")
        if field == "data" and sep:
            self._data.append(value.removeprefix(" "))
            return []
        if field in ("event", "id", "retry"):
            return []
        match = _DATA_STREAM_PART.match(line)
        if match is None:
            return []
        code, payload = match.groups()
        if code == "0":
            text = _json_string(payload, "text part")
            return [text] if text else []
        if code == "3":
            raise SensayError(f"Sensay stream reported an error: {_json_string(payload, 'error part')}", status=200)
        if code == "d":
            self.finished = True
        return []

    def close(self) -> list[str]:
        """Signal the end of the body; raise :class:`SensayUnavailable` if no finish marker was seen."""
        deltas = self._dispatch_event()
        if not self.finished:
            raise SensayUnavailable("Sensay stream ended before its finish marker", status=200)
        return deltas

    def _dispatch_event(self) -> list[str]:
        if not self._data:
            return []
        data = "\n".join(self._data)
        self._data.clear()
        if data == "[DONE]":
            self.finished = True
            return []
        try:
            event = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise SensayError(f"Sensay stream sent malformed event data: {data[:80]!r}", status=200) from exc
        if not isinstance(event, dict):
            return []
        kind = event.get("type")
        if kind in ("text-delta", "text"):
            for key in ("delta", "textDelta", "text"):
                text = event.get(key)
                if isinstance(text, str):
                    return [text] if text else []
        elif kind == "error":
            message = event.get("errorText") or event.get("error") or "unknown error"
            raise SensayError(f"Sensay stream reported an error: {message}", status=200)
        elif kind == "finish":
            self.finished = True
        return []


async def _stream_deltas(response: httpx.Response) -> AsyncIterator[str]:
    if _is_json(response):
        await response.aread()
        yield _decode(response, _Completion).content
        return
    parser = ChatStreamParser()
    # Split on "\n" only: httpx's aiter_lines also splits on U+2028 and friends, which JSON leaves unescaped.
    buffer = b""
    async for chunk in response.aiter_bytes():
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            for delta in parser.feed(line.decode("utf-8", errors="replace")):
                yield delta
    if buffer:
        for delta in parser.feed(buffer.decode("utf-8", errors="replace")):
            yield delta
    for delta in parser.close():
        yield delta


def _json_string(payload: str, what: str) -> str:
    try:
        value = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise SensayError(f"Sensay stream sent a malformed {what}: {payload[:80]!r}", status=200) from exc
    if not isinstance(value, str):
        raise SensayError(f"Sensay stream sent a {what} that is not a string", status=200)
    return value


def _is_json(response: httpx.Response) -> bool:
    media_type: str = response.headers.get("Content-Type", "").partition(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _decode(response: httpx.Response, type_: type[_T]) -> _T:
    try:
        raw = msgspec.json.decode(response.content)
        return msgspec.convert(_without_nulls(raw), type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SensayError(
            f"unexpected response body from Sensay {response.request.method} {response.request.url.path}: {exc}",
            status=response.status_code,
            request_id=_request_id_header(response),
        ) from exc


def _without_nulls(value: Any) -> Any:
    # Sensay sends null for absent optional fields; dropping them lets the struct defaults apply.
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if item is not None}
    return value


def _response_error(method: str, path: str, response: httpx.Response) -> SensayError:
    try:
        body = msgspec.json.decode(response.content, type=_ErrorBody)
    except (msgspec.DecodeError, msgspec.ValidationError):
        body = _ErrorBody()
    detail = body.error or response.reason_phrase or "error"
    return error_for_status(
        response.status_code,
        f"Sensay {method} {path} failed: {detail}",
        request_id=body.request_id or _request_id_header(response),
        error_code=body.error_code,
    )


def _may_have_reached(error: SensayError) -> bool:
    """Whether a failed request may have been taken in by Sensay (so sending it again could repeat it)."""
    cause = error.__cause__
    if isinstance(cause, httpx.HTTPError):
        return not isinstance(cause, _NEVER_SENT)
    if error.status is not None and error.status != 200:
        return error.status not in _NOT_PROCESSED_STATUSES
    return True  # a body or stream that ended before it was whole


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _transport_error(method: str, path: str, exc: httpx.HTTPError) -> SensayError:
    retryable = isinstance(exc, httpx.TransportError) and not isinstance(exc, _NOT_RETRYABLE_TRANSPORT)
    cls = SensayUnavailable if isinstance(exc, httpx.TransportError) else SensayError
    error = cls(f"Sensay {method} {path} failed: {exc!r}", retryable=retryable)
    error.__cause__ = exc
    return error


def _request_id_header(response: httpx.Response) -> str | None:
    request_id: str | None = response.headers.get("X-Request-ID")
    return request_id


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(when.tzinfo)).total_seconds())


def _count(method: str, path: str, start: float, response: httpx.Response | None) -> None:
    """Count a request by endpoint template and status (``error`` when no response came), and time it."""
    parts = path.split("/")
    if len(parts) > 3 and parts[2] == "replicas":
        parts[3] = "{replicaUUID}"  # a label value per replica would be unbounded
    endpoint = "/".join(parts)
    status = str(response.status_code) if response is not None else "error"
    metrics.SENSAY_REQUESTS.labels(method, endpoint, status).inc()
    metrics.SENSAY_DURATION.labels(endpoint).observe(time.perf_counter() - start)


_REPLICA_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _replica_path(replica_id: str, suffix: str = "") -> str:
    """The path of a replica; an id that is not a UUID (as Sensay's all are) is unknown without asking Sensay,
    so ``.`` or ``/`` can never reach another of its paths."""
    if not _REPLICA_UUID.fullmatch(replica_id):
        raise SensayNotFound(f"{replica_id[:64]!r} is not a replica id (a UUID)", status=404)
    return f"/v1/replicas/{replica_id}{suffix}"


def _clean_user_name(name: str | None) -> str | None:
    if name is None:
        return None
    cleaned = " ".join(_NAME_DISALLOWED.sub("", name).split())[:_NAME_MAX].strip()
    return cleaned or None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
