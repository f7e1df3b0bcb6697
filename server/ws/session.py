"""The protocol conversation on one socket: authentication, then one handler per client frame."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import assert_never
from uuid import UUID

from starlette.websockets import WebSocketDisconnect

from protocol import (
    FLOOD_FORGIVEN_PER_SECOND,
    FLOOD_LIMIT,
    PROTOCOL_VERSION,
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
    StoredMessage,
    decode_client_frame,
    encode_text,
    peek_frame_id,
    room_stream,
)

from .. import metrics
from ..auth.errors import AuthError, AuthUnavailable
from ..auth.tokens import Principal
from ..errors import DomainError, error_code
from ..hub.connection import Connection, TokenBucket
from ..outages import outage
from ..ratelimit import parsed_rate
from ..state import AppState
from .resume import replay

logger = logging.getLogger(__name__)


class SocketSession:
    """The protocol conversation on one socket."""

    __slots__ = ("conn", "state", "settings", "hub", "bad_input_logged")  # one per socket: no per-instance dict

    def __init__(self, conn: Connection, state: AppState) -> None:
        self.conn = conn
        self.state = state
        self.settings = state["settings"]
        self.hub = state["hub"]
        self.bad_input_logged = False

    def bad_input(self, code: ErrorCode, message: str) -> None:
        """Count a client's bad frame, and log the first of a socket in one line (a flood must not flood the log)."""
        metrics.FRAMES_RECEIVED.labels("invalid").inc()
        if not self.bad_input_logged:
            self.bad_input_logged = True
            logger.info(
                "client sent a bad frame (%s: %.200s); further ones on this socket are not logged", code, message
            )

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
        answer_to = None
        if token is None:
            frame = await self._await_auth_frame()
            if frame is None:
                return False
            token, answer_to = frame.token, frame.id
        principal = await self._verify(token)
        if principal is None:
            return False
        self.conn.principal = principal
        if not await self.hub.register(self.conn, max_per_user=self.settings.ws_max_sockets_per_user):
            metrics.CLOSES.labels("too_many_sockets").inc()
            limit = self.settings.ws_max_sockets_per_user
            await self.close(CloseCode.TOO_MANY_CONNECTIONS, f"at most {limit} sockets per user")
            return False
        self._schedule_expiry(principal)
        self._hello(principal, answer_to)
        return True

    async def _await_auth_frame(self) -> AuthFrame | None:
        try:
            async with asyncio.timeout(self.settings.ws_auth_timeout):
                message = await self.conn.websocket.receive()
        except TimeoutError:
            await self.close(CloseCode.AUTH_TIMEOUT, "authenticate within the deadline")
            return None
        if message["type"] == "websocket.disconnect":
            return None
        try:
            frame: ClientFrame | None = decode_client_frame(message.get("text") or b"")
        except FrameError as exc:
            self.bad_input(exc.code, exc.message)
            frame = None
        if not isinstance(frame, AuthFrame):
            await self.close(CloseCode.AUTH_FAILED, "the first frame must be auth")
            return None
        return frame

    async def _verify(self, token: str) -> Principal | None:
        try:
            return await self.state["identity"].authenticate(token)
        except AuthUnavailable:
            await self.close(CloseCode.INTERNAL_ERROR, "the identity provider did not answer; reconnect later")
            return None
        except AuthError as exc:
            await self.close(CloseCode.AUTH_FAILED, str(exc))
            return None
        except Exception as exc:
            if outage(exc) is None:
                raise
            await self.close(CloseCode.INTERNAL_ERROR, "the database did not answer; reconnect later")
            return None

    def _schedule_expiry(self, principal: Principal) -> None:
        if self.conn.expiry is not None:
            self.conn.expiry.cancel()
        delay = max(0.0, principal.expires_at - time.time())
        self.conn.expiry = asyncio.get_running_loop().call_later(
            delay, self.conn.close, CloseCode.SESSION_REVOKED, "token expired"
        )

    def _hello(self, principal: Principal, answer_to: str | None) -> None:
        self.send(
            HelloFrame(
                id=answer_to,
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
                self.bad_input(ErrorCode.BINARY_NOT_SUPPORTED, "a binary frame")
                self.error(ErrorCode.BINARY_NOT_SUPPORTED, "send JSON text frames, not binary frames")
                continue
            if len(text) * 4 > limit and len(text.encode()) > limit:  # cheap bound first: UTF-8 is <= 4 bytes/char
                await self.close(CloseCode.MESSAGE_TOO_BIG, f"frames may be at most {limit} bytes")
                return
            limited = "socket" if not self.conn.limiter.take() else await self._over_user_rate()
            if limited is not None:
                metrics.RATE_LIMITED.labels(limited).inc()
                if self.conn.flood is None:
                    self.conn.flood = TokenBucket(FLOOD_FORGIVEN_PER_SECOND, FLOOD_LIMIT)
                if not self.conn.flood.take():
                    metrics.CLOSES.labels("rate_limited").inc()
                    await self.close(CloseCode.RATE_LIMITED, "too many frames")
                    return
                self.error(ErrorCode.RATE_LIMITED, "slow down: frame dropped", peek_frame_id(text))
                continue
            try:
                frame = decode_client_frame(text)
            except FrameError as exc:
                self.bad_input(exc.code, exc.message)
                self.send(exc.to_frame())
                continue
            metrics.FRAMES_RECEIVED.labels(type(frame).__struct_config__.tag).inc()
            try:
                await self.dispatch(frame)
            except WebSocketDisconnect:
                raise
            except DomainError as exc:
                code = error_code(exc)
                if code is ErrorCode.INTERNAL_ERROR:
                    logger.error("handling a %s frame failed", type(frame).__name__, exc_info=exc)
                self.error(code, exc.detail, frame.id)
            except Exception as exc:
                down = outage(exc)
                if down is None:
                    logger.exception("handling a %s frame failed", type(frame).__name__)
                    self.error(ErrorCode.INTERNAL_ERROR, "the server failed to handle this frame", frame.id)
                else:
                    logger.warning("handling a %s frame: database unavailable (%r)", type(frame).__name__, exc)
                    self.error(error_code(down), down.detail, frame.id)

    async def _over_user_rate(self) -> str | None:
        """``"user"`` when the user's frames over all their sockets (and processes, with Redis) pass the rate."""
        rate = parsed_rate(self.settings.ws_user_frame_rate)
        if await self.state["limiter"].hit(rate, "ws-frames", str(self.conn.user_id)) is None:
            return None
        return "user"

    async def dispatch(self, frame: ClientFrame) -> None:
        """Handle one frame; a domain error it raises becomes an ``error`` frame with the frame's id."""
        match frame:
            case PingFrame():
                self.send(PongFrame(id=frame.id))
            case AuthFrame():
                await self.handle_reauth(frame)
            case ChatSendFrame():
                await self.handle_chat_send(frame)
            case ResumeFrame():
                await replay(self.conn, frame, self.state["chat"], self.state["rooms"])
            case RoomJoinFrame():
                await self.state["rooms"].enter(UUID(frame.room_id), self.conn.user_id)
                await self.hub.join_room(self.conn, frame.room_id, answer_to=frame.id)
            case RoomLeaveFrame():
                await self.hub.leave_room(self.conn, frame.room_id)
                self.send(AckFrame(id=frame.id))
            case RoomSendFrame():
                await self.handle_room_send(frame)
            case RoomTypingFrame():
                await self.handle_room_typing(frame)
            case RoomStopFrame():
                await self.state["rooms"].stop(UUID(frame.room_id), self.conn.user_id)
                self.send(AckFrame(id=frame.id))
            case _:
                assert_never(frame)

    async def handle_reauth(self, frame: AuthFrame) -> None:
        """A fresh token of the same user extends the connection past the old token's expiry; ``hello`` answers.

        Another user's token is refused with an error (the socket stays as it was); a token that does not verify
        closes the socket as it would on connect (4001; 1011 when the identity provider does not answer).
        """
        principal = await self._verify(frame.token)
        if principal is None:
            return
        if principal.user_id != self.conn.user_id:
            self.error(ErrorCode.ALREADY_AUTHENTICATED, "this socket belongs to another user", frame.id)
            return
        self.conn.principal = principal
        self._schedule_expiry(principal)
        self._hello(principal, frame.id)

    async def handle_chat_send(self, frame: ChatSendFrame) -> None:
        chat = self.state["chat"]
        accepted = await chat.send(self.conn.user_id, frame.replica_id, frame.content, frame.id)
        self._ack(frame.id, accepted.message, accepted.duplicate)
        await chat.deliver(accepted)

    async def handle_room_send(self, frame: RoomSendFrame) -> None:
        # Refused like typing: a socket that has not joined would get the ack but never the room's replies.
        if room_stream(frame.room_id) not in self.conn.rooms:
            self.error(ErrorCode.FORBIDDEN, "join the room before sending to it", frame.id)
            return
        rooms = self.state["rooms"]
        accepted = await rooms.send(UUID(frame.room_id), self.conn.user_id, frame.content, frame.id)
        self._ack(frame.id, accepted.message, accepted.duplicate)
        await rooms.deliver(accepted)

    def _ack(self, frame_id: str, message: StoredMessage, duplicate: bool) -> None:
        ack = AckFrame(id=frame_id, stream=message.stream, message_id=message.id, seq=message.seq, duplicate=duplicate)
        self.send(ack)

    async def handle_room_typing(self, frame: RoomTypingFrame) -> None:
        if room_stream(frame.room_id) not in self.conn.rooms:
            self.error(ErrorCode.FORBIDDEN, "join the room before typing in it", frame.id)
            return
        status = RoomTypingStatusFrame(room_id=frame.room_id, user_id=str(self.conn.user_id), typing=frame.typing)
        await self.hub.send_to_channel(room_stream(frame.room_id), status)
