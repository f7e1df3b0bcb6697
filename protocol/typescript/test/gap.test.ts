// Run against a hub where tests/frontend stored SEED_COUNT messages in the chat of SEED_EMAIL with SEED_REPLICA:
// more than the server replays on `resume`, so the client must fetch the gap over REST.
import assert from "node:assert/strict";
import { test } from "node:test";

import { HubRest } from "../src/index.js";
import { HUB_URL, PASSWORD, clientOf, inStream, until } from "./harness.js";

const { SEED_EMAIL = "", SEED_REPLICA = "", SEED_COUNT = "0" } = process.env;

test("when the server cannot replay a gap, the client fetches it over REST and delivers it once, in order", async () => {
  const session = await new HubRest({ url: HUB_URL }).logIn(SEED_EMAIL, PASSWORD);
  const { client, messages } = clientOf({ getToken: async () => session.access_token });
  const errors: unknown[] = [];
  client.on("error", (error) => errors.push(error));
  const stream = `chat:${SEED_REPLICA}`;
  const count = Number(SEED_COUNT);
  assert.ok(count > 500, "the seeded gap is larger than the server replays");

  client.follow(stream, 1); // e.g. a position restored from storage, long behind
  try {
    await client.connect();
    await until("the whole gap", () => inStream(messages, stream).length === count - 1, 30_000);
    assert.deepEqual(
      inStream(messages, stream).map((message) => message.seq),
      Array.from({ length: count - 1 }, (_, i) => i + 2),
    );
    assert.equal(client.position(stream), count);

    await client.sendChat(SEED_REPLICA, "and now live again");
    await until("the live exchange", () => inStream(messages, stream).length === count + 1);
    assert.deepEqual(inStream(messages, stream).slice(-2).map((message) => message.seq), [count + 1, count + 2]);
    assert.deepEqual(errors, []);
  } finally {
    client.close();
  }
});
