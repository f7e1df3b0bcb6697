"""Typed async client of the Sensay API (users, replicas, chat completions and history).

The client owns paths, headers, retries, the concurrency bound and stream parsing; all I/O goes through the
``httpx.AsyncClient`` it is given, whose ``base_url`` points at api.sensay.io or at the local replica.
Retries follow :mod:`.retries`; a stream is retried only until its first text delta has been yielded, and a quota
or policy refusal is never retried. Streams are parsed by :mod:`.stream`, bodies decoded into :mod:`.models`.

A chat ``POST`` that may have reached Sensay (a read timeout, a dropped connection, a 500) is not sent again
blindly, since Sensay would keep the user's message twice: the user's chat history is checked first. Sensay's
answer found there is used; the message found without an answer fails the call; only a message Sensay never
took in is sent again. A ``skip_chat_history`` message cannot be checked, so it is not sent again.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any, Final

import httpx
import msgspec
from cachetools import LRUCache

from .errors import SensayError, SensayNotFound, SensayUnavailable
from .history import match_in_history
from .http_client import build_http_client, count
from .models import (
    ChatHistoryItem,
    Completion,
    Created,
    History,
    HistoryMatch,
    Replica,
    ReplicaLLM,
    ReplicaPage,
    ReplicaType,
    SensayReplica,
    Source,
    decode,
    without_nulls,
)
from .retries import Backoff, may_have_reached, response_error, transport_error
from .stream import ChatStreamParser

__all__ = [
    "DEFAULT_API_VERSION",
    "ChatHistoryItem",
    "ChatStreamParser",
    "HistoryMatch",
    "Replica",
    "ReplicaLLM",
    "SensayClient",
    "Source",
    "build_http_client",
]

logger = logging.getLogger(__name__)

DEFAULT_API_VERSION: Final = "2025-03-25"

_USER_CACHE_SIZE: Final = 100_000
# Sensay's rule for user names (POST /v1/users): at most 50 of these characters.
_NAME_DISALLOWED = re.compile(r"[^a-zA-Z0-9 ().,'\-/]")
_NAME_MAX: Final = 50


class _Answered(Exception):
    """Sensay took in a chat message whose response we lost, and its answer is in the history."""

    def __init__(self, answer: str) -> None:
        self.answer = answer


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
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self._http = http
        self._secret = organization_secret
        self._api_version = api_version
        self._backoff = Backoff(max_retries, backoff_base, backoff_cap)
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._known_users: LRUCache[str, bool] = LRUCache(_USER_CACHE_SIZE)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={str(self._http.base_url)!r}, organization_secret='********', "
            f"api_version={self._api_version!r})"
        )

    # users

    async def ensure_user(self, user_id: str, name: str | None = None) -> None:
        """Create the user at Sensay unless this process already did; an existing user (409) is fine."""
        if self._known_users.get(user_id):
            return
        body: dict[str, Any] = {"id": user_id}
        clean_name = _clean_user_name(name)
        if clean_name:
            body["name"] = clean_name
        await self._request("POST", "/v1/users", body=body, accept=(409,))
        self._known_users[user_id] = True

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
        for item in decode(response, ReplicaPage).items:
            try:
                replicas.append(msgspec.convert(without_nulls(item), SensayReplica).ours())
            except msgspec.ValidationError as exc:
                uuid = item.get("uuid") if isinstance(item, dict) else None
                logger.warning("skipping replica %s from Sensay: %s", uuid, exc)
        return replicas

    async def get_replica(self, user_id: str, replica_id: str) -> Replica:
        """One replica by UUID."""
        await self.ensure_user(user_id)
        response = await self._request("GET", _replica_path(replica_id), user_id=user_id)
        return decode(response, SensayReplica).ours()

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
        return decode(response, Created).uuid

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
        return decode(response, Completion).content

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

        async def may_resend(error: SensayError) -> None:
            await self._check_before_resend(error, user_id, replica_id, content, skip_chat_history, since)

        async def attempt() -> tuple[AsyncExitStack, AsyncIterator[str], list[str]]:
            return await self._open_answer(path, body, headers, in_doubt)

        try:
            stack, deltas, first = await self._backoff.run(attempt, deadline=deadline, before_retry=may_resend)
        except _Answered as answered:
            yield answered.answer
            return
        async with stack:
            try:
                for delta in first:
                    yield delta
                    await asyncio.sleep(0)
                async for delta in deltas:
                    yield delta
                    # Deltas parsed from one read arrive without a pause; yielding here lets socket
                    # senders drain between them, so a fast reply cannot overflow healthy send queues.
                    await asyncio.sleep(0)
            except httpx.HTTPError as exc:
                raise SensayUnavailable(f"Sensay stream for POST {path} broke off: {exc!r}") from exc

    async def _open_answer(
        self, path: str, body: bytes, headers: dict[str, str], in_doubt: Callable[[bool], None] | None
    ) -> tuple[AsyncExitStack, AsyncIterator[str], list[str]]:
        """One attempt of a streamed chat: the open response (in the stack), its deltas and the first of them.

        Everything that fails before the first delta fails here, so it may be retried; nothing after it is.
        """
        stack = AsyncExitStack()
        try:
            response = await self._open_stream(stack, path, body, headers, in_doubt)
            if not response.is_success:
                await response.aread()
                raise response_error("POST", path, response)
            deltas = _stream_deltas(response)
            stack.push_async_callback(deltas.aclose)
            first = [await anext(deltas)]
        except StopAsyncIteration:
            first = []
        except httpx.HTTPError as exc:
            await stack.aclose()
            raise transport_error("POST", path, exc) from exc
        except BaseException:
            await stack.aclose()
            raise
        return stack, deltas, first

    async def _open_stream(
        self,
        stack: AsyncExitStack,
        path: str,
        body: bytes,
        headers: dict[str, str],
        in_doubt: Callable[[bool], None] | None,
    ) -> httpx.Response:
        """Send a chat POST with a stream answer inside ``stack`` (which holds the concurrency slot); count it."""
        await stack.enter_async_context(self._semaphore)
        start = time.perf_counter()
        if in_doubt is not None:
            in_doubt(True)
        try:
            response = await stack.enter_async_context(self._http.stream("POST", path, content=body, headers=headers))
        except httpx.HTTPError:
            count("POST", path, start, None)
            raise
        finally:
            if in_doubt is not None:
                in_doubt(False)
        count("POST", path, start, response)
        return response

    async def find_in_history(
        self, user_id: str, replica_id: str, content: str, *, since: datetime
    ) -> HistoryMatch | None:
        """The newest user message ``content`` Sensay kept at or after ``since`` (less clock skew), with its answer.

        ``None`` when Sensay has no such message: it never took it in, and sending it again cannot repeat it.
        Sensay's history does not link an answer to its question, so answers are paired with questions in order
        (each answer goes to the oldest question not yet answered): exact for one conversation at a time.
        """
        return match_in_history(await self.chat_history(user_id, replica_id), content, since)

    async def _check_before_resend(
        self, error: SensayError, user_id: str, replica_id: str, content: str, skip_history: bool, since: datetime
    ) -> None:
        """Return when the failed chat POST may be sent again; raise when Sensay may have taken it in already.

        Raises :class:`_Answered` when the history holds Sensay's answer, else ``error`` (not sent again).
        """
        if not may_have_reached(error):
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
        items = decode(response, History).items
        try:
            return [msgspec.convert(without_nulls(item), ChatHistoryItem) for item in items]
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

        async def attempt() -> httpx.Response:
            response: httpx.Response | None = None
            try:
                async with self._semaphore:
                    start = time.perf_counter()
                    try:
                        response = await self._http.request(
                            method, path, content=content, headers=headers, params=params
                        )
                    finally:
                        count(method, path, start, response)
            except httpx.HTTPError as exc:
                raise transport_error(method, path, exc) from exc
            if response.is_success or response.status_code in accept:
                return response
            raise response_error(method, path, response)

        return await self._backoff.run(attempt, deadline=deadline, before_retry=may_resend)


async def _stream_deltas(response: httpx.Response) -> AsyncGenerator[str, None]:
    if _is_json(response):
        await response.aread()
        yield decode(response, Completion).content
        return
    parser = ChatStreamParser()
    async for chunk in response.aiter_bytes():
        for delta in parser.feed(chunk):
            yield delta
    for delta in parser.close():
        yield delta


def _is_json(response: httpx.Response) -> bool:
    media_type: str = response.headers.get("Content-Type", "").partition(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


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
