"""JSON responses encoded by msgspec, so records (UUIDs, datetimes) serialise without glue."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

_encoder = msgspec.json.Encoder()


def json_response(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_encoder.encode(content), status_code, headers=headers, media_type="application/json")
