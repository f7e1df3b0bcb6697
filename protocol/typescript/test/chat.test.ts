import assert from "node:assert/strict";
import { after, test } from "node:test";

import { HubError, PROTOCOL_VERSION } from "../src/index.js";
import { clientOf, defaultReplica, inStream, newUser, until } from "./harness.js";

const open: { close(): void }[] = [];
after(() => open.forEach((client) => client.close()));

test("a chat message is acked, echoed and answered by a streamed reply, in the shape REST returns", async () => {
  const user = await newUser();
  const { client, messages, deltas } = clientOf(user);
  open.push(client);
  const hello = await client.connect();
  assert.equal(hello.protocol, PROTOCOL_VERSION);
  const replica = await defaultReplica(client.rest);
  const stream = `chat:${replica}`;

  const ack = await client.sendChat(replica, "Hello, who are you?");
  assert.equal(ack.stream, stream);
  await until("the reply", () => inStream(messages, stream).length === 2);

  const [question, reply] = inStream(messages, stream);
  assert.deepEqual(
    [question!.sender, question!.seq, question!.id, question!.client_id, question!.content],
    ["user", ack.seq, ack.message_id, ack.id, "Hello, who are you?"],
  );
  assert.deepEqual([reply!.sender, reply!.seq, reply!.reply_to, reply!.replica_id], ["replica", ack.seq + 1, question!.id, replica]);
  const streamed = deltas.filter((delta) => delta.reply_to === question!.id).sort((a, b) => a.index - b.index);
  assert.ok(streamed.length > 1, "the reply arrives in several deltas");
  assert.equal(streamed.map((delta) => delta.text).join(""), reply!.content);

  const history = await client.rest.history(replica);
  assert.deepEqual(history.messages.slice().reverse(), [question, reply]);
});

test("two clients of one user see the same messages, whichever sends", async () => {
  const user = await newUser();
  const first = clientOf(user);
  const second = clientOf(user);
  open.push(first.client, second.client);
  await Promise.all([first.client.connect(), second.client.connect()]);
  const replica = await defaultReplica(first.client.rest);
  const stream = `chat:${replica}`;

  await first.client.sendChat(replica, "from the first tab");
  await until("both tabs have the first exchange", () =>
    [first, second].every(({ messages }) => inStream(messages, stream).length === 2),
  );
  await second.client.sendChat(replica, "from the second tab");
  await until("both tabs have the second exchange", () =>
    [first, second].every(({ messages }) => inStream(messages, stream).length === 4),
  );
  assert.deepEqual(first.messages, second.messages);
  assert.deepEqual(
    first.messages.map((message) => [message.seq, message.sender]),
    [[1, "user"], [2, "replica"], [3, "user"], [4, "replica"]],
  );
  assert.ok(second.deltas.some((delta) => delta.reply_to === first.messages[0]!.id), "the other tab sees the reply stream in");
});

test("send() rejects with the error the server answers for that frame, or a frame too large to send", async () => {
  const user = await newUser();
  const { client, messages } = clientOf(user);
  open.push(client);
  await client.connect();
  await assert.rejects(client.sendChat("no-such-replica", "hello?"), (error: unknown) => {
    assert.ok(error instanceof HubError);
    assert.equal(error.code, "replica_not_found");
    return true;
  });
  const limit = client.hello!.max_frame_bytes;
  await assert.rejects(client.sendChat("any", "x".repeat(limit)), { code: "frame_too_large" });
  assert.equal(client.unacknowledged.size, 0);
  assert.deepEqual(messages, []);
  assert.equal(client.state, "open", "nothing too large reached the server, which would have closed with 1009");
});

test("a room of two replicas: join, post, and both replicas answer in turn", async () => {
  const user = await newUser();
  const { client, messages } = clientOf(user);
  open.push(client);
  await client.connect();
  const { replicas } = await client.rest.replicas();
  const pair = replicas.slice(0, 2).map((replica) => replica.uuid);
  const room = await client.rest.createRoom({ name: "pair", replica_ids: pair, mode: "round_robin" });
  const turns: string[] = [];
  client.on("room", (event) => {
    if (event.type === "room.turns") turns.push(event.state);
  });

  const presence = await client.joinRoom(room.id);
  assert.deepEqual(presence.user_ids, [user.session().user.id]);
  const ack = await client.sendToRoom(room.id, "What do you both think?");
  const stream = `room:${room.id}`;
  await until("both replicas' answers", () => inStream(messages, stream).length === 3);
  await until("the run to end", () => turns.at(-1) === "idle");

  const posted = inStream(messages, stream);
  assert.deepEqual(posted.map((message) => message.seq), [ack.seq, ack.seq + 1, ack.seq + 2]);
  assert.deepEqual(new Set(posted.slice(1).map((message) => message.replica_id)), new Set(pair));
  const page = await client.rest.roomMessages(room.id);
  assert.deepEqual(page.messages.slice().reverse(), posted);
  await assert.rejects(client.joinRoom("00000000-0000-4000-8000-000000000000"), { code: "not_found" });
  client.leaveRoom(room.id);
  assert.equal(client.position(stream), undefined, "a left room is not resumed after a reconnect");
});

test("task changes made over REST arrive as change events", async () => {
  const user = await newUser();
  const { client } = clientOf(user);
  open.push(client);
  const changes: { op: string; description: unknown }[] = [];
  client.on("change", (change) => {
    if (change.table === "tasks") changes.push({ op: change.op, description: change.record?.description });
  });
  await client.connect();
  const task = await client.rest.createTask({ description: "buy milk" });
  await client.rest.updateTask(task.id, { status: "completed" });
  await until("two task changes", () => changes.length === 2);
  assert.deepEqual(changes, [
    { op: "INSERT", description: "buy milk" },
    { op: "UPDATE", description: "buy milk" },
  ]);
});
