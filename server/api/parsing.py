"""Turn request bodies and query strings into typed values, or an error that says what is wrong."""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID

import msgspec
from starlette.requests import Request

from protocol import NUL_MESSAGE, ErrorCode, has_nul

from ..errors import InvalidInput, NotFound
from .problems import Problem

T = TypeVar("T")
MAX_BODY_BYTES = 256 * 1024


async def read_json(request: Request, type_: type[T]) -> T:
    """Decode the JSON body into ``type_``: 415 if not JSON, 413 if too big, 400 if malformed, 422 if invalid."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise Problem(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")
    body = await read_body(request, MAX_BODY_BYTES)
    if body is None:
        raise Problem(ErrorCode.BODY_TOO_LARGE, f"the body may be at most {MAX_BODY_BYTES} bytes")
    if has_nul(body):  # PostgreSQL text cannot hold it: refused first, whatever else is wrong, never a 500
        raise InvalidInput(NUL_MESSAGE)
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc)) from None
    except msgspec.DecodeError:
        raise Problem(ErrorCode.MALFORMED_JSON, "the body is not valid JSON") from None


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or ``None`` as soon as it grows past ``limit`` bytes (the rest is never read)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def read_query(request: Request, type_: type[T]) -> T:
    """Decode the query string into the struct ``type_`` (strings become its field types); 422 names the parameter.

    An empty value counts as absent; parameters the struct does not name are ignored.
    """
    given = {name: value for name, value in request.query_params.items() if value != ""}
    try:
        value = msgspec.convert(given, type_, strict=False)
    except msgspec.ValidationError as exc:
        message, _, at = str(exc).partition(" - at `$.")
        raise InvalidInput(f"query parameter {at.rstrip('`')!r}: {message}" if at else message) from None
    for name, raw in given.items():  # strict=False reads "null" as None: absent is the way to say none
        if raw == "null" and getattr(value, name, "") is None:
            raise InvalidInput(f"query parameter {name!r}: expected a value, got null (leave it out instead)")
    return value


def path_uuid(request: Request, name: str) -> UUID:
    try:
        return UUID(request.path_params[name])
    except ValueError:
        raise NotFound(f"no such {name.removesuffix('_id')}") from None
