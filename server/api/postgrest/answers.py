"""PostgREST's error body (``code``, ``message``, ``details``, ``hint``) and the HTTP status it gives each code.

Statuses as PostgREST's ``Error.hs`` maps them: its own PGRSTnnn codes by kind, PostgreSQL's SQLSTATEs by class
(42501 is 403 for a signed-in caller, 401 for the anon key; 23505 is 409; anything else a client caused is 400).
"""

from __future__ import annotations

import msgspec
from starlette.responses import Response

from ...tables import Refusal

_PGRST_STATUS = {
    "PGRST100": 400,
    "PGRST102": 400,
    "PGRST103": 416,
    "PGRST106": 406,
    "PGRST107": 406,
    "PGRST116": 406,
    "PGRST117": 405,
    "PGRST122": 400,
    "PGRST123": 400,
    "PGRST125": 404,
    "PGRST127": 400,
    "PGRST200": 400,
    "PGRST204": 400,
    "PGRST205": 404,
    "PGRST301": 401,
    "PGRST303": 401,
}

_SQLSTATE_STATUS = {
    "21000": 400,  # only pg-safeupdate's "… requires a WHERE clause" reaches a client here
    "23503": 409,
    "23505": 409,
    "25006": 405,
    "42883": 404,
    "42P01": 404,
    "42P17": 500,
    "53400": 500,
    "57P01": 503,
    "P0001": 400,
}
_CLASS_STATUS = {
    "08": 503,
    "09": 500,
    "0L": 403,
    "0P": 403,
    "25": 500,
    "28": 403,
    "2D": 500,
    "38": 500,
    "39": 500,
    "3B": 500,
    "40": 500,
    "53": 503,
    "54": 500,
    "55": 500,
    "57": 500,
    "58": 500,
    "F0": 500,
    "HV": 500,
    "P0": 500,
    "XX": 500,
}


def status_of(code: str, *, signed_in: bool) -> int:
    """The HTTP status PostgREST answers ``code`` with."""
    if code.startswith("PGRST"):
        return _PGRST_STATUS.get(code, 400)
    if code == "42501":
        return 403 if signed_in else 401
    return _SQLSTATE_STATUS.get(code) or _CLASS_STATUS.get(code[:2], 400)


class ErrorBody(msgspec.Struct):
    code: str
    details: str | None
    hint: str | None
    message: str


def refusal_response(refusal: Refusal, *, signed_in: bool) -> Response:
    status = status_of(refusal.code, signed_in=signed_in)
    headers = {"Proxy-Status": f"PostgREST; error={refusal.code}"}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    body = msgspec.json.encode(ErrorBody(refusal.code, refusal.details, refusal.hint, refusal.message))
    return Response(body, status, headers=headers, media_type="application/json; charset=utf-8")
