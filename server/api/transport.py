"""uvicorn's h11 protocol with the request-head bound made exact: ``HTTP_MAX_HEADER_BYTES``, 431 beyond it.

h11 bounds only a head that is still incomplete (``max_incomplete_event_size``), which keeps memory flat while a
client trickles a huge header, but a head that arrives whole in one read passes whatever its size. Here a whole
head is measured too, as it was sent in canonical form (``METHOD target HTTP/1.1\\r\\n``, each header as
``name: value\\r\\n``, the empty line's ``\\r\\n``), and both cases answer 431 (uvicorn's own answer is a 400).
"""

from __future__ import annotations

from typing import Any

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TOO_LARGE = 431


def head_bytes(request: h11.Request) -> int:
    """The size of the request line and headers as sent in canonical form."""
    line = len(request.method) + 1 + len(request.target) + len(b" HTTP/1.1\r\n")
    return line + sum(len(name) + 2 + len(value) + 2 for name, value in request.headers.raw_items()) + 2


class BoundedH11Protocol(H11Protocol):
    """Pass as ``uvicorn.run(..., http=BoundedH11Protocol, h11_max_incomplete_event_size=<bound>)``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_head_bytes: int = self.config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
        self.error_status = 400
        read = self.conn.next_event

        def next_event() -> Any:
            try:
                event = read()
            except h11.RemoteProtocolError as exc:
                self.error_status = exc.error_status_hint  # 431 when the incomplete head outgrew the bound
                raise
            if isinstance(event, h11.Request) and head_bytes(event) > self.max_head_bytes:
                self.error_status = HEAD_TOO_LARGE
                raise h11.RemoteProtocolError("request head too large", error_status_hint=HEAD_TOO_LARGE)
            return event

        self.conn.next_event = next_event  # type: ignore[method-assign]

    def send_400_response(self, msg: str) -> None:
        if self.error_status != HEAD_TOO_LARGE:
            super().send_400_response(msg)
            return
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
        reason = b"Request Header Fields Too Large"
        body = f"request line and headers exceed {self.max_head_bytes} bytes".encode()
        for event in (
            h11.Response(status_code=HEAD_TOO_LARGE, headers=headers, reason=reason),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()
