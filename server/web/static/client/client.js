import { Emitter } from "./emitter.js";
import { HubApiError, HubError } from "./errors.js";
import { SUBPROTOCOL } from "./generated/codes.js";
import { newId } from "./ids.js";
import { DEFAULT_BACKOFF, reconnectDelay } from "./reconnect.js";
import { HubRest } from "./rest.js";
import { Sequencer, resyncPositions } from "./sequencer.js";
import { tokenExpiry } from "./token.js";
const TOKEN_SUBPROTOCOL_PREFIX = "access_token.";
const MAX_RESUME_STREAMS = 256;
function deferred() {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
        resolve = res;
        reject = rej;
    });
    return { promise, resolve, reject };
}
/**
 * One WebSocket to sensay-hub that survives drops.
 *
 * It authenticates the way browsers must (the token as a second subprotocol), re-authenticates on the open socket
 * before the token expires, reconnects with backoff and jitter as the close code says, resumes every stream it has
 * seen from the last `seq` it delivered (fetching over REST what the server can no longer replay), delivers each
 * message once and in order, and re-sends unacknowledged sends with the same id after a reconnect.
 *
 * ```ts
 * const hub = new HubClient({ url: "http://localhost:8000", getToken: () => session.access_token });
 * hub.on("message", (m) => console.log(m.stream, m.seq, m.sender, m.content));
 * await hub.connect();
 * await hub.sendChat(replicaId, "Hello!"); // resolves on the ack: the message is stored
 * ```
 */
export class HubClient extends Emitter {
    /** REST helpers that share this client's URL, token and `fetch`. */
    rest;
    #url;
    #getToken;
    #WebSocket;
    #backoff;
    #refreshLeadMs;
    #gapWaitMs;
    #state = "idle";
    #socket;
    #hello;
    #token;
    #attempt = 0;
    #ready;
    #silentTicks = 0;
    #sequencer = new Sequencer();
    #recovering = new Set();
    #holeTimers = new Map();
    #pending = new Map();
    #rooms = new Set();
    #joins = new Map();
    #calls = new Map();
    #retryTimer;
    #refreshTimer;
    #heartbeat;
    constructor(options) {
        super();
        const WebSocketClass = options.WebSocket ?? globalThis.WebSocket;
        if (WebSocketClass === undefined) {
            throw new TypeError("no WebSocket implementation: pass one as options.WebSocket (e.g. the `ws` package's)");
        }
        this.#url = options.url.replace(/\/+$/, "");
        this.#getToken = options.getToken;
        this.#WebSocket = WebSocketClass;
        this.#backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
        this.#refreshLeadMs = options.refreshBeforeExpiryMs ?? 60_000;
        this.#gapWaitMs = options.gapWaitMs ?? 1_000;
        this.rest = new HubRest({
            url: this.#url,
            getToken: options.getToken,
            ...(options.fetch ? { fetch: options.fetch } : {}),
        });
    }
    /** Where the connection stands. */
    get state() {
        return this.#state;
    }
    /** The `hello` of the current connection (protocol version, user, limits), if connected. */
    get hello() {
        return this.#hello;
    }
    /**
     * Connect (again, after `close()`), and keep reconnecting until `close()` or a final close code.
     * Resolves on the first `hello`; rejects if the client closes for good before that.
     */
    connect() {
        if (this.#state === "open" && this.#hello !== undefined)
            return Promise.resolve(this.#hello);
        this.#ready ??= deferred();
        const ready = this.#ready.promise;
        if (this.#state === "idle" || this.#state === "closed") {
            this.#attempt = 0;
            void this.#open();
        }
        return ready;
    }
    /** Close the socket and stop reconnecting (e.g. on logout). Unacknowledged sends are rejected. */
    close() {
        if (this.#state === "closed")
            return;
        const socket = this.#socket;
        this.#stop(new HubError("client_closed", "the client was closed"));
        socket?.close(1000, "closed by the client");
        this.emit("closed", { code: 1000, reason: "closed by the client", retryInMs: null });
    }
    // -- sending --------------------------------------------------------------------------------------------------
    /**
     * Send a chat message to a replica. Resolves with the `ack` once it is stored (also when it had been stored
     * before, `ack.duplicate`), rejects with a `HubError` on the server's `error` for it. A send the socket drops is
     * sent again with the same `id` after reconnecting, so it is stored once.
     */
    sendChat(replicaId, content, options = {}) {
        return this.#send({ type: "chat.send", id: options.id ?? newId(), replica_id: replicaId, content });
    }
    /** Post a message to a room joined with `joinRoom()`; acknowledged like `sendChat()`. */
    sendToRoom(roomId, content, options = {}) {
        return this.#send({ type: "room.send", id: options.id ?? newId(), room_id: roomId, content });
    }
    /** Sends not yet acknowledged, by id. */
    get unacknowledged() {
        return new Map([...this.#pending].map(([id, pending]) => [id, pending.frame]));
    }
    #send(frame) {
        const existing = this.#pending.get(frame.id);
        if (existing !== undefined)
            return existing.promise;
        const tooLarge = this.#tooLarge(frame);
        if (tooLarge)
            return Promise.reject(tooLarge);
        if (this.#state === "closed")
            return Promise.reject(new HubError("client_closed", "the client is closed"));
        const { promise, resolve, reject } = deferred();
        this.#pending.set(frame.id, { frame, promise, resolve, reject });
        if (this.#state === "open")
            this.#transmit(frame);
        return promise;
    }
    /** The server closes the socket (1009) on a frame over its limit: such a frame is refused here instead. */
    #tooLarge(frame) {
        const limit = this.#hello?.max_frame_bytes;
        if (limit === undefined || new TextEncoder().encode(JSON.stringify(frame)).length <= limit)
            return undefined;
        return new HubError("frame_too_large", `frames may be at most ${limit} bytes`);
    }
    // -- streams and rooms ----------------------------------------------------------------------------------------
    /**
     * Follow `stream` from `lastSeq` (e.g. the newest seq of the history just loaded over REST): later messages are
     * delivered (missed ones replayed now if connected), earlier ones dropped.
     */
    follow(stream, lastSeq) {
        this.#deliver(this.#sequencer.setPosition(stream, lastSeq));
        if (this.#state === "open")
            this.#resume({ [stream]: lastSeq });
    }
    /** The last seq delivered in `stream`, `undefined` if none was. */
    position(stream) {
        return this.#sequencer.position(stream);
    }
    /**
     * Join a room: its messages, replies and presence reach this client, also after reconnects, until `leaveRoom()`.
     * Resolves with the room's presence; rejects with `not_found` or `forbidden`.
     */
    joinRoom(roomId) {
        if (this.#state === "closed")
            return Promise.reject(new HubError("client_closed", "the client is closed"));
        const { promise, resolve, reject } = deferred();
        this.#rooms.add(roomId);
        const id = newId();
        this.#joins.set(id, { roomId, resolve, reject });
        if (this.#state === "open")
            this.#transmit({ type: "room.join", id, room_id: roomId });
        return promise;
    }
    /**
     * Leave a room joined with `joinRoom()`: its stream is no longer followed, nor resumed after reconnects.
     * Resolves when the server has unsubscribed the socket (at once when no socket is open: it is not rejoined).
     */
    leaveRoom(roomId) {
        this.#rooms.delete(roomId);
        this.#sequencer.forget(`room:${roomId}`);
        for (const [id, join] of this.#joins) {
            if (join.roomId !== roomId)
                continue;
            this.#joins.delete(id);
            join.reject?.(new HubError("client_closed", "the room was left before it was joined"));
        }
        if (this.#state !== "open")
            return Promise.resolve();
        return this.#roomCall({ type: "room.leave", id: newId(), room_id: roomId });
    }
    /** Tell a joined room whether the user is typing (dropped while disconnected: it is never stored). */
    setTyping(roomId, typing) {
        this.#transmitIfOpen({ type: "room.typing", room_id: roomId, typing });
    }
    /**
     * Stop the replicas' turns running in a room. Resolves on the server's `ack` (sent again after a reconnect if the
     * socket dropped first); rejects with `forbidden` or `not_found` when the user is not a member.
     */
    stopRoom(roomId) {
        if (this.#state === "closed")
            return Promise.reject(new HubError("client_closed", "the client is closed"));
        return this.#roomCall({ type: "room.stop", id: newId(), room_id: roomId });
    }
    #roomCall(frame) {
        const { promise, resolve, reject } = deferred();
        this.#calls.set(frame.id, { frame, resolve, reject });
        this.#transmitIfOpen(frame);
        return promise;
    }
    // -- connection lifecycle -------------------------------------------------------------------------------------
    async #open() {
        this.#setState("connecting");
        let token;
        try {
            token = await this.#getToken();
        }
        catch (error) {
            if (this.#state !== "connecting")
                return;
            this.emit("error", new HubError("internal_error", `getToken failed: ${String(error)}`, true));
            this.#retry(1006, "no token");
            return;
        }
        if (this.#state !== "connecting")
            return; // closed while waiting for the token
        this.#token = token;
        let socket;
        try {
            socket = new this.#WebSocket(this.#url.replace(/^http/, "ws") + "/ws", [
                SUBPROTOCOL,
                TOKEN_SUBPROTOCOL_PREFIX + token,
            ]);
        }
        catch (error) {
            this.emit("error", new HubError("internal_error", `cannot open the socket: ${String(error)}`, true));
            this.#retry(1006, "cannot open the socket");
            return;
        }
        this.#socket = socket;
        socket.onmessage = ((event) => {
            if (this.#socket === socket)
                this.#receive(String(event.data));
        });
        socket.onclose = ((event) => {
            if (this.#socket === socket)
                this.#lost(event.code, event.reason);
        });
        socket.onerror = (() => undefined); // a close event follows and says what happened
    }
    /** The socket is gone: reconnect after the delay its close code asks for, or stay closed. */
    #lost(code, reason) {
        this.#socket = undefined;
        this.#hello = undefined;
        this.#clearConnectionTimers();
        this.#recovering.clear();
        if (this.#state === "closed")
            return;
        this.#retry(code, reason);
    }
    #retry(code, reason) {
        const delay = reconnectDelay(code, this.#attempt, this.#backoff);
        if (delay === null) {
            this.#stop(new HubError("client_closed", `the server closed the connection (${code}: ${reason})`));
            this.emit("closed", { code, reason, retryInMs: null });
            return;
        }
        this.#attempt += 1;
        this.#setState("waiting");
        this.emit("closed", { code, reason, retryInMs: delay });
        this.#retryTimer = setTimeout(() => void this.#open(), delay);
    }
    /** Closed for good: no timers, no socket, every open promise rejected with `error`. */
    #stop(error) {
        this.#setState("closed");
        this.#socket = undefined;
        this.#hello = undefined;
        this.#clearConnectionTimers();
        clearTimeout(this.#retryTimer);
        for (const pending of this.#pending.values())
            pending.reject(error);
        this.#pending.clear();
        for (const join of this.#joins.values())
            join.reject?.(error);
        this.#joins.clear();
        for (const call of this.#calls.values())
            call.reject(error);
        this.#calls.clear();
        this.#ready?.reject(error);
        this.#ready?.promise.catch(() => undefined); // nobody may be waiting for it
        this.#ready = undefined;
    }
    #clearConnectionTimers() {
        clearTimeout(this.#refreshTimer);
        clearInterval(this.#heartbeat);
        for (const timer of this.#holeTimers.values())
            clearTimeout(timer);
        this.#holeTimers.clear();
    }
    #setState(state) {
        if (state === this.#state)
            return;
        this.#state = state;
        this.emit("state", state);
    }
    // -- receiving ------------------------------------------------------------------------------------------------
    #receive(text) {
        let frame;
        try {
            frame = JSON.parse(text);
        }
        catch {
            return;
        }
        this.#silentTicks = 0;
        switch (frame.type) {
            case "hello":
                return this.#onHello(frame);
            case "ack":
                return this.#onAck(frame);
            case "message":
                this.#deliver(this.#sequencer.offer(frame.message));
                return this.#watchHole(frame.message.stream);
            case "resumed":
                this.#recovering.delete(frame.stream);
                return this.#watchHole(frame.stream);
            case "error":
                return this.#onError(frame);
            case "reply.delta":
                return this.emit("delta", frame);
            case "reply.started":
                return this.emit("started", frame);
            case "notice":
                return this.emit("notice", frame);
            case "change":
                return this.emit("change", frame);
            case "resync":
                this.#onResync(frame);
                return this.emit("resync", frame);
            case "room.presence":
                for (const [id, join] of this.#joins) {
                    if (join.roomId !== frame.room_id)
                        continue;
                    this.#joins.delete(id);
                    join.resolve?.(frame);
                }
                return this.emit("room", frame);
            case "room.joined":
            case "room.left":
            case "room.typing":
            case "room.turns":
            case "room.phase":
            case "room.vote":
            case "room.verdict":
            case "room.mode":
                return this.emit("room", frame);
            case "prototype.event":
                return this.emit("prototype", frame);
            default:
                return; // `pong`, and frame types newer than this client
        }
    }
    #onAck(frame) {
        if (!frame.id)
            return;
        const call = this.#calls.get(frame.id);
        if (call !== undefined) {
            this.#calls.delete(frame.id);
            return call.resolve();
        }
        const pending = this.#pending.get(frame.id);
        if (pending === undefined || !frame.stream || !frame.message_id || typeof frame.seq !== "number")
            return;
        this.#pending.delete(frame.id);
        const ack = frame;
        if (ack.duplicate && this.#sequencer.position(ack.stream) === undefined) {
            // Stored while this client was away, in a stream it had not seen yet: replay from that message on.
            this.follow(ack.stream, ack.seq - 1);
        }
        pending.resolve(ack);
    }
    #onHello(hello) {
        const reauthenticated = this.#hello !== undefined;
        this.#hello = hello;
        if (!reauthenticated) {
            this.#attempt = 0;
            this.#setState("open");
            this.#scheduleRefresh();
            this.#startHeartbeat(hello.heartbeat_interval * 1000);
            this.#restore();
            this.#ready?.resolve(hello);
            this.#ready = undefined;
        }
        this.emit("hello", hello);
    }
    /** After (re)connecting: join the rooms again, resume every stream, re-send what was not acknowledged. */
    #restore() {
        const silent = new Set(this.#rooms);
        for (const [id, join] of this.#joins) {
            silent.delete(join.roomId);
            this.#transmit({ type: "room.join", id, room_id: join.roomId });
        }
        for (const roomId of silent) {
            const id = newId();
            this.#joins.set(id, { roomId });
            this.#transmit({ type: "room.join", id, room_id: roomId });
        }
        this.#resume(this.#sequencer.positions());
        for (const [id, call] of this.#calls) {
            if (call.frame.type === "room.stop")
                this.#transmit(call.frame);
            else {
                this.#calls.delete(id); // the new socket never joined the room: it is left
                call.resolve();
            }
        }
        for (const pending of this.#pending.values()) {
            const tooLarge = this.#tooLarge(pending.frame); // queued before this connection told its limit
            if (tooLarge === undefined)
                this.#transmit(pending.frame);
            else {
                this.#pending.delete(pending.frame.id);
                pending.reject(tooLarge);
            }
        }
    }
    #onError(frame) {
        if (frame.code === "resume_unavailable" && frame.stream) {
            void this.#fetchGap(frame.stream);
            return;
        }
        const error = HubError.fromFrame(frame);
        if (frame.code === "rate_limited" && frame.id && this.#retransmitLater(frame.id))
            return;
        if (frame.stream && this.#recovering.has(frame.stream)) {
            // The stream cannot be resumed at all: no such room, no longer a member, or no such replica.
            this.#recovering.delete(frame.stream);
            if (["not_found", "forbidden", "replica_not_found"].includes(frame.code))
                this.#sequencer.forget(frame.stream);
        }
        const pending = frame.id ? this.#pending.get(frame.id) : undefined;
        if (pending !== undefined) {
            this.#pending.delete(pending.frame.id);
            return pending.reject(error);
        }
        const call = frame.id ? this.#calls.get(frame.id) : undefined;
        if (call !== undefined) {
            this.#calls.delete(call.frame.id);
            return call.reject(error);
        }
        const join = frame.id ? this.#joins.get(frame.id) : undefined;
        if (join !== undefined) {
            this.#joins.delete(frame.id);
            this.#rooms.delete(join.roomId);
            if (join.reject)
                return join.reject(error);
        }
        this.emit("error", error);
    }
    /** A frame dropped for flooding (`rate_limited`, with its id): send it again after a pause instead of failing it. */
    #retransmitLater(id) {
        const waiting = () => {
            const join = this.#joins.get(id);
            return this.#pending.get(id)?.frame ?? this.#calls.get(id)?.frame ??
                (join && { type: "room.join", id, room_id: join.roomId });
        };
        if (waiting() === undefined)
            return false;
        const again = () => {
            const frame = waiting(); // still waiting for its answer?
            if (frame !== undefined && this.#state === "open")
                this.#transmit(frame); // else #restore() sends it
        };
        setTimeout(again, this.#backoff.jitterMs * (1 + Math.random()));
        return true;
    }
    #deliver(messages) {
        for (const message of messages)
            this.emit("message", message);
    }
    // -- gaps -----------------------------------------------------------------------------------------------------
    /** The broker lost frames: resume the streams it names, and join their rooms again for a fresh presence. */
    #onResync(frame) {
        const positions = resyncPositions(this.#sequencer.positions(), frame);
        if (Object.keys(positions).length > 0)
            this.#resume(positions);
        for (const stream of frame.streams ?? []) {
            const roomId = stream.slice("room:".length);
            if (!stream.startsWith("room:") || !this.#rooms.has(roomId))
                continue;
            const id = newId();
            this.#joins.set(id, { roomId });
            this.#transmit({ type: "room.join", id, room_id: roomId });
        }
    }
    #resume(positions) {
        const streams = Object.entries(positions);
        for (let i = 0; i < streams.length; i += MAX_RESUME_STREAMS) {
            const chunk = streams.slice(i, i + MAX_RESUME_STREAMS);
            for (const [stream] of chunk)
                this.#recovering.add(stream);
            this.#transmit({ type: "resume", id: newId(), streams: Object.fromEntries(chunk) });
        }
    }
    /** A message arrived past a missing seq: give live delivery a moment to fill the hole, then resume the stream. */
    #watchHole(stream) {
        if (!this.#sequencer.hasHole(stream) || this.#recovering.has(stream) || this.#holeTimers.has(stream))
            return;
        const timer = setTimeout(() => {
            this.#holeTimers.delete(stream);
            const position = this.#sequencer.position(stream);
            if (this.#sequencer.hasHole(stream) && position !== undefined && this.#state === "open") {
                this.#resume({ [stream]: position });
            }
        }, this.#gapWaitMs);
        this.#holeTimers.set(stream, timer);
    }
    /** The server cannot replay what `stream` missed: read it over REST, newest page first, down to our position. */
    async #fetchGap(stream) {
        const last = this.#sequencer.position(stream) ?? 0;
        try {
            const missed = [];
            let newest;
            let before;
            pages: for (;;) {
                const page = await this.rest.streamHistory(stream, { limit: 200, ...(before ? { before } : {}) });
                newest ??= page.messages[0]?.seq ?? 0;
                for (const message of page.messages) {
                    if (message.seq <= last)
                        break pages;
                    missed.push(message);
                }
                if (page.next_before === null)
                    break;
                before = page.next_before;
            }
            if (newest !== undefined && newest < last)
                this.#sequencer.setPosition(stream, newest); // reset under us
            for (const message of missed.reverse())
                this.#deliver(this.#sequencer.offer(message));
        }
        catch (error) {
            this.emit("error", error instanceof HubApiError ? error : new HubError("internal_error", String(error), true, stream));
        }
        finally {
            this.#recovering.delete(stream);
            this.#deliver(this.#sequencer.skipHoles(stream)); // what REST does not have cannot be recovered
        }
    }
    // -- tokens and liveness --------------------------------------------------------------------------------------
    #scheduleRefresh() {
        clearTimeout(this.#refreshTimer);
        const expiry = this.#token === undefined ? undefined : tokenExpiry(this.#token);
        if (expiry === undefined)
            return;
        const remaining = expiry - Date.now();
        const delay = Math.max(0, remaining - Math.min(this.#refreshLeadMs, remaining / 2));
        this.#refreshTimer = setTimeout(() => void this.#reauthenticate(), delay);
    }
    /** Send a fresh token on the open socket, so the server does not close it (4003) when the old one expires. */
    async #reauthenticate() {
        const socket = this.#socket;
        let token;
        try {
            token = await this.#getToken();
        }
        catch (error) {
            this.emit("error", new HubError("internal_error", `getToken failed: ${String(error)}`, true));
            token = this.#token ?? "";
        }
        if (this.#socket !== socket || this.#state !== "open")
            return;
        const current = tokenExpiry(this.#token ?? "") ?? 0;
        if ((tokenExpiry(token) ?? 0) <= current) {
            // Not fresher: ask again later; if the token runs out first, the server closes with 4003.
            const remaining = current - Date.now();
            if (remaining > 0)
                this.#refreshTimer = setTimeout(() => void this.#reauthenticate(), Math.max(1_000, remaining / 2));
            return;
        }
        this.#token = token;
        this.#transmit({ type: "auth", id: newId(), token });
        this.#scheduleRefresh();
    }
    /** Ping at the server's heartbeat pace; a socket silent for a whole period after a ping is dead: drop it. */
    #startHeartbeat(intervalMs) {
        this.#heartbeat = setInterval(() => {
            this.#silentTicks += 1;
            if (this.#silentTicks > 1)
                return this.#drop("no answer to ping");
            this.#transmit({ type: "ping", id: newId() });
        }, intervalMs);
    }
    #drop(reason) {
        const socket = this.#socket;
        if (socket === undefined)
            return;
        this.#socket = undefined; // its own close event may come much later, or never
        socket.close(4000, reason);
        this.#lost(1006, reason);
    }
    #transmitIfOpen(frame) {
        if (this.#state === "open")
            this.#transmit(frame);
    }
    #transmit(frame) {
        this.#socket?.send(JSON.stringify(frame));
    }
}
