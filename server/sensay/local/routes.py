"""The local replica's endpoints: users, replicas, chat completions and history, kept in memory."""

from __future__ import annotations

import asyncio
import hmac
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .answers import Knowledge
from .bodies import (
    ApiError,
    ChatBody,
    ListQuery,
    ReplicaBody,
    ReplicaPath,
    UserBody,
    api_error_response,
    http_error_response,
    json_response,
    read_body,
    read_params,
)
from .faults import Fault, Faults, Hang
from .personas import DEFAULT_PROFILE_IMAGE, Persona, seed_personas
from .streaming import ChatAnswer, StreamStyle


class LocalReplica:
    """ASGI app imitating the Sensay API for the endpoints our client uses, with test knobs and counters."""

    def __init__(
        self,
        *,
        organization_secret: str,
        latency: float = 0.0,
        word_delay: float = 0.0,
        stream_style: StreamStyle = "data",
    ) -> None:
        self._secret = organization_secret.encode()
        self.latency = latency
        """Seconds to wait before answering a chat request."""
        self.word_delay = word_delay
        """Seconds between streamed words."""
        self.stream_style: StreamStyle = stream_style
        """Framing of answers to ``Accept: text/event-stream``; ``"json"`` ignores the Accept header."""
        self.held: tuple[int, asyncio.Event] | None = None
        """Streamed answers pause after this many words until the event is set (see ``hold_streams``)."""
        self.chat_requests = 0
        """Chat completion requests received, including failed ones (so tests can count retries)."""
        self.requests: Counter[str] = Counter()
        """Requests received per ``"METHOD /path/template"``."""
        self.chats: Counter[tuple[str, str, str]] = Counter()
        """Chat completion requests received per ``(user id, replica id, content)``, failed ones included."""
        self.inflight_chats = 0
        self.max_inflight_chats = 0
        self._faults = Faults()
        self._taking_in: set[asyncio.Task[ChatAnswer]] = set()
        """Slow requests under way: they outlive the connection, and the server, they came by (see ``slow_next``)."""
        self._users: dict[str, dict[str, Any]] = {}
        self._replicas: dict[str, Persona] = {r.uuid: r for r in seed_personas()}
        self._history: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._knowledge: dict[tuple[str, str], Knowledge] = {}
        """What each replica was told in each user's conversation (the briefings Sensay's history holds)."""
        self._next_message_id = 1
        self._app = Starlette(
            routes=[
                Route("/v1/users", self._create_user, methods=["POST"]),
                Route("/v1/replicas", self._list_replicas, methods=["GET"]),
                Route("/v1/replicas", self._create_replica, methods=["POST"]),
                Route("/v1/replicas/{replica_id}", self._get_replica, methods=["GET"]),
                Route("/v1/replicas/{replica_id}/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/replicas/{replica_id}/chat/history", self._chat_history, methods=["GET"]),
                Route("/local/chats", self._chat_counts, methods=["GET"]),
            ],
            exception_handlers={ApiError: api_error_response, HTTPException: http_error_response},
        )

    @property
    def organization_secret(self) -> str:
        """The secret clients must send in ``X-ORGANIZATION-SECRET``."""
        return self._secret.decode()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(organization_secret='********', replicas={len(self._replicas)})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    # knobs

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        after_words: int | None = None,
        retry_after: float | None = None,
        error_code: str = "INJECTED_FAILURE",
    ) -> None:
        """Fail the next ``n`` chat requests with ``status`` (and ``Retry-After`` if given) and Sensay's ``error_code``.

        With ``after_words``, answer 200 instead and drop the connection after that many words (a streamed answer)
        or part-way through the body (a JSON answer); the message is kept in the history then, as Sensay would.
        """
        if after_words is None:
            self._faults.add(Fault("status", status, 0, retry_after, error_code), n)
        else:
            self._faults.add(Fault("cut", 200, after_words), n)

    def lose_next(self, n: int = 1) -> None:
        """Answer the next ``n`` chat requests in full (kept in the history) but drop the connection before any word."""
        self._faults.add(Fault("lost"), n)

    def slow_next(self, seconds: float, n: int = 1) -> None:
        """Take the next ``n`` chat requests in (into the history, with their answer) only ``seconds`` after they
        arrived, then answer them: neither a client that hangs up nor the server it came by stopping meanwhile stops
        it, as with Sensay once a request reached it."""
        self._faults.add(Fault("slow", delay=seconds), n)

    def hang_next(self, n: int = 1) -> None:
        """Never answer the next ``n`` chat requests (until the client hangs up or the server stops)."""
        self._faults.add(Fault("hang"), n)

    def hold_streams(self, after_words: int = 1) -> asyncio.Event:
        """Pause every streamed answer after ``after_words`` words until the returned event is set."""
        release = asyncio.Event()
        self.held = (after_words, release)
        return release

    def clear_faults(self) -> None:
        """Forget pending faults."""
        self._faults.clear()

    def release_hangs(self) -> None:
        """Let hanging requests and held streams end (done by :func:`serve_local_replica` on exit so shutdown is
        quick)."""
        self._faults.release()
        if self.held is not None:
            self.held[1].set()

    def reset_counters(self) -> None:
        """Zero every counter."""
        self.chat_requests = 0
        self.requests.clear()
        self.chats.clear()
        self.max_inflight_chats = self.inflight_chats

    def has_user(self, user_id: str) -> bool:
        """Whether the user was created through ``POST /v1/users``."""
        return user_id in self._users

    def said_to(self, user_id: str, replica_id: str) -> list[str]:
        """What ``user_id`` has said to the replica, oldest first: the user turns of Sensay's history of them."""
        return [item["content"] for item in self._history.get((user_id, replica_id), []) if item["role"] == "user"]

    # endpoints

    async def _create_user(self, request: Request) -> Response:
        self._count(request, "/v1/users")
        self._authorize(request, user=False)
        body = await read_body(request, UserBody)
        user_id = body.id or str(uuid.uuid4())
        if user_id in self._users:
            raise ApiError(409, f"User {user_id} already exists", "USER_ALREADY_EXISTS")
        user = (
            {"id": user_id} | ({"name": body.name} if body.name else {}) | ({"email": body.email} if body.email else {})
        )
        self._users[user_id] = user
        return json_response({"success": True, **user})

    async def _list_replicas(self, request: Request) -> Response:
        self._count(request, "/v1/replicas")
        user_id = self._authorize(request, user=False)
        query = read_params(request.query_params, ListQuery, "query")
        found = [r for r in self._replicas.values() if r.visible_to(user_id)]
        if query.owner_id:
            found = [r for r in found if r.owner_id == query.owner_id]
        if query.slug:
            found = [r for r in found if r.slug == query.slug]
        if query.search:
            found = [r for r in found if query.search.lower() in r.name.lower()]
        found.sort(key=lambda r: r.name.lower())
        page = found[(query.page - 1) * query.page_size : query.page * query.page_size]
        items = [r.list_item(self._history_count(r.uuid)) for r in page]
        return json_response({"success": True, "type": "array", "items": items, "total": len(found)})

    async def _create_replica(self, request: Request) -> Response:
        self._count(request, "/v1/replicas")
        self._authorize(request, user=False)
        body = await read_body(request, ReplicaBody)
        replica = Persona(
            uuid=str(uuid.uuid4()),
            name=body.name,
            slug=body.slug,
            short_description=body.short_description,
            greeting=body.greeting,
            owner_id=body.owner_id,
            system_message=body.llm.system_message,
            model=body.llm.model,
            purpose=body.purpose,
            type=body.type,
            private=body.private,
            tags=body.tags,
            suggested_questions=body.suggested_questions,
            profile_image=body.profile_image or DEFAULT_PROFILE_IMAGE,
            created_at=datetime.now(UTC).isoformat(),
        )
        if replica.owner_id not in self._users:
            raise ApiError(404, f"User {replica.owner_id} not found", "USER_NOT_FOUND")
        if any(r.slug == replica.slug for r in self._replicas.values()):
            raise ApiError(409, f"Slug {replica.slug} is already taken", "SLUG_TAKEN")
        self._replicas[replica.uuid] = replica
        return json_response({"success": True, "uuid": replica.uuid}, status=201)

    async def _get_replica(self, request: Request) -> Response:
        self._count(request, "/v1/replicas/{replicaUUID}")
        user_id = self._authorize(request, user=False)
        replica = self._find_replica(request, user_id)
        return json_response({"success": True, **replica.fields()})

    async def _chat(self, request: Request) -> Response | ChatAnswer | Hang:
        self._count(request, "/v1/replicas/{replicaUUID}/chat/completions")
        self.chat_requests += 1
        user_id = self._authorize(request, user=True)
        replica = self._find_replica(request, user_id)
        body = await read_body(request, ChatBody)
        self.chats[(user_id, replica.uuid, body.content)] += 1
        fault = self._faults.next()
        if fault is not None and fault.kind == "hang":
            return self._faults.hang()
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
            raise ApiError(fault.status, f"Injected failure ({fault.status})", fault.error_code, headers)
        if fault is not None and fault.kind == "slow":
            # Sensay goes on with a request it received whatever becomes of the connection it came by: the message
            # is taken in and answered into the history even when the asker hung up or this server (one of several
            # serving the same replica in a test, each a hub's) stopped meanwhile.
            taking_in = asyncio.create_task(self._take_in_later(fault.delay, request, user_id, replica, body))
            self._taking_in.add(taking_in)
            taking_in.add_done_callback(self._taking_in.discard)
            return await asyncio.shield(taking_in)
        return self._answer(request, user_id, replica, body, fault)

    async def _take_in_later(
        self, delay: float, request: Request, user_id: str, replica: Persona, body: ChatBody
    ) -> ChatAnswer:
        await asyncio.sleep(delay)
        return self._answer(request, user_id, replica, body, None, kept=True)

    def _answer(
        self,
        request: Request,
        user_id: str,
        replica: Persona,
        body: ChatBody,
        fault: Fault | None,
        *,
        kept: bool = False,
    ) -> ChatAnswer:
        """The answer to a chat request taken in now; ``kept``: into the history at once, not once fully sent."""
        skip = body.skip_chat_history
        history = self._history.setdefault((user_id, replica.uuid), [])
        turn = sum(item["role"] == "user" for item in history) + 1
        if not skip:
            history.append(self._history_item(user_id, "user", body.content, body.source))
        # A turn out of the history sees no earlier briefing, only the one it carries.
        knows = Knowledge() if skip else self._knowledge.setdefault((user_id, replica.uuid), Knowledge())
        names = [r.name for r in self._replicas.values()]
        answer = replica.answer(body.content, turn, knows, names)

        def finished() -> None:
            if not skip:
                history.append(self._history_item(user_id, "assistant", answer, body.source))

        wants_stream = "text/event-stream" in request.headers.get("accept", "")
        style: StreamStyle = self.stream_style if wants_stream else "json"
        if fault is not None and fault.kind == "lost":
            finished()
            return ChatAnswer(self, answer, style, 0, lambda: None)
        if kept:
            finished()
            return ChatAnswer(self, answer, style, None, lambda: None)
        cut = fault.after_words if fault is not None else None
        return ChatAnswer(self, answer, style, cut, finished)

    async def _chat_history(self, request: Request) -> Response:
        self._count(request, "/v1/replicas/{replicaUUID}/chat/history")
        user_id = self._authorize(request, user=True)
        replica = self._find_replica(request, user_id)
        items = self._history.get((user_id, replica.uuid), [])
        return json_response({"success": True, "type": "array", "items": list(items)})

    async def _chat_counts(self, request: Request) -> Response:
        """The counters of a replica served as its own process (not a Sensay endpoint)."""
        self._authorize(request, user=False)
        messages = [
            {"user_id": user, "replica_id": replica, "content": content, "count": count}
            for (user, replica, content), count in self.chats.items()
        ]
        return json_response({"chat_requests": self.chat_requests, "messages": messages})

    # helpers

    def _count(self, request: Request, template: str) -> None:
        self.requests[f"{request.method} {template}"] += 1

    def _authorize(self, request: Request, *, user: bool) -> str:
        """Check the organization secret and the acting user; return the user id ('' when none is needed)."""
        secret = request.headers.get("x-organization-secret", "").encode()
        if not secret or not hmac.compare_digest(secret, self._secret):
            raise ApiError(401, "Invalid or missing X-ORGANIZATION-SECRET", "UNAUTHORIZED")
        user_id = request.headers.get("x-user-id", "")
        if user_id and user_id not in self._users:
            raise ApiError(401, f"User {user_id} does not exist", "UNAUTHORIZED")
        if user and not user_id:
            raise ApiError(401, "X-USER-ID is required for this operation", "UNAUTHORIZED")
        return user_id

    def _find_replica(self, request: Request, user_id: str) -> Persona:
        replica_id = read_params(request.path_params, ReplicaPath, "replicaUUID").replica_id
        replica = self._replicas.get(replica_id.lower())
        if replica is None or not replica.visible_to(user_id):
            raise ApiError(404, f"Replica {replica_id} not found", "REPLICA_NOT_FOUND")
        return replica

    def _history_count(self, replica_id: str) -> int:
        return sum(len(v) for (_, rid), v in self._history.items() if rid == replica_id)

    def _history_item(self, user_id: str, role: str, content: str, source: str) -> dict[str, Any]:
        message_id = self._next_message_id
        self._next_message_id += 1
        return {
            "id": message_id,
            "role": role,
            "content": content,
            "created_at": datetime.now(UTC).isoformat(),
            "is_private": False,
            "source": source,
            "sources": [],
            "user_uuid": user_id,
            "original_message_id": f"msg-local{message_id}" if role == "assistant" else None,
        }
