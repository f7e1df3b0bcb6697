import { HubApiError, type Problem } from "./errors.js";
import type { components, operations } from "./generated/openapi.js";

type Schemas = components["schemas"];

// Every request and answer type is generated from the OpenAPI document (`npm run generate`); `Answer` reads an
// operation's success body by its operationId, so a change on the server shows up here as a type error.

type JsonOf<Response> = Response extends { content: { "application/json": infer Body } } ? Body : never;
/** The JSON body an operation answers with `status`. */
export type Answer<Op extends keyof operations, Status extends number = 200> =
  Status extends keyof operations[Op]["responses"] ? JsonOf<operations[Op]["responses"][Status]> : never;

/** A user of the hub. */
export type User = Schemas["User"];
/** What logging in (or refreshing) answers. */
export type Session = Schemas["TokenPair"];
/** A replica the caller can chat with (`uuid` is the `replica_id` of chat). */
export type Replica = Schemas["Replica"];
/** A page of a stream's history, newest first; `next_before` asks for the page before it. */
export type MessagePage = Schemas["MessagePage"];
/** A message sent over REST with the replica's reply. */
export type ChatAnswer = Schemas["Exchange"];
export type RoomMode = NonNullable<Schemas["NewRoom"]["mode"]>;
/** A chatroom of users and replicas. */
export type Room = Schemas["Room"];
/** A room with its members and who is present. */
export type RoomDetail = Schemas["RoomDetail"];
export type TaskStatus = NonNullable<Schemas["NewTask"]["status"]>;
/** An entry of the caller's task list. */
export type Task = Schemas["Task"];

/** A page request: messages with a smaller seq than `before`, at most `limit` of them (1 to 200). */
export type Page = NonNullable<operations["listRoomMessages"]["parameters"]["query"]>;

export interface HubRestOptions {
  /** Base URL of the hub, e.g. `https://hub.example.com` (in a browser on the hub's own origin: `location.origin`). */
  url: string;
  /** Returns a valid access token; needed by every call except `signUp`, `logIn` and `refresh`. */
  getToken?: () => string | Promise<string>;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
}

type Query = Record<string, string | number | undefined>;

/** Typed calls of the hub's REST API. Failures throw `HubApiError` with the problem document's `code`. */
export class HubRest {
  readonly #base: string;
  readonly #getToken: (() => string | Promise<string>) | undefined;
  readonly #fetch: typeof fetch;

  constructor(options: HubRestOptions) {
    this.#base = options.url.replace(/\/+$/, "");
    this.#getToken = options.getToken;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  // -- auth -----------------------------------------------------------------------------------------------------

  signUp(email: string, password: string): Promise<Answer<"signUp", 201>> {
    return this.#call("POST", "/api/auth/signup", { body: { email, password } satisfies Schemas["Credentials"], auth: false });
  }

  logIn(email: string, password: string): Promise<Session> {
    return this.#call("POST", "/api/auth/login", { body: { email, password } satisfies Schemas["LoginBody"], auth: false });
  }

  /** New tokens for a refresh token; the old refresh token stops working. */
  refresh(refreshToken: string): Promise<Session> {
    const body: Schemas["RefreshBody"] = { refresh_token: refreshToken };
    return this.#call("POST", "/api/auth/refresh", { body, auth: false });
  }

  /** End the session: its tokens stop working and its sockets close with 4003. */
  logOut(): Promise<void> {
    return this.#call("POST", "/api/auth/logout");
  }

  me(): Promise<Answer<"getMe">> {
    return this.#call("GET", "/api/auth/me");
  }

  // -- chat -----------------------------------------------------------------------------------------------------

  replicas(): Promise<Answer<"listReplicas">> {
    return this.#call("GET", "/api/replicas");
  }

  /** The caller's chat with `replicaId`, newest first. */
  history(replicaId: string, page: Page = {}): Promise<MessagePage> {
    return this.#call("GET", "/api/conversations", { query: { replica_id: replicaId, ...page } });
  }

  /** Send a chat message without a socket and wait for the reply (re-sending the same `clientId` is safe). */
  postMessage(replicaId: string, content: string, clientId?: string): Promise<ChatAnswer> {
    const body: Schemas["NewMessage"] = { replica_id: replicaId, content, ...(clientId ? { client_id: clientId } : {}) };
    return this.#call("POST", "/api/conversations", { body });
  }

  /** The history of any stream (`chat:<replica_id>` or `room:<room_id>`), newest first. */
  streamHistory(stream: string, page: Page = {}): Promise<MessagePage> {
    const [kind, id] = [stream.slice(0, stream.indexOf(":")), stream.slice(stream.indexOf(":") + 1)];
    if (kind === "chat") return this.history(id, page);
    if (kind === "room") return this.roomMessages(id, page);
    throw new TypeError(`not a stream name: ${stream}`);
  }

  // -- rooms ----------------------------------------------------------------------------------------------------

  rooms(): Promise<Answer<"listRooms">> {
    return this.#call("GET", "/api/rooms");
  }

  room(roomId: string): Promise<RoomDetail> {
    return this.#call("GET", `/api/rooms/${encodeURIComponent(roomId)}`);
  }

  createRoom(room: Schemas["NewRoom"]): Promise<Room> {
    return this.#call("POST", "/api/rooms", { body: room });
  }

  /** Change the room's mode and settings for its next run (the room's creator only). */
  changeRoomMode(roomId: string, change: Schemas["RoomChange"]): Promise<Room> {
    return this.#call("PATCH", `/api/rooms/${encodeURIComponent(roomId)}`, { body: change });
  }

  roomMessages(roomId: string, page: Page = {}): Promise<MessagePage> {
    return this.#call("GET", `/api/rooms/${encodeURIComponent(roomId)}/messages`, { query: { ...page } });
  }

  addMember(roomId: string, userId: string): Promise<void> {
    const body: Schemas["NewMember"] = { user_id: userId };
    return this.#call("POST", `/api/rooms/${encodeURIComponent(roomId)}/members`, { body });
  }

  // -- tasks ----------------------------------------------------------------------------------------------------

  tasks(): Promise<Answer<"listTasks">> {
    return this.#call("GET", "/api/tasks");
  }

  createTask(task: Schemas["NewTask"]): Promise<Task> {
    return this.#call("POST", "/api/tasks", { body: task });
  }

  updateTask(taskId: string, patch: Schemas["TaskPatch"]): Promise<Task> {
    return this.#call("PATCH", `/api/tasks/${encodeURIComponent(taskId)}`, { body: patch });
  }

  deleteTask(taskId: string): Promise<void> {
    return this.#call("DELETE", `/api/tasks/${encodeURIComponent(taskId)}`);
  }

  // -- prototypes -----------------------------------------------------------------------------------------------

  /** Run one action of a prototype (e.g. `task-memory`'s `chat`); its progress may also arrive on the socket. */
  runPrototypeAction(
    prototypeId: string,
    action: string,
    params: Record<string, unknown> = {},
  ): Promise<Answer<"runPrototypeAction">> {
    const body: Schemas["ActionRequest"] = { action, params };
    return this.#call("POST", `/api/prototype/${encodeURIComponent(prototypeId)}/actions`, { body });
  }

  // -- transport ------------------------------------------------------------------------------------------------

  async #call<T>(method: string, path: string, options: { body?: unknown; query?: Query; auth?: boolean } = {}): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (options.auth ?? true) {
      if (this.#getToken === undefined) throw new TypeError(`${method} ${path} needs a getToken option`);
      headers.authorization = `Bearer ${await this.#getToken()}`;
    }
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const url = new URL(this.#base + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const response = await this.#fetch(url, {
      method,
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
    if (response.ok) return (response.status === 204 ? undefined : await response.json()) as T;
    const text = await response.text();
    let problem: Problem | undefined;
    try {
      problem = JSON.parse(text) as Problem;
    } catch {
      problem = undefined;
    }
    if (problem?.code !== undefined) throw new HubApiError(response.status, problem.code, problem.detail, problem);
    throw new HubApiError(response.status, "http_error", `${method} ${path}: HTTP ${response.status} ${text.slice(0, 200)}`);
  }
}
