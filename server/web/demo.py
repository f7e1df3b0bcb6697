"""``GET /demo``: a static page that tries chat, rooms and live tasks through the authenticated API.

The page is public (it holds no data); everything it shows comes from ``/api/*`` and ``/ws`` with the token of
the person who logs in on it. Its scripts are the compiled ``protocol/typescript`` client, committed under
``static/client/`` so that serving it needs no Node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC_DIR: Final = Path(__file__).parent / "static"

SECURITY_HEADERS: Final = {
    # Same-origin scripts, styles, fetches and sockets only ('self' covers ws:/wss: to this host).
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
FAVICON_HEADERS: Final = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}


async def page(request: Request) -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers=SECURITY_HEADERS)


async def favicon(request: Request) -> FileResponse:
    """The page's icon also where browsers look for one by default (a page without a ``<link rel=icon>``)."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml", headers=FAVICON_HEADERS)


routes: list[BaseRoute] = [
    Route("/demo", page, methods=["GET"], include_in_schema=False),
    Route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False),
    Mount("/demo", StaticFiles(directory=STATIC_DIR)),
]
