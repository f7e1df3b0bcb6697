// Run against a hub whose access tokens live a few seconds (tests/frontend sets ACCESS_TOKEN_TTL).
import assert from "node:assert/strict";
import { after, test } from "node:test";

import { HubError, tokenExpiry } from "../src/index.js";
import { clientOf, defaultReplica, inStream, newUser, sleep, until } from "./harness.js";

const open: { close(): void }[] = [];
after(() => open.forEach((client) => client.close()));

test("a token about to expire is replaced through getToken() on the open socket", async () => {
  const user = await newUser();
  const { client, sockets, messages, closes } = clientOf(user);
  open.push(client);
  await client.connect();
  const firstExpiry = tokenExpiry(user.tokens[0]!)!;
  const lifetime = firstExpiry - Date.now();
  assert.ok(lifetime > 0 && lifetime < 60_000, "the hub under test issues short-lived tokens");

  await until("the first token's expiry to pass", () => Date.now() > firstExpiry + 1_000, lifetime + 10_000);
  assert.ok(user.tokens.length >= 2, "getToken was asked for a fresh token");
  assert.notEqual(user.tokens.at(-1), user.tokens[0]);
  assert.deepEqual(closes, [], "the server never closed the socket");
  assert.equal(sockets.length, 1);

  const replica = await defaultReplica(client.rest);
  await client.sendChat(replica, "still there?");
  await until("the reply", () => inStream(messages, `chat:${replica}`).length === 2);
  assert.equal(sockets.length, 1, "the same socket carried it");
});

test("logging out closes the socket with 4003 and the client does not reconnect", async () => {
  const user = await newUser();
  const { client, sockets, closes } = clientOf(user);
  open.push(client);
  await client.connect();

  await client.rest.logOut();
  await until("the close", () => closes.length === 1);
  assert.deepEqual(closes[0], { code: 4003, reason: closes[0]!.reason, retryInMs: null });
  assert.equal(client.state, "closed");
  await sleep(1_500); // long enough for several backoff attempts, had there been any
  assert.equal(sockets.length, 1);
  await assert.rejects(client.connect(), { code: "client_closed" }); // the token is revoked for good
  assert.equal(sockets.length, 2);
});

test("close() ends the connection for good", async () => {
  const user = await newUser();
  const { client, sockets, closes } = clientOf(user);
  await client.connect();
  client.close();
  assert.equal(client.state, "closed");
  await sleep(1_000);
  assert.equal(sockets.length, 1);
  assert.deepEqual(closes.map((close) => close.retryInMs), [null]);
  await assert.rejects(client.sendChat("any", "after close"), { code: "client_closed" });
});

test("a token the server refuses (4001) is not retried and connect() rejects", async () => {
  const { client, sockets, closes } = clientOf({ getToken: async () => "not-a-jwt" });
  await assert.rejects(client.connect(), (error: unknown) => error instanceof HubError && error.code === "client_closed");
  assert.deepEqual(closes.map((close) => [close.code, close.retryInMs]), [[4001, null]]);
  await sleep(1_000);
  assert.equal(sockets.length, 1);
});
