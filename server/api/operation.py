"""One declaration per REST operation, next to its handler: the route and its OpenAPI description both come from it.

How to add a route::

    class TaskList(msgspec.Struct):
        tasks: list[Task]

    @operation("GET", "/api/tasks", "listTasks", tag="tasks", answers={200: TaskList})
    async def list_tasks(request: Request) -> Response:
        \"\"\"The caller's tasks.\"\"\"                # first line: the summary; the rest: the description
        principal = await require_principal(request)
        return json_response(TaskList(await ...))

    routes = routes_of(list_tasks, ...)           # the module's Starlette routes

- ``answers`` maps each success status to its body type (any type msgspec describes, usually a struct; ``None``
  for no body) or to an :class:`Answer` when it needs a description or headers.
- ``body`` is the request body type (read it with ``parsing.read_json``), ``query`` a struct of the query
  parameters (read them with ``parsing.read_query``), ``path_params`` the types of the path's ``{names}``
  (``str`` when not given).
- ``errors`` lists the problem codes the operation answers besides the ones every operation of its kind may
  answer, which are added for you: ``unauthorized`` unless ``public``, and ``rate_limited`` for a user's writes
  (``REST_WRITE_RATE``); ``malformed_json``, ``unsupported_media_type``, ``body_too_large`` and ``validation_error``
  with a ``body``; ``validation_error`` with a ``query`` or path parameters; ``not_ready`` (a database outage) unless
  ``database=False``; ``internal_error`` always. Statuses come from the error table (``ErrorCode.http_status``);
  ``rate_limited`` answers carry ``Retry-After``.

The tests check every response the suite receives against the document (``tests/contract.py``): an answer with a
status, body or problem code the declaration does not list fails the test that caused it.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol import ErrorCode

Handler = Callable[[Request], Awaitable[Response]]
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]

JSON: Final = "application/json"


@dataclass(frozen=True, slots=True)
class Answer:
    """A response an operation gives: its body type (``None``: no body; a tuple: any of these), what it means, the
    headers it carries."""

    body: Any = None
    description: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Header name → what it holds."""
    media_type: str = JSON


@dataclass(frozen=True, slots=True)
class Operation:
    """What the OpenAPI document says about one route and method."""

    method: Method
    path: str
    """The Starlette path (``/api/rooms/{room_id}``; ``{rest:path}`` spans segments)."""
    operation_id: str
    tag: str
    summary: str
    description: str
    answers: Mapping[int, Answer]
    """Every status the route can answer and what it answers with (problem documents included)."""
    errors: frozenset[ErrorCode]
    """The problem codes it can answer (their statuses are in ``answers``)."""
    body: Any = None
    query: type[msgspec.Struct] | None = None
    path_params: Mapping[str, Any] = field(default_factory=dict)
    security: tuple[str, ...] = ("bearer",)
    """Security schemes the caller must satisfy, all together (none: public)."""
    security_optional: bool = False
    """Some callers need none of them (``/metrics`` from this machine)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A handler with its declaration; :func:`routes_of` turns these into routes."""

    operation: Operation
    handler: Handler


class ApiRoute(Route):
    """A Starlette route that knows its :class:`Operation` (the OpenAPI document is built from these)."""

    def __init__(self, endpoint: Endpoint) -> None:
        op = endpoint.operation
        super().__init__(op.path, endpoint.handler, methods=[op.method], name=op.operation_id)
        self.operation = op


class DocumentedRoute(Route):
    """A route that speaks another protocol over HTTP (``/mcp``: JSON-RPC): its OpenAPI path item is written by
    hand beside it (``path_item``, with ``tag``), so the document lists it; it is not an :class:`Operation`."""

    def __init__(self, path: str, endpoint: Any, *, methods: list[str], tag: str, path_item: Mapping[str, Any]) -> None:
        super().__init__(path, endpoint, methods=methods, include_in_schema=False)
        self.tag = tag
        self.path_item = dict(path_item)


def routes_of(*endpoints: Endpoint) -> list[ApiRoute]:
    return [ApiRoute(endpoint) for endpoint in endpoints]


_WRITES: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_BODY_ERRORS: Final = (
    ErrorCode.MALFORMED_JSON,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    ErrorCode.BODY_TOO_LARGE,
    ErrorCode.VALIDATION_ERROR,
)
RETRY_AFTER: Final = {"Retry-After": "Seconds after which trying again may succeed."}


def operation(
    method: Method,
    path: str,
    operation_id: str,
    *,
    tag: str,
    answers: Mapping[int, Any],
    body: Any = None,
    query: type[msgspec.Struct] | None = None,
    path_params: Mapping[str, Any] | None = None,
    errors: Iterable[ErrorCode] = (),
    public: bool = False,
    problems: bool = True,
    security: tuple[str, ...] | None = None,
    database: bool = True,
    security_optional: bool = False,
) -> Callable[[Handler], Endpoint]:
    """Declare the operation the decorated handler serves (see the module's docstring).

    ``problems=False`` leaves out the problem codes every operation may answer (for ``/auth/v1``, whose errors are
    GoTrue's and declared in ``answers``); ``internal_error`` stays. ``security`` names the schemes a caller must
    present (default: ``bearer`` unless ``public``). ``database=False`` marks a route that never reads the
    database (so never answers ``not_ready`` during an outage).
    """
    codes = set(errors) | {ErrorCode.INTERNAL_ERROR}
    if database:
        codes.add(ErrorCode.NOT_READY)
    if problems:
        if not public:
            codes.add(ErrorCode.UNAUTHORIZED)
            if method in _WRITES and security is None:  # a user's writes count against REST_WRITE_RATE
                codes.add(ErrorCode.RATE_LIMITED)
        if body is not None:
            codes.update(_BODY_ERRORS)
        if query is not None or "{" in path:  # NUL in a path or query string is refused before routing
            codes.add(ErrorCode.VALIDATION_ERROR)

    def declare(handler: Handler) -> Endpoint:
        summary, _, description = (inspect.getdoc(handler) or "").partition("\n")
        assert summary, f"{handler.__qualname__}: its docstring's first line is the operation's summary"
        declared = {status: a if isinstance(a, Answer) else Answer(a) for status, a in answers.items()}
        for status, codes_of_status in _by_status(codes).items():
            assert status not in declared, f"{operation_id}: {status} is both an answer and a problem"
            names = "\n".join(f"- `{code.value}`: {code.description}" for code in codes_of_status)
            headers = RETRY_AFTER if ErrorCode.RATE_LIMITED in codes_of_status else {}
            declared[status] = Answer(None, names, headers, "application/problem+json")
        op = Operation(
            method=method,
            path=path,
            operation_id=operation_id,
            tag=tag,
            summary=summary.strip(),
            description=description.strip(),
            answers=dict(sorted(declared.items())),
            errors=frozenset(codes),
            body=body,
            query=query,
            path_params=dict(path_params or {}),
            security=security if security is not None else () if public else ("bearer",),
            security_optional=security_optional,
        )
        return Endpoint(op, handler)

    return declare


def _by_status(codes: Iterable[ErrorCode]) -> dict[int, list[ErrorCode]]:
    grouped: dict[int, list[ErrorCode]] = {}
    for code in sorted(codes):
        assert code.http_status is not None, f"{code} never answers over REST"
        grouped.setdefault(code.http_status, []).append(code)
    return grouped
