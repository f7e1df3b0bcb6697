// Shared by the Node tests: they run against a real sensay-hub whose base URL is in HUB_URL (tests/frontend starts it).
import { randomUUID } from "node:crypto";

import WebSocket from "ws";

import { type CloseInfo, HubClient, type HubClientOptions, HubRest, type Session, type StoredMessage, tokenExpiry } from "../src/index.js";

export const HUB_URL = process.env.HUB_URL ?? "";
if (!HUB_URL) throw new Error("HUB_URL is not set: run these tests through pytest tests/frontend");

export const PASSWORD = "correct horse battery";

/** A `ws` WebSocket class that remembers every socket it opened and the subprotocols each offered. */
export function recordingWebSocket() {
  const sockets: { socket: WebSocket; protocols: string[] }[] = [];
  class Recording extends WebSocket {
    constructor(url: string, protocols: string[]) {
      super(url, protocols);
      sockets.push({ socket: this, protocols });
    }
  }
  return { WebSocket: Recording, sockets };
}

/** A new user, logged in; `getToken` refreshes the session when the token has under `refreshWithinMs` left. */
export async function newUser(refreshWithinMs = 5_000) {
  const rest = new HubRest({ url: HUB_URL });
  const email = `ts-${randomUUID()}@example.com`;
  await rest.signUp(email, PASSWORD);
  let session: Session = await rest.logIn(email, PASSWORD);
  const tokens: string[] = [];
  const getToken = async (): Promise<string> => {
    if ((tokenExpiry(session.access_token) ?? Infinity) - Date.now() < refreshWithinMs) {
      session = await rest.refresh(session.refresh_token);
    }
    tokens.push(session.access_token);
    return session.access_token;
  };
  return { email, session: () => session, getToken, tokens };
}

/** A client of `user` over a recording WebSocket, with every message, delta and close it reports collected. */
export function clientOf(user: { getToken: () => Promise<string> }, options: Partial<HubClientOptions> = {}) {
  const recording = recordingWebSocket();
  const client = new HubClient({ url: HUB_URL, getToken: user.getToken, WebSocket: recording.WebSocket, ...options });
  const messages: StoredMessage[] = [];
  const deltas: { reply_to: string; index: number; text: string }[] = [];
  const closes: CloseInfo[] = [];
  client.on("message", (message) => messages.push(message));
  client.on("delta", (delta) => deltas.push(delta));
  client.on("closed", (info) => closes.push(info));
  return { client, sockets: recording.sockets, messages, deltas, closes };
}

/** Wait until `condition()` holds; fail naming `what` after `timeoutMs` (generous: the machine is shared). */
export async function until(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The default replica of the hub's local replica service. */
export async function defaultReplica(rest: HubRest): Promise<string> {
  const { replicas, default_replica_id } = await rest.replicas();
  return default_replica_id ?? replicas[0]!.uuid;
}

/** Messages of `stream` in the order delivered. */
export function inStream(messages: StoredMessage[], stream: string): StoredMessage[] {
  return messages.filter((message) => message.stream === stream);
}
