// The demo page: the compiled TypeScript client (./client/) driving chat, a room and the task list.
import { HubApiError, HubClient, HubRest, tokenExpiry } from "./client/index.js";

const SESSION_KEY = "sensay-hub.demo.session";
const REFRESH_WITHIN_MS = 60_000;
const TASK_MEMORY_SLUG = "task-memory"; // the replica "Tell the Task Memory replica" talks to, when there is one
const $ = (id) => document.getElementById(id);

const publicRest = new HubRest({ url: location.origin });
let hub = null;
let me = null;
let replicaNames = new Map();
let chatStream = null;
let roomStream = null;
let memoryReplica = null; // { uuid, name }: who the task form's messages go to
const tasks = new Map();

// -- the session, shared by this browser's tabs -------------------------------------------------------------------

function loadSession() {
  try {
    return JSON.parse(localStorage.getItem(SESSION_KEY));
  } catch {
    return null;
  }
}

function saveSession(session) {
  if (session) localStorage.setItem(SESSION_KEY, JSON.stringify(session));
  else localStorage.removeItem(SESSION_KEY);
}

const fresh = (session) => (tokenExpiry(session.access_token) ?? Infinity) - Date.now() > REFRESH_WITHIN_MS;

/** The access token, refreshed when it nears its end. One tab refreshes at a time: a refresh token works once. */
async function getToken() {
  const session = loadSession();
  if (!session) throw new Error("logged out");
  if (fresh(session)) return session.access_token;
  const refresh = async () => {
    const current = loadSession(); // another tab may have refreshed it while this one waited
    if (!current) throw new Error("logged out");
    if (fresh(current)) return current.access_token;
    try {
      const renewed = await publicRest.refresh(current.refresh_token);
      saveSession(renewed);
      return renewed.access_token;
    } catch (error) {
      if (error instanceof HubApiError && error.status === 401) stop("Your session ended: log in again.");
      throw error;
    }
  };
  return navigator.locks ? navigator.locks.request("sensay-hub.demo.refresh", refresh) : refresh();
}

// -- signing in and out -------------------------------------------------------------------------------------------

$("auth-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const [email, password] = [form.get("email"), form.get("password")];
  $("auth-error").textContent = "";
  try {
    if (event.submitter?.value === "signup") await publicRest.signUp(email, password);
    saveSession(await publicRest.logIn(email, password));
    event.target.elements.password.value = "";
    await start();
  } catch (error) {
    $("auth-error").textContent = error.message;
  }
});

$("logout").addEventListener("click", async () => {
  try {
    await hub?.rest.logOut();
  } finally {
    saveSession(null);
    stop();
  }
});

// Logging out in another tab logs this one out too.
addEventListener("storage", (event) => {
  if (event.key === SESSION_KEY && event.newValue === null) stop();
});

function stop(message = "") {
  hub?.close();
  hub = null;
  me = null;
  saveSession(null);
  clearScreen();
  $("app").hidden = true;
  $("who").hidden = true;
  $("auth").hidden = false;
  $("auth-error").textContent = message;
  showState("closed");
}

/** Forget everything the last user saw: nothing of theirs stays on screen (or in the form) after logout. */
function clearScreen() {
  chatStream = null;
  roomStream = null;
  memoryReplica = null;
  replicaNames = new Map();
  streaming.clear();
  tasks.clear();
  for (const id of ["replica", "room-replicas", "chat-log", "room-log", "task-list"]) $(id).replaceChildren();
  for (const id of ["who-email", "room-name", "memory-answer", "app-error"]) $(id).textContent = "";
  for (const id of ["auth-form", "chat-form", "room-open", "room-form", "task-form", "memory-form"]) $(id).reset();
  $("room-form").hidden = true;
  $("memory-name").textContent = "the Task Memory replica";
}

async function start() {
  clearScreen();
  const session = loadSession();
  me = session.user;
  $("auth").hidden = true;
  $("who").hidden = false;
  $("who-email").textContent = me.email;
  $("app").hidden = false;
  $("app-error").textContent = "";

  const client = new HubClient({ url: location.origin, getToken });
  hub = client;
  hub.on("state", showState);
  hub.on("message", showMessage);
  hub.on("delta", showDelta);
  hub.on("room", showRoomEvent);
  hub.on("change", applyChange);
  hub.on("resync", loadTasks);
  hub.on("error", (error) => showError(error));
  hub.on("closed", ({ code, retryInMs }) => {
    if (retryInMs === null && (code === 4001 || code === 4003)) stop("Your session ended: log in again.");
  });
  try {
    await client.connect();
    const { replicas, default_replica_id } = await client.rest.replicas();
    if (hub !== client) return; // logged out meanwhile
    replicaNames = new Map(replicas.map((replica) => [replica.uuid, replica.name]));
    fillReplicas(replicas, default_replica_id);
    await Promise.all([openChat(), loadTasks()]);
  } catch (error) {
    if (hub === client) showError(error);
  }
}

function showState(state) {
  const text = { idle: "Not connected", connecting: "Connecting…", open: "Connected", waiting: "Reconnecting…" };
  $("status").textContent = text[state] ?? "Disconnected";
  $("status").dataset.state = state;
}

function showError(error) {
  $("app-error").textContent = error?.message ?? String(error);
}

// -- chat ---------------------------------------------------------------------------------------------------------

function fillReplicas(replicas, defaultId) {
  // Task commands work in any chat; the seeded Task Memory replica is made for them (else: the default one).
  const keeper = replicas.find((replica) => replica.slug === TASK_MEMORY_SLUG);
  const fallback = replicas.find((replica) => replica.uuid === defaultId) ?? replicas[0];
  memoryReplica = keeper ?? fallback ?? null;
  $("memory-name").textContent = keeper ? "the Task Memory replica" : (memoryReplica?.name ?? "a replica");
  $("replica").replaceChildren(
    ...replicas.map((replica) => new Option(replica.name, replica.uuid, false, replica.uuid === defaultId)),
  );
  $("room-replicas").replaceChildren(
    ...replicas.map((replica, index) => {
      const box = Object.assign(document.createElement("input"), {
        type: "checkbox",
        name: "replica",
        value: replica.uuid,
        checked: index < 2,
      });
      const label = document.createElement("label");
      label.append(box, ` ${replica.name}`);
      return label;
    }),
  );
}

$("replica").addEventListener("change", () => openChat().catch(showError));

/** Show the newest page of the chosen replica's chat, then follow its stream from there. */
async function openChat() {
  const replicaId = $("replica").value;
  if (!replicaId) return;
  const client = hub;
  chatStream = `chat:${replicaId}`;
  $("chat-log").replaceChildren();
  const page = await client.rest.history(replicaId, { limit: 50 });
  if (hub !== client || chatStream !== `chat:${replicaId}`) return; // logged out or switched meanwhile
  for (const message of page.messages.slice().reverse()) showMessage(message);
  client.follow(chatStream, page.messages[0]?.seq ?? 0);
}

$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = event.target.elements.content;
  const content = input.value.trim();
  if (!content) return;
  input.value = "";
  hub.sendChat($("replica").value, content).catch(showError);
});

function logOf(stream) {
  if (stream === chatStream) return $("chat-log");
  if (stream === roomStream) return $("room-log");
  return null;
}

function author(message) {
  if (message.sender === "replica") return replicaNames.get(message.replica_id) ?? "Replica";
  return message.user_id === me?.id ? "You" : `User ${message.user_id?.slice(0, 8)}`;
}

function entry(sender, who, text) {
  const item = document.createElement("li");
  item.dataset.sender = sender;
  const name = Object.assign(document.createElement("span"), { className: "author", textContent: who });
  item.append(name, Object.assign(document.createElement("span"), { className: "text", textContent: text }));
  return item;
}

const replyKey = (stream, replyTo, replicaId) => `${stream}|${replyTo}|${replicaId}`;
const streaming = new Map(); // replyKey → { item, chunks }

function showMessage(message) {
  const log = logOf(message.stream);
  if (!log || log.querySelector(`[data-message-id="${message.id}"]`)) return;
  const item = entry(message.sender, author(message), message.content);
  item.dataset.messageId = message.id;
  const key = replyKey(message.stream, message.reply_to, message.replica_id);
  const inFlight = streaming.get(key);
  streaming.delete(key);
  if (inFlight) {
    item.dataset.streamed = ""; // it was shown arriving, delta by delta
    inFlight.item.replaceWith(item);
  } else log.append(item);
  log.scrollTop = log.scrollHeight;
}

function showDelta(delta) {
  const log = logOf(delta.stream);
  if (!log) return;
  const key = replyKey(delta.stream, delta.reply_to, delta.replica_id);
  let inFlight = streaming.get(key);
  if (!inFlight) {
    const item = entry("replica", replicaNames.get(delta.replica_id) ?? "Replica", "");
    item.dataset.streaming = "";
    inFlight = { item, chunks: [] };
    streaming.set(key, inFlight);
    log.append(item);
  }
  inFlight.chunks[delta.index] = delta.text;
  inFlight.item.querySelector(".text").textContent = inFlight.chunks.join("");
  log.scrollTop = log.scrollHeight;
}

// -- a chatroom ---------------------------------------------------------------------------------------------------

$("room-open").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const replicaIds = form.getAll("replica");
  if (replicaIds.length === 0) return showError(new Error("pick at least one replica for the room"));
  try {
    const names = replicaIds.map((id) => replicaNames.get(id)).join(" & ");
    const room = await hub.rest.createRoom({ name: names, replica_ids: replicaIds, mode: form.get("mode") });
    if (roomStream) await hub.leaveRoom(roomStream.slice("room:".length));
    roomStream = `room:${room.id}`;
    $("room-log").replaceChildren();
    await hub.joinRoom(room.id);
    hub.follow(roomStream, 0);
    $("room-name").textContent = `Room “${room.name}” (${room.mode.replaceAll("_", " ")})`;
    $("room-form").hidden = false;
    $("room-form").elements.content.focus();
  } catch (error) {
    showError(error);
  }
});

$("room-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = event.target.elements.content;
  const content = input.value.trim();
  if (!content || !roomStream) return;
  input.value = "";
  hub.sendToRoom(roomStream.slice("room:".length), content).catch(showError);
});

function showRoomEvent(event) {
  if (`room:${event.room_id}` !== roomStream) return;
  const name = (replicaId) => replicaNames.get(replicaId) ?? "a replica";
  switch (event.type) {
    case "room.turns": {
      const base = $("room-name").textContent.replace(/ · .*$/, "");
      const state = event.state === "running" ? `replicas talking (turn ${event.turns})` : `replicas ${event.state}`;
      $("room-name").textContent = `${base} · ${state}${event.reason ? `: ${event.reason}` : ""}`;
      return;
    }
    case "room.phase":
      return roomNote(`Phase ${event.index} of ${event.count}: ${event.title}`);
    case "room.vote": {
      const counts = Object.entries(event.tally).map(([id, votes]) => `${name(id)} ${votes}`).join(", ");
      return roomNote(`Vote: ${counts}. ${name(event.winner)}'s proposal wins${event.tie ? " (a tie: the earliest)" : ""}.`);
    }
    case "room.verdict": {
      const asked = event.test === "goal" ? "the goal is met" : "the speakers agree";
      return roomNote(`${name(event.judge_id)} judges whether ${asked}: ${event.met ? "yes" : "not yet"}. ${event.summary}`);
    }
  }
}

/** A line in the room's log that no one said: a phase, a vote, a verdict. */
function roomNote(text) {
  const log = $("room-log");
  log.append(entry("room", "Room", text));
  log.scrollTop = log.scrollHeight;
}

// -- tasks --------------------------------------------------------------------------------------------------------

async function loadTasks() {
  const client = hub;
  const { tasks: list } = await client.rest.tasks();
  if (hub !== client) return; // logged out meanwhile
  tasks.clear();
  for (const task of list) tasks.set(task.id, task);
  renderTasks();
}

function applyChange(change) {
  if (change.table !== "tasks") return;
  if (change.op === "DELETE") tasks.delete(change.old_record?.id);
  else if (change.record) tasks.set(change.record.id, change.record);
  renderTasks();
}

function renderTasks() {
  const ordered = [...tasks.values()].sort((a, b) => a.created_at.localeCompare(b.created_at));
  $("task-list").replaceChildren(
    ...ordered.map((task) => {
      const item = document.createElement("li");
      item.dataset.status = task.status;
      const done = Object.assign(document.createElement("input"), {
        type: "checkbox",
        checked: task.status === "completed",
      });
      done.setAttribute("aria-label", `Done: ${task.description}`);
      done.addEventListener("change", () =>
        hub.rest.updateTask(task.id, { status: done.checked ? "completed" : "pending" }).catch(showError),
      );
      const remove = Object.assign(document.createElement("button"), { type: "button", textContent: "Delete" });
      remove.setAttribute("aria-label", `Delete: ${task.description}`);
      remove.addEventListener("click", () => hub.rest.deleteTask(task.id).catch(showError));
      item.append(done, Object.assign(document.createElement("span"), { textContent: task.description }), remove);
      return item;
    }),
  );
}

$("task-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = event.target.elements.description;
  const description = input.value.trim();
  if (!description) return;
  input.value = "";
  hub.rest.createTask({ description }).catch(showError);
});

$("memory-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = event.target.elements.content;
  const content = input.value.trim();
  if (!content || !memoryReplica) return;
  input.value = "";
  const client = hub;
  try {
    const params = { content, replica_id: memoryReplica.uuid };
    const { result } = await client.rest.runPrototypeAction("task-memory", "chat", params);
    if (hub !== client) return;
    $("memory-answer").textContent = result.reply ?? result.reply_error ?? "";
  } catch (error) {
    showError(error);
  }
});

if (loadSession()) start();
