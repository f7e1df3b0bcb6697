"""The ``/ws`` endpoint: handshake checks, authentication, then one handler per client frame."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, assert_never
from uuid import UUID

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from protocol import (
    PROTOCOL_VERSION,
    TOKEN_QUERY_PARAM,
    WS_PATH,
    AckFrame,
    AuthFrame,
    ChatSendFrame,
    ClientFrame,
    CloseCode,
    ErrorCode,
    ErrorFrame,
    FrameError,
    HelloFrame,
    PingFrame,
    PongFrame,
    ResumeFrame,
    RoomJoinFrame,
    RoomLeaveFrame,
    RoomSendFrame,
    RoomStopFrame,
    RoomTypingFrame,
    RoomTypingStatusFrame,
    ServerFrame,
    chat_stream,
    decode_client_frame,
    encode_text,
    parse_subprotocols,
    room_stream,
)

from .. import logs
from ..auth.errors import AuthError, AuthUnavailable
from ..auth.tokens import Principal
from ..rooms.service import NotAMember
from ..store.errors import NotFound
from ..store.records import Room
from .connection import Connection, TokenBucket
from .resume import replay

if TYPE_CHECKING:
    from ..state import AppState

logger = logging.getLogger(__name__)

POLICY_VIOLATION = 1008
RATE_PER_SECOND = 20.0
RATE_BURST = 60.0
MAX_STRIKES = 100
"""Frames dropped for flooding before the socket is closed with 4009."""


def origin_allowed(origin: str | None, allowed: tuple[str, ...]) -> bool:
    """Browsers always send ``Origin``; other clients may not, and are checked by their token alone."""
    return origin is None or "*" in allowed or origin.rstrip("/") in allowed


async def websocket_endpoint(websocket: WebSocket) -> None:
    state: AppState = websocket.scope["state"]  # the lifespan's TypedDict
    settings, hub = state["settings"], state["hub"]
    if not hub.accepting or not origin_allowed(websocket.headers.get("origin"), settings.allowed_origins):
        await websocket.close(POLICY_VIOLATION if hub.accepting else CloseCode.SERVICE_RESTART)
        return  # closing before accept answers the handshake with HTTP 403
    offered = parse_subprotocols(websocket.scope.get("subprotocols", ()))
    token = websocket.query_params.get(TOKEN_QUERY_PARAM) or offered.token
    await websocket.accept(subprotocol=offered.selected)
    conn = Connection(websocket, max_queue=settings.ws_send_queue, limiter=TokenBucket(RATE_PER_SECOND, RATE_BURST))
    session = SocketSession(conn, state)
    try:
        with logs.bound(connection_id=conn.id):  # this task serves only this socket
            if await session.authenticate(token):
                with logs.bound(user_id=str(conn.user_id)):
                    logger.debug("socket authenticated")
                    await session.run()
    except WebSocketDisconnect:
        pass
    finally:
        await hub.unregister(conn)


class SocketSession:
    """The protocol conversation on one socket."""

    __slots__ = ("conn", "state", "settings", "hub")  # one per socket: no per-instance dict

    def __init__(self, conn: Connection, state: AppState) -> None:
        self.conn = conn
        self.state = state
        self.settings = state["settings"]
        self.hub = state["hub"]

    def send(self, frame: ServerFrame) -> None:
        self.conn.send(encode_text(frame))

    def error(self, code: ErrorCode, message: str, frame_id: str | None = None) -> None:
        self.send(ErrorFrame(code=code, message=message, id=frame_id, retryable=code.retryable))

    async def close(self, code: CloseCode, reason: str) -> None:
        self.conn.close(code, reason)
        await self.conn.closed()

    # -- authentication --------------------------------------------------------------------------

    async def authenticate(self, token: str | None) -> bool:
        """Authenticate from the handshake's token or the first frame; close the socket on failure."""
        if token is None:
            token = await self._await_auth_frame()
            if token is None:
                return False
        principal = await self._verify(token)
        if principal is None:
            return False
        self.conn.principal = principal
        await self.hub.register(self.conn)
        self._schedule_expiry(principal)
        self._hello(principal)
        return True

    async def _await_auth_frame(self) -> str | None:
        try:
            async with asyncio.timeout(self.settings.ws_auth_timeout):
                message = await self.conn.websocket.receive()
        except TimeoutError:
            await self.close(CloseCode.AUTH_TIMEOUT, "authenticate within the deadline")
            return None
        if message["type"] == "websocket.disconnect":
            return None
        try:
            frame = decode_client_frame(message.get("text") or b"")
        except FrameError:
            frame = None
        if not isinstance(frame, AuthFrame):
            await self.close(CloseCode.AUTH_FAILED, "the first frame must be auth")
            return None
        return frame.token

    async def _verify(self, token: str) -> Principal | None:
        try:
            return await self.state["identity"].authenticate(token)
        except AuthUnavailable:
            await self.close(CloseCode.INTERNAL_ERROR, "the identity provider did not answer; reconnect later")
            return None
        except AuthError as exc:
            await self.close(CloseCode.AUTH_FAILED, str(exc))
            return None

    def _schedule_expiry(self, principal: Principal) -> None:
        if self.conn.expiry is not None:
            self.conn.expiry.cancel()
        delay = max(0.0, principal.expires_at - time.time())
        self.conn.expiry = asyncio.get_running_loop().call_later(
            delay, self.conn.close, CloseCode.SESSION_REVOKED, "token expired"
        )

    def _hello(self, principal: Principal) -> None:
        self.send(
            HelloFrame(
                protocol=PROTOCOL_VERSION,
                connection_id=self.conn.id,
                user_id=str(principal.user_id),
                session_id=str(principal.session_id) if principal.session_id else None,
                heartbeat_interval=self.settings.ws_heartbeat_interval,
                max_frame_bytes=self.settings.ws_max_frame_bytes,
            )
        )

    # -- the receive loop ------------------------------------------------------------------------

    async def run(self) -> None:
        websocket = self.conn.websocket
        limit = self.settings.ws_max_frame_bytes
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                self.error(ErrorCode.BINARY_NOT_SUPPORTED, "send JSON text frames, not binary frames")
                continue
            if len(text) * 4 > limit and len(text.encode()) > limit:  # cheap bound first: UTF-8 is <= 4 bytes/char
                await self.close(CloseCode.MESSAGE_TOO_BIG, f"frames may be at most {limit} bytes")
                return
            if not self.conn.limiter.take():
                self.conn.strikes += 1
                if self.conn.strikes > MAX_STRIKES:
                    await self.close(CloseCode.RATE_LIMITED, "too many frames")
                    return
                self.error(ErrorCode.RATE_LIMITED, "slow down: frame dropped")
                continue
            try:
                frame = decode_client_frame(text)
            except FrameError as exc:
                self.send(exc.to_frame())
                continue
            try:
                await self.dispatch(frame)
            except WebSocketDisconnect:
                raise
            except Exception:
                logger.exception("handling a %s frame failed", type(frame).__name__)
                self.error(ErrorCode.INTERNAL_ERROR, "the server failed to handle this frame", frame.id)

    async def dispatch(self, frame: ClientFrame) -> None:
        match frame:
            case PingFrame():
                self.send(PongFrame(id=frame.id))
            case AuthFrame():
                await self.handle_reauth(frame)
            case ChatSendFrame():
                await self.handle_chat_send(frame)
            case ResumeFrame():
                await replay(self.state["pool"], self.conn, frame, self.state["rooms"])
            case RoomJoinFrame():
                await self.handle_room_join(frame)
            case RoomLeaveFrame():
                await self.hub.leave_room(self.conn, frame.room_id)
            case RoomSendFrame():
                await self.handle_room_send(frame)
            case RoomTypingFrame():
                await self.handle_room_typing(frame)
            case RoomStopFrame():
                await self.handle_room_stop(frame)
            case _:
                assert_never(frame)

    async def handle_reauth(self, frame: AuthFrame) -> None:
        """A fresh token for the same user extends the connection past the old token's expiry."""
        try:
            principal = await self.state["identity"].authenticate(frame.token)
        except AuthError as exc:
            await self.close(CloseCode.AUTH_FAILED, str(exc))
            return
        if principal.user_id != self.conn.user_id:
            self.error(ErrorCode.ALREADY_AUTHENTICATED, "this socket belongs to another user", frame.id)
            return
        self.conn.principal = principal
        self._schedule_expiry(principal)
        self._hello(principal)

    async def handle_chat_send(self, frame: ChatSendFrame) -> None:
        from ..chat.service import UnknownReplica  # chat depends on the hub, not the other way round
        from ..sensay.errors import SensayError

        chat = self.state["chat"]
        try:
            message, duplicate = await chat.accept(self.conn.user_id, frame.replica_id, frame.content, frame.id)
        except UnknownReplica:
            self.error(ErrorCode.NOT_FOUND, f"no replica {frame.replica_id!r}", frame.id)
            return
        except SensayError as exc:
            code = ErrorCode.REPLICA_UNAVAILABLE if exc.retryable else ErrorCode.REPLICA_REJECTED
            self.error(code, "the replica service could not be reached; nothing was stored", frame.id)
            return
        same = message.replica_id == frame.replica_id and message.message == frame.content
        if self._ack(frame.id, chat_stream(message.replica_id), str(message.id), message.seq, duplicate, same):
            await chat.deliver(message, duplicate)

    def _ack(self, frame_id: str, stream: str, message_id: str, seq: int, duplicate: bool, same: bool) -> bool:
        """Ack a stored message; a reused id with other content is a conflict. ``True`` when acked."""
        if duplicate and not same:
            self.error(ErrorCode.CONFLICT, "this id was already used for a different message", frame_id)
            return False
        self.send(AckFrame(id=frame_id, stream=stream, message_id=message_id, seq=seq, duplicate=duplicate))
        return True

    # -- rooms -----------------------------------------------------------------------------------

    async def _room(self, frame: RoomJoinFrame | RoomSendFrame | RoomStopFrame, *, enter: bool = False) -> Room | None:
        """The room if the user may act in it, else an error frame and ``None``."""
        service = self.state["rooms"]
        room_id = UUID(frame.room_id)
        try:
            if enter:
                return await service.enter(room_id, self.conn.user_id)
            return await service.member_room(room_id, self.conn.user_id)
        except NotFound:
            self.error(ErrorCode.NOT_FOUND, "no such room", frame.id)
        except NotAMember:
            self.error(ErrorCode.FORBIDDEN, "you are not a member of this room", frame.id)
        return None

    async def handle_room_join(self, frame: RoomJoinFrame) -> None:
        if await self._room(frame, enter=True) is not None:
            await self.hub.join_room(self.conn, frame.room_id)

    async def handle_room_send(self, frame: RoomSendFrame) -> None:
        room = await self._room(frame)
        if room is None:
            return
        service = self.state["rooms"]
        message, duplicate = await service.accept(room, self.conn.user_id, frame.content, frame.id)
        same = message.message == frame.content
        if self._ack(frame.id, room_stream(frame.room_id), str(message.id), message.seq, duplicate, same):
            await service.deliver(room, message, duplicate)

    async def handle_room_typing(self, frame: RoomTypingFrame) -> None:
        if room_stream(frame.room_id) not in self.conn.rooms:
            self.error(ErrorCode.FORBIDDEN, "join the room before typing in it", frame.id)
            return
        status = RoomTypingStatusFrame(room_id=frame.room_id, user_id=str(self.conn.user_id), typing=frame.typing)
        await self.hub.send_to_channel(room_stream(frame.room_id), status)

    async def handle_room_stop(self, frame: RoomStopFrame) -> None:
        if await self._room(frame) is not None:
            await self.state["rooms"].stop(UUID(frame.room_id), self.conn.user_id)


routes = [WebSocketRoute(WS_PATH, websocket_endpoint)]
