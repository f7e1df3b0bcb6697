import { HubApiError } from "./errors.js";
/** Typed calls of the hub's REST API. Failures throw `HubApiError` with the problem document's `code`. */
export class HubRest {
    #base;
    #getToken;
    #fetch;
    constructor(options) {
        this.#base = options.url.replace(/\/+$/, "");
        this.#getToken = options.getToken;
        this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    }
    // -- auth -----------------------------------------------------------------------------------------------------
    signUp(email, password) {
        return this.#call("POST", "/api/auth/signup", { body: { email, password }, auth: false });
    }
    logIn(email, password) {
        return this.#call("POST", "/api/auth/login", { body: { email, password }, auth: false });
    }
    /** New tokens for a refresh token; the old refresh token stops working. */
    refresh(refreshToken) {
        const body = { refresh_token: refreshToken };
        return this.#call("POST", "/api/auth/refresh", { body, auth: false });
    }
    /** End the session: its tokens stop working and its sockets close with 4003. */
    logOut() {
        return this.#call("POST", "/api/auth/logout");
    }
    me() {
        return this.#call("GET", "/api/auth/me");
    }
    // -- chat -----------------------------------------------------------------------------------------------------
    replicas() {
        return this.#call("GET", "/api/replicas");
    }
    /** The caller's chat with `replicaId`, newest first. */
    history(replicaId, page = {}) {
        return this.#call("GET", "/api/conversations", { query: { replica_id: replicaId, ...page } });
    }
    /** Send a chat message without a socket and wait for the reply (re-sending the same `clientId` is safe). */
    postMessage(replicaId, content, clientId) {
        const body = { replica_id: replicaId, content, ...(clientId ? { client_id: clientId } : {}) };
        return this.#call("POST", "/api/conversations", { body });
    }
    /** The history of any stream (`chat:<replica_id>` or `room:<room_id>`), newest first. */
    streamHistory(stream, page = {}) {
        const [kind, id] = [stream.slice(0, stream.indexOf(":")), stream.slice(stream.indexOf(":") + 1)];
        if (kind === "chat")
            return this.history(id, page);
        if (kind === "room")
            return this.roomMessages(id, page);
        throw new TypeError(`not a stream name: ${stream}`);
    }
    // -- rooms ----------------------------------------------------------------------------------------------------
    rooms() {
        return this.#call("GET", "/api/rooms");
    }
    room(roomId) {
        return this.#call("GET", `/api/rooms/${encodeURIComponent(roomId)}`);
    }
    createRoom(room) {
        return this.#call("POST", "/api/rooms", { body: room });
    }
    /** Change the room's mode and settings for its next run (the room's creator only). */
    changeRoomMode(roomId, change) {
        return this.#call("PATCH", `/api/rooms/${encodeURIComponent(roomId)}`, { body: change });
    }
    roomMessages(roomId, page = {}) {
        return this.#call("GET", `/api/rooms/${encodeURIComponent(roomId)}/messages`, { query: { ...page } });
    }
    addMember(roomId, userId) {
        const body = { user_id: userId };
        return this.#call("POST", `/api/rooms/${encodeURIComponent(roomId)}/members`, { body });
    }
    // -- tasks ----------------------------------------------------------------------------------------------------
    tasks() {
        return this.#call("GET", "/api/tasks");
    }
    createTask(task) {
        return this.#call("POST", "/api/tasks", { body: task });
    }
    updateTask(taskId, patch) {
        return this.#call("PATCH", `/api/tasks/${encodeURIComponent(taskId)}`, { body: patch });
    }
    deleteTask(taskId) {
        return this.#call("DELETE", `/api/tasks/${encodeURIComponent(taskId)}`);
    }
    // -- prototypes -----------------------------------------------------------------------------------------------
    /** Run one action of a prototype (e.g. `task-memory`'s `chat`); its progress may also arrive on the socket. */
    runPrototypeAction(prototypeId, action, params = {}) {
        const body = { action, params };
        return this.#call("POST", `/api/prototype/${encodeURIComponent(prototypeId)}/actions`, { body });
    }
    // -- transport ------------------------------------------------------------------------------------------------
    async #call(method, path, options = {}) {
        const headers = { accept: "application/json" };
        if (options.auth ?? true) {
            if (this.#getToken === undefined)
                throw new TypeError(`${method} ${path} needs a getToken option`);
            headers.authorization = `Bearer ${await this.#getToken()}`;
        }
        if (options.body !== undefined)
            headers["content-type"] = "application/json";
        const url = new URL(this.#base + path);
        for (const [key, value] of Object.entries(options.query ?? {})) {
            if (value !== undefined)
                url.searchParams.set(key, String(value));
        }
        const response = await this.#fetch(url, {
            method,
            headers,
            ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        });
        if (response.ok)
            return (response.status === 204 ? undefined : await response.json());
        const text = await response.text();
        let problem;
        try {
            problem = JSON.parse(text);
        }
        catch {
            problem = undefined;
        }
        if (problem?.code !== undefined)
            throw new HubApiError(response.status, problem.code, problem.detail, problem);
        throw new HubApiError(response.status, "http_error", `${method} ${path}: HTTP ${response.status} ${text.slice(0, 200)}`);
    }
}
