// Run against a hub whose local replica streams slowly (tests/frontend sets its word delay), so a reply is still
// being generated when the socket is killed.
import assert from "node:assert/strict";
import { after, test } from "node:test";

import { clientOf, defaultReplica, inStream, newUser, until } from "./harness.js";

const open: { close(): void }[] = [];
after(() => open.forEach((client) => client.close()));

test("a socket killed during a reply reconnects and resumes: nothing lost, nothing twice", async () => {
  const user = await newUser();
  const { client, sockets, messages, deltas, closes } = clientOf(user);
  open.push(client);
  await client.connect();
  const replica = await defaultReplica(client.rest);
  const stream = `chat:${replica}`;
  await client.sendChat(replica, "first, to have a position in the stream");
  await until("the first reply", () => inStream(messages, stream).length === 2);

  const ack = await client.sendChat(replica, "tell me a long story");
  await until("the reply to start streaming", () => deltas.some((delta) => delta.reply_to === ack.message_id));
  const asked = user.tokens.length;
  sockets[0]!.socket.terminate(); // the TCP connection dies: no close frame
  await until("the reply after resuming", () => inStream(messages, stream).length === 4, 30_000);

  assert.equal(closes[0]!.code, 1006);
  assert.equal(sockets.length, 2, "one reconnect");
  assert.equal(user.tokens.length, asked + 1, "a token was asked for before reconnecting");
  assert.equal(sockets[1]!.protocols[1], `access_token.${user.tokens.at(-1)}`);
  const delivered = inStream(messages, stream);
  assert.deepEqual(delivered.map((message) => message.seq), [1, 2, 3, 4]);
  assert.equal(delivered[3]!.reply_to, ack.message_id);
  const history = await client.rest.history(replica);
  assert.deepEqual(delivered, history.messages.slice().reverse());
  assert.equal(client.position(stream), 4);
});

test("a send the socket drops before its ack is sent again with the same id and stored once", async () => {
  const user = await newUser();
  let gate: Promise<void> = Promise.resolve();
  let openGate = () => {};
  const { client, sockets, messages, closes } = clientOf({ getToken: () => gate.then(user.getToken) });
  open.push(client);
  await client.connect();
  const replica = await defaultReplica(client.rest);
  const stream = `chat:${replica}`;

  gate = new Promise((resolve) => (openGate = resolve)); // hold the reconnect until both sends are pending
  const sent = client.sendChat(replica, "are you there?", { id: "send-before-drop" });
  sockets[0]!.socket.terminate(); // the frame may or may not have left: either way it is stored once
  await until("the drop", () => closes.length === 1);
  const queued = client.sendChat(replica, "sent while disconnected", { id: "send-while-down" });
  assert.notEqual(client.state, "open");
  assert.deepEqual([...client.unacknowledged.keys()], ["send-before-drop", "send-while-down"]);
  openGate();

  const [first, second] = await Promise.all([sent, queued]);
  assert.deepEqual([first.id, second.id], ["send-before-drop", "send-while-down"]);
  assert.equal(client.unacknowledged.size, 0);
  await until("both replies", () => inStream(messages, stream).length === 4, 30_000);
  const history = (await client.rest.history(replica)).messages.slice().reverse();
  assert.deepEqual(
    history.filter((message) => message.sender === "user").map((message) => message.client_id),
    ["send-before-drop", "send-while-down"],
  );
  assert.deepEqual(inStream(messages, stream), history);
});
