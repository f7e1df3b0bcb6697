"""The local replica: an in-memory stand-in for the Sensay API, served over real HTTP.

It speaks the endpoints our client uses with the spec's rules (401 for a wrong secret or an unknown
``X-USER-ID``, 404 for an unknown replica, 415 for a body that is not JSON, 400 for a bad body, errors in
Sensay's shape with a ``request_id``), keeps users, replicas and per-user chat history in memory, and answers
deterministically "in character", streaming word by word when asked for ``text/event-stream``.

Knobs for tests and benchmarks are plain attributes and methods: ``latency``, ``word_delay``, ``stream_style``,
``fail_next()``, ``hang_next()``, ``lose_next()``; counters: ``chat_requests``, ``requests``,
``max_inflight_chats``, ``chats`` (per message); what a user has said to a replica (Sensay's history of them):
``said_to()``.

``sensay-hub local-replica`` serves one as its own process; its counters are read over HTTP at ``GET /local/chats``
(with the organization secret), so tests with several hub processes can count the Sensay calls per reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import re
import socket
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, NamedTuple

import msgspec
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from . import local_answers
from .local_answers import Knowledge, Turn

__all__ = [
    "ADA_LOVELACE_UUID",
    "SENSAY_GUIDE_UUID",
    "SOCRATES_UUID",
    "TASK_MEMORY_UUID",
    "LocalReplica",
    "StreamStyle",
    "create_local_replica",
    "serve_local_replica",
]

ADA_LOVELACE_UUID: Final = "a3d1e7c0-5b2f-4c8a-9e61-7f0d4b3a2c11"
SOCRATES_UUID: Final = "5c0a1f7e-2d4b-4e9a-8b3c-6a1f0e2d9c22"
SENSAY_GUIDE_UUID: Final = "9e7b3c2a-1f4d-4a6b-8c5e-2d0f1a3b4c33"
TASK_MEMORY_UUID: Final = "7d4e2b1c-3a5f-4b6d-9e8c-1f2a3b4c5d44"

StreamStyle = Literal["data", "sse", "json"]
"""How a streamed answer is framed: Vercel AI SDK data-stream parts, SSE UI-message events, or plain JSON."""

_SEED_OWNER: Final = "sensay-local"
_SEED_CREATED_AT: Final = "2025-03-25T00:00:00+00:00"
_DEFAULT_PROFILE_IMAGE: Final = "https://studio.sensay.io/assets/default-replica-profile.webp"
_DEFAULT_MODEL: Final = "claude-haiku-4-5"
_CONTENT_MAX: Final = 100_000
CHOICE_PREFIX: Final = "Answer with exactly one of: "
"""A question whose last line starts so is answered with one of the options listed after it (``A | B``)."""
_USER_NAME = re.compile(r"^[a-zA-Z0-9\s().,'\-/]*$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_SOURCES: Final = frozenset({"discord", "telegram", "embed", "web", "telegram_autopilot"})
_REPLICA_TYPES: Final = frozenset({"individual", "character", "brand"})
_REPLICA_FIELDS: Final = frozenset(
    "name purpose shortDescription greeting type ownerID private whitelistEmails slug tags profileImage "
    "suggestedQuestions llm voicePreviewText isAccessibleByCustomerSupport isEveryConversationAccessibleBySupport "
    "isPrivateConversationsEnabled introductionAudioID".split()
)
_LLM_FIELDS: Final = frozenset({"model", "memoryMode", "systemMessage", "tools", "embeddingModel"})
_CHAT_FIELDS: Final = frozenset({"content", "skip_chat_history", "source", "discord_data", "usageLimits"})
_USER_FIELDS: Final = frozenset({"id", "name", "email", "linkedAccounts"})


class _ApiError(Exception):
    def __init__(self, status: int, message: str, error_code: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code
        self.headers = headers or {}


class _Fault(NamedTuple):
    kind: Literal["status", "cut", "hang", "lost", "slow"]
    status: int = 500
    after_words: int = 0
    retry_after: float | None = None
    error_code: str = "INJECTED_FAILURE"
    delay: float = 0.0


@dataclass
class _Replica:
    uuid: str
    name: str
    slug: str
    short_description: str
    greeting: str
    owner_id: str
    system_message: str
    purpose: str = ""
    type: str = "character"
    private: bool = False
    tags: list[str] = field(default_factory=list)
    suggested_questions: list[str] = field(default_factory=list)
    profile_image: str = _DEFAULT_PROFILE_IMAGE
    model: str = _DEFAULT_MODEL
    created_at: str = _SEED_CREATED_AT
    persona: Callable[[Turn], str] | None = None

    def answer(self, content: str, number: int, knows: Knowledge, replica_names: Collection[str]) -> str:
        """The answer to ``content`` on turn ``number`` of a conversation, from what the replica ``knows``."""
        chosen = _choice(content)
        if chosen is not None:
            return f"{chosen}. {self.name} chose it on turn {number}."
        said = local_answers.read(content, replica_names)
        if said.briefing is not None:
            knows.learn(said.briefing)
        return local_answers.answer(self.persona or self._plain, Turn(said, knows, number))

    def _plain(self, turn: Turn) -> str:
        who = turn.said.who or "You"
        return f'{self.name} here. {who} said: "{turn.said.words}". That is what I heard on turn {turn.number}.'


def _choice(content: str) -> str | None:
    """The answer to a question ending in ``Answer with exactly one of: A | B``: the option the rest of the
    question mentions most often (whole words, any case), the first listed on a tie."""
    body, _, last = content.rstrip().rpartition("\n")
    if not last.startswith(CHOICE_PREFIX):
        return None
    options = [o.strip() for o in last.removeprefix(CHOICE_PREFIX).split("|") if o.strip()]
    if not options:
        return None
    lowered = body.lower()
    counts = [len(re.findall(rf"(?<!\w){re.escape(o.lower())}(?!\w)", lowered)) for o in options]
    return options[counts.index(max(counts))]


def _seed_replicas() -> list[_Replica]:
    return [
        _Replica(
            uuid=ADA_LOVELACE_UUID,
            name="Ada Lovelace",
            slug="ada-lovelace",
            short_description="Mathematician and the first programmer",
            greeting="Good day! Shall we compute something delightful together?",
            owner_id=_SEED_OWNER,
            system_message="You are Ada Lovelace: precise, poetic about mathematics and engines.",
            purpose="Talks about mathematics, computing and the Analytical Engine.",
            tags=["History", "Science"],
            suggested_questions=["What is the Analytical Engine?"],
            persona=local_answers.ada,
        ),
        _Replica(
            uuid=SOCRATES_UUID,
            name="Socrates",
            slug="socrates",
            short_description="Athenian philosopher who answers with questions",
            greeting="Tell me, friend, what is it you believe you know?",
            owner_id=_SEED_OWNER,
            system_message="You are Socrates: answer every claim with a probing question.",
            purpose="Examines ideas through questions.",
            tags=["Philosophy", "Wisdom"],
            suggested_questions=["What is virtue?"],
            persona=local_answers.socrates,
        ),
        _Replica(
            uuid=SENSAY_GUIDE_UUID,
            name="Sensay Guide",
            slug="sensay-guide",
            short_description="A friendly guide to Sensay replicas",
            greeting="Hi! I can show you around the Sensay replicas.",
            owner_id=_SEED_OWNER,
            system_message="You are a cheerful guide to the Sensay platform.",
            purpose="Helps people find their way around Sensay.",
            type="brand",
            tags=["Sensay", "Technology"],
            suggested_questions=["What is a replica?"],
            persona=local_answers.guide,
        ),
        _Replica(
            uuid=TASK_MEMORY_UUID,
            name="Task Memory",
            slug="task-memory",
            short_description="Keeps your task list as you chat",
            greeting="Tell me what to remember: add task buy milk.",
            owner_id=_SEED_OWNER,
            system_message="You keep the user's task list and confirm every change to it.",
            purpose="Replica Task Memory: adds, completes, lists and deletes the user's tasks in chat.",
            type="brand",
            tags=["Productivity"],
            suggested_questions=["add task buy milk", "show my tasks"],
            persona=local_answers.task_keeper,
        ),
    ]


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
        self.chat_requests = 0
        """Chat completion requests received, including failed ones (so tests can count retries)."""
        self.requests: Counter[str] = Counter()
        """Requests received per ``"METHOD /path/template"``."""
        self.chats: Counter[tuple[str, str, str]] = Counter()
        """Chat completion requests received per ``(user id, replica id, content)``, failed ones included."""
        self.inflight_chats = 0
        self.max_inflight_chats = 0
        self._faults: deque[_Fault] = deque()
        self._release = asyncio.Event()
        self._users: dict[str, dict[str, Any]] = {}
        self._replicas: dict[str, _Replica] = {r.uuid: r for r in _seed_replicas()}
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
            exception_handlers={_ApiError: _api_error_response, HTTPException: _http_error_response},
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
            fault = _Fault("status", status, 0, retry_after, error_code)
        else:
            fault = _Fault("cut", 200, after_words)
        self._faults.extend([fault] * n)

    def lose_next(self, n: int = 1) -> None:
        """Answer the next ``n`` chat requests in full (kept in the history) but drop the connection before any word."""
        self._faults.extend([_Fault("lost")] * n)

    def slow_next(self, seconds: float, n: int = 1) -> None:
        """Take the next ``n`` chat requests in (into the history) only ``seconds`` after they arrived, then answer
        them: a client that hangs up meanwhile does not stop it, as with Sensay once a request reached it."""
        self._faults.extend([_Fault("slow", delay=seconds)] * n)

    def hang_next(self, n: int = 1) -> None:
        """Never answer the next ``n`` chat requests (until the client hangs up or the server stops)."""
        if self._release.is_set():
            self._release = asyncio.Event()
        self._faults.extend([_Fault("hang")] * n)

    def clear_faults(self) -> None:
        """Forget pending faults."""
        self._faults.clear()

    def release_hangs(self) -> None:
        """Let hanging requests end (done by :func:`serve_local_replica` on exit so shutdown is quick)."""
        self._release.set()

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
        body = await _json_body(request)
        _only(body, _USER_FIELDS)
        user_id = _opt_str(body, "id", min_len=1) or str(uuid.uuid4())
        name = _opt_str(body, "name", max_len=50)
        if name is not None and not _USER_NAME.match(name):
            raise _ApiError(400, "name: only letters, digits, spaces and ( ) . , ' - / are allowed", "VALIDATION_ERROR")
        email = _opt_str(body, "email")
        if email is not None and "@" not in email:
            raise _ApiError(400, "email: not an email address", "VALIDATION_ERROR")
        if "linkedAccounts" in body and not isinstance(body["linkedAccounts"], list):
            raise _ApiError(400, "linkedAccounts: expected an array", "VALIDATION_ERROR")
        if user_id in self._users:
            raise _ApiError(409, f"User {user_id} already exists", "USER_ALREADY_EXISTS")
        user = {"id": user_id} | ({"name": name} if name else {}) | ({"email": email} if email else {})
        self._users[user_id] = user
        return _json({"success": True, **user})

    async def _list_replicas(self, request: Request) -> Response:
        self._count(request, "/v1/replicas")
        user_id = self._authorize(request, user=False)
        query = request.query_params
        page = _positive_int(query, "page", 1)
        page_size = _positive_int(query, "page_size", 24)
        _positive_int(query, "page_index", 1)
        if query.get("sort", "name") not in ("name", "popularity"):
            raise _ApiError(400, "sort: expected name or popularity", "VALIDATION_ERROR")
        found = [r for r in self._replicas.values() if _visible(r, user_id)]
        if owner := query.get("ownerID"):
            found = [r for r in found if r.owner_id == owner]
        if slug := query.get("slug"):
            found = [r for r in found if r.slug == slug]
        if search := query.get("search"):
            found = [r for r in found if search.lower() in r.name.lower()]
        found.sort(key=lambda r: r.name.lower())
        items = [self._replica_list_item(r) for r in found[(page - 1) * page_size : page * page_size]]
        return _json({"success": True, "type": "array", "items": items, "total": len(found)})

    async def _create_replica(self, request: Request) -> Response:
        self._count(request, "/v1/replicas")
        self._authorize(request, user=False)
        body = await _json_body(request)
        _only(body, _REPLICA_FIELDS)
        for key in ("name", "shortDescription", "greeting", "ownerID", "slug", "llm"):
            if key not in body:
                raise _ApiError(400, f"{key}: required", "VALIDATION_ERROR")
        llm = body["llm"]
        if not isinstance(llm, dict):
            raise _ApiError(400, "llm: expected an object", "VALIDATION_ERROR")
        _only(llm, _LLM_FIELDS, prefix="llm.")
        replica_type = _opt_str(body, "type") or "character"
        if replica_type not in _REPLICA_TYPES:
            raise _ApiError(400, "type: expected individual, character or brand", "VALIDATION_ERROR")
        private = body.get("private", False)
        if not isinstance(private, bool):
            raise _ApiError(400, "private: expected a boolean", "VALIDATION_ERROR")
        replica = _Replica(
            uuid=str(uuid.uuid4()),
            name=_req_str(body, "name", max_len=50),
            slug=_req_str(body, "slug", max_len=50),
            short_description=_req_str(body, "shortDescription", max_len=50),
            greeting=_req_str(body, "greeting", max_len=600),
            owner_id=_req_str(body, "ownerID"),
            system_message=_opt_str(llm, "systemMessage", max_len=30_000, prefix="llm.") or "",
            model=_opt_str(llm, "model", prefix="llm.") or _DEFAULT_MODEL,
            purpose=_opt_str(body, "purpose", max_len=1000) or "",
            type=replica_type,
            private=private,
            tags=_str_list(body, "tags"),
            suggested_questions=_str_list(body, "suggestedQuestions"),
            profile_image=_opt_str(body, "profileImage") or _DEFAULT_PROFILE_IMAGE,
            created_at=datetime.now(UTC).isoformat(),
        )
        if replica.owner_id not in self._users:
            raise _ApiError(404, f"User {replica.owner_id} not found", "USER_NOT_FOUND")
        if any(r.slug == replica.slug for r in self._replicas.values()):
            raise _ApiError(409, f"Slug {replica.slug} is already taken", "SLUG_TAKEN")
        self._replicas[replica.uuid] = replica
        return _json({"success": True, "uuid": replica.uuid}, status=201)

    async def _get_replica(self, request: Request) -> Response:
        self._count(request, "/v1/replicas/{replicaUUID}")
        user_id = self._authorize(request, user=False)
        replica = self._find_replica(request, user_id)
        return _json({"success": True, **self._replica_fields(replica)})

    async def _chat(self, request: Request) -> Response | _ChatAnswer | _Hang:
        self._count(request, "/v1/replicas/{replicaUUID}/chat/completions")
        self.chat_requests += 1
        user_id = self._authorize(request, user=True)
        replica = self._find_replica(request, user_id)
        body = await _json_body(request)
        _only(body, _CHAT_FIELDS)
        content = body.get("content")
        if not isinstance(content, str) or not 1 <= len(content) <= _CONTENT_MAX:
            raise _ApiError(400, f"content: expected a string of 1 to {_CONTENT_MAX} characters", "VALIDATION_ERROR")
        skip = body.get("skip_chat_history", False)
        if not isinstance(skip, bool):
            raise _ApiError(400, "skip_chat_history: expected a boolean", "VALIDATION_ERROR")
        source = body.get("source", "web")
        if source not in _SOURCES:
            raise _ApiError(400, f"source: expected one of {sorted(_SOURCES)}", "VALIDATION_ERROR")

        self.chats[(user_id, replica.uuid, content)] += 1
        fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.kind == "hang":
            return _Hang(self._release)
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
            raise _ApiError(fault.status, f"Injected failure ({fault.status})", fault.error_code, headers)
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            fault = None  # then answered as usual

        history = self._history.setdefault((user_id, replica.uuid), [])
        turn = sum(item["role"] == "user" for item in history) + 1
        if not skip:
            history.append(self._history_item(user_id, "user", content, source))
        # A turn out of the history sees no earlier briefing, only the one it carries.
        knows = Knowledge() if skip else self._knowledge.setdefault((user_id, replica.uuid), Knowledge())
        names = [r.name for r in self._replicas.values()]
        answer = replica.answer(content, turn, knows, names)

        def finished() -> None:
            if not skip:
                history.append(self._history_item(user_id, "assistant", answer, source))

        wants_stream = "text/event-stream" in request.headers.get("accept", "")
        style: StreamStyle = self.stream_style if wants_stream else "json"
        if fault is not None and fault.kind == "lost":
            finished()
            return _ChatAnswer(self, answer, style, 0, lambda: None)
        cut = fault.after_words if fault is not None else None
        return _ChatAnswer(self, answer, style, cut, finished)

    async def _chat_history(self, request: Request) -> Response:
        self._count(request, "/v1/replicas/{replicaUUID}/chat/history")
        user_id = self._authorize(request, user=True)
        replica = self._find_replica(request, user_id)
        items = self._history.get((user_id, replica.uuid), [])
        return _json({"success": True, "type": "array", "items": list(items)})

    async def _chat_counts(self, request: Request) -> Response:
        """The counters of a replica served as its own process (not a Sensay endpoint)."""
        self._authorize(request, user=False)
        messages = [
            {"user_id": user, "replica_id": replica, "content": content, "count": count}
            for (user, replica, content), count in self.chats.items()
        ]
        return _json({"chat_requests": self.chat_requests, "messages": messages})

    # helpers

    def _count(self, request: Request, template: str) -> None:
        self.requests[f"{request.method} {template}"] += 1

    def _authorize(self, request: Request, *, user: bool) -> str:
        """Check the organization secret and the acting user; return the user id ('' when none is needed)."""
        secret = request.headers.get("x-organization-secret", "").encode()
        if not secret or not hmac.compare_digest(secret, self._secret):
            raise _ApiError(401, "Invalid or missing X-ORGANIZATION-SECRET", "UNAUTHORIZED")
        user_id = request.headers.get("x-user-id", "")
        if user_id and user_id not in self._users:
            raise _ApiError(401, f"User {user_id} does not exist", "UNAUTHORIZED")
        if user and not user_id:
            raise _ApiError(401, "X-USER-ID is required for this operation", "UNAUTHORIZED")
        return user_id

    def _find_replica(self, request: Request, user_id: str) -> _Replica:
        replica_id = request.path_params["replica_id"]
        if not _UUID.match(replica_id):
            raise _ApiError(400, "replicaUUID: expected a UUID", "VALIDATION_ERROR")
        replica = self._replicas.get(replica_id.lower())
        if replica is None or not _visible(replica, user_id):
            raise _ApiError(404, f"Replica {replica_id} not found", "REPLICA_NOT_FOUND")
        return replica

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

    def _replica_fields(self, r: _Replica) -> dict[str, Any]:
        return {
            "uuid": r.uuid,
            "name": r.name,
            "slug": r.slug,
            "shortDescription": r.short_description,
            "greeting": r.greeting,
            "purpose": r.purpose,
            "type": r.type,
            "ownerID": r.owner_id,
            "private": r.private,
            "whitelistEmails": [],
            "tags": r.tags,
            "profileImage": r.profile_image,
            "suggestedQuestions": r.suggested_questions,
            "llm": {"model": r.model, "systemMessage": r.system_message, "tools": []},
        }

    def _replica_list_item(self, r: _Replica) -> dict[str, Any]:
        # The list still carries the deprecated snake_case fields, all required by the spec.
        return self._replica_fields(r) | {
            "profile_image": r.profile_image,
            "short_description": r.short_description,
            "introduction": r.greeting,
            "created_at": r.created_at,
            "owner_uuid": None,
            "voice_enabled": False,
            "video_enabled": False,
            "chat_history_count": sum(len(v) for (_, rid), v in self._history.items() if rid == r.uuid),
            "system_message": r.system_message,
            "discord_integration": None,
            "telegram_integration": None,
        }


class _ChatAnswer:
    """The ASGI response of one chat completion: JSON, or streamed word by word in the chosen style."""

    def __init__(
        self,
        replica: LocalReplica,
        answer: str,
        style: StreamStyle,
        cut_after: int | None,
        on_finish: Callable[[], None],
    ) -> None:
        self._replica = replica
        self._answer = answer
        self._style = style
        self._cut_after = cut_after
        self._on_finish = on_finish

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        replica = self._replica
        replica.inflight_chats += 1
        replica.max_inflight_chats = max(replica.max_inflight_chats, replica.inflight_chats)
        try:
            if replica.latency > 0:
                await asyncio.sleep(replica.latency)
            if self._style == "json":
                complete = await self._send_json(send)
            else:
                complete = await self._send_stream(send)
            if complete:
                self._on_finish()
        finally:
            replica.inflight_chats -= 1

    async def _send_json(self, send: Send) -> bool:
        body = msgspec.json.encode({"success": True, "content": self._answer})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if self._cut_after is not None:
            # Returning before the declared length is sent makes the server drop the connection.
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            return False
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return True

    async def _send_stream(self, send: Send) -> bool:
        words = re.findall(r"\S+\s*", self._answer)
        message_id = f"msg-local{uuid.uuid4().hex[:12]}"
        usage = {"promptTokens": 1, "completionTokens": len(words)}
        if self._style == "sse":
            content_type, marker = b"text/event-stream", (b"x-vercel-ai-ui-message-stream", b"v1")
            opening = _sse({"type": "start", "messageId": message_id}) + _sse({"type": "text-start", "id": "t0"})
            closing = _sse({"type": "text-end", "id": "t0"}) + _sse({"type": "finish"}) + b"data: [DONE]\n\n"
        else:
            content_type, marker = b"text/plain; charset=utf-8", (b"x-vercel-ai-data-stream", b"v1")
            opening = b"f:" + msgspec.json.encode({"messageId": message_id}) + b"\n"
            closing = (
                b"e:" + msgspec.json.encode({"finishReason": "stop", "usage": usage, "isContinued": False}) + b"\n"
            ) + (b"d:" + msgspec.json.encode({"finishReason": "stop", "usage": usage}) + b"\n")
        headers = [(b"content-type", content_type), (b"cache-control", b"no-cache"), marker]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": opening, "more_body": True})
        for index, word in enumerate(words):
            if self._cut_after is not None and index >= self._cut_after:
                return False
            if index and self._replica.word_delay > 0:
                await asyncio.sleep(self._replica.word_delay)
            if self._style == "sse":
                chunk = _sse({"type": "text-delta", "id": "t0", "delta": word})
            else:
                chunk = b"0:" + msgspec.json.encode(word) + b"\n"
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": closing, "more_body": False})
        return True


class _Hang:
    """An ASGI response that never starts: it ends when the client hangs up or the replica releases it."""

    def __init__(self, release: asyncio.Event) -> None:
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        waiters = {asyncio.ensure_future(disconnected()), asyncio.ensure_future(self._release.wait())}
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()


def create_local_replica(*, organization_secret: str, latency: float = 0.0, word_delay: float = 0.0) -> LocalReplica:
    """A local replica with the seeded personas, requiring ``organization_secret``."""
    return LocalReplica(organization_secret=organization_secret, latency=latency, word_delay=word_delay)


def run_local_replica(*, host: str, port: int, organization_secret: str, word_delay: float, log_level: str) -> None:
    """Serve a local replica as the whole process (``sensay-hub local-replica``) until SIGINT or SIGTERM."""
    replica = create_local_replica(organization_secret=organization_secret, word_delay=word_delay)
    uvicorn.run(
        replica,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="off",
        ws="none",
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


KEEP_ALIVE_SECONDS = 75
"""Longer than the hub's HTTP client keeps an idle connection (30 s): a connection is never closed by the replica
just as the hub reuses it (uvicorn's default, 5 s, broke requests under load with ``ReadError('')``)."""

_in_replica_server: ContextVar[bool] = ContextVar("in_local_replica_server", default=False)


class _ReplicaServerQuiet(logging.Filter):
    """Drops the embedded server's own start and stop lines, which read like the host's."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or not _in_replica_server.get()


class _HostOwnsLogging(uvicorn.Config):
    def configure_logging(self) -> None:
        """Leave the host's logging alone: uvicorn's own setup would reset the host's access log."""


class _NoAccessLog(HttpToolsProtocol):
    """The replica's requests are the host's own calls: they stay out of the host's access log."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access_log = False


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The host process owns SIGINT/SIGTERM; an embedded server must not take them over.
        yield


@contextlib.asynccontextmanager
async def serve_local_replica(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on ``host:port`` (0 = ephemeral) in this event loop; yield its base URL."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # An explicit IPPROTO_TCP makes asyncio set TCP_NODELAY on accepted connections (it checks sock.proto);
    # without it every response pays a ~40 ms Nagle/delayed-ACK stall.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    bound_port = sock.getsockname()[1]
    config = _HostOwnsLogging(
        app,
        http=_NoAccessLog,
        lifespan="off",
        ws="none",
        timeout_graceful_shutdown=2,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    server = _EmbeddedServer(config)
    uvicorn_logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _ReplicaServerQuiet) for f in uvicorn_logger.filters):
        uvicorn_logger.addFilter(_ReplicaServerQuiet())

    async def serve_quietly() -> None:
        _in_replica_server.set(True)  # in this task's own context only
        await server.serve(sockets=[sock])

    task = asyncio.create_task(serve_quietly(), name=f"local-replica:{bound_port}")
    try:
        while not server.started:
            if task.done():
                sock.close()
                await task
                raise RuntimeError("the local replica server stopped during start-up")
            await asyncio.sleep(0.005)
        url_host = f"[{host}]" if family == socket.AF_INET6 else host
        yield f"http://{url_host}:{bound_port}"
    finally:
        if isinstance(app, LocalReplica):
            app.release_hangs()
        server.should_exit = True
        await task


# small request/response helpers


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(msgspec.json.encode(content), status_code=status, headers=headers, media_type="application/json")


def _sse(event: dict[str, Any]) -> bytes:
    return b"data: " + msgspec.json.encode(event) + b"\n\n"


def _error_body(message: str, error_code: str) -> tuple[dict[str, Any], str]:
    request_id = f"local::{uuid.uuid4().hex}"
    body = {
        "success": False,
        "error": message,
        "error_code": error_code,
        "fingerprint": uuid.uuid4().hex,
        "request_id": request_id,
    }
    return body, request_id


async def _api_error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _ApiError)
    body, request_id = _error_body(exc.message, exc.error_code)
    return _json(body, exc.status, {"X-Request-ID": request_id, **exc.headers})


async def _http_error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    body, request_id = _error_body(exc.detail, "HTTP_ERROR")
    return _json(body, exc.status_code, {"X-Request-ID": request_id, **(exc.headers or {})})


async def _json_body(request: Request) -> dict[str, Any]:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise _ApiError(415, "Content-Type must be application/json", "UNSUPPORTED_MEDIA_TYPE")
    try:
        body = msgspec.json.decode(await request.body())
    except msgspec.DecodeError as exc:
        raise _ApiError(400, f"Malformed JSON body: {exc}", "VALIDATION_ERROR") from exc
    if not isinstance(body, dict):
        raise _ApiError(400, "The body must be a JSON object", "VALIDATION_ERROR")
    return body


def _only(body: dict[str, Any], allowed: frozenset[str], prefix: str = "") -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise _ApiError(
            400, f"Unrecognized key(s) in object: {', '.join(prefix + k for k in unknown)}", "VALIDATION_ERROR"
        )


def _opt_str(
    body: dict[str, Any], key: str, *, min_len: int = 0, max_len: int | None = None, prefix: str = ""
) -> str | None:
    if key not in body:
        return None
    return _req_str(body, key, min_len=min_len, max_len=max_len, prefix=prefix)


def _req_str(body: dict[str, Any], key: str, *, min_len: int = 0, max_len: int | None = None, prefix: str = "") -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise _ApiError(400, f"{prefix}{key}: expected a string", "VALIDATION_ERROR")
    if len(value) < min_len or (max_len is not None and len(value) > max_len):
        raise _ApiError(400, f"{prefix}{key}: expected {min_len} to {max_len} characters", "VALIDATION_ERROR")
    return value


def _str_list(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _ApiError(400, f"{key}: expected an array of strings", "VALIDATION_ERROR")
    return list(value)


def _positive_int(query: Any, key: str, default: int) -> int:
    raw = query.get(key)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise _ApiError(400, f"{key}: expected a positive integer", "VALIDATION_ERROR")
    return int(raw)


def _visible(replica: _Replica, user_id: str) -> bool:
    return not replica.private or replica.owner_id == user_id
