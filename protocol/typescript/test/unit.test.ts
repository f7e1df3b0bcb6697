// The client's pure parts, without a server.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  type ResyncFrame,
  Sequencer,
  type StoredMessage,
  reconnectDelay,
  resyncPositions,
  tokenExpiry,
} from "../src/index.js";

const message = (stream: string, seq: number): StoredMessage => ({
  id: `${stream}/${seq}`,
  stream,
  seq,
  sender: "user",
  content: String(seq),
  created_at: "2025-01-01T00:00:00Z",
});
const seqs = (messages: StoredMessage[]) => messages.map((m) => m.seq);

test("the sequencer delivers each seq once, in order, holding what comes after a hole", () => {
  const sequencer = new Sequencer();
  assert.deepEqual(seqs(sequencer.offer(message("chat:a", 5))), [5], "a new stream starts where it is first seen");
  assert.deepEqual(seqs(sequencer.offer(message("chat:a", 5))), [], "a duplicate is dropped");
  assert.deepEqual(seqs(sequencer.offer(message("chat:a", 7))), [], "7 waits for 6");
  assert.equal(sequencer.hasHole("chat:a"), true);
  assert.deepEqual(seqs(sequencer.offer(message("chat:a", 6))), [6, 7]);
  assert.equal(sequencer.hasHole("chat:a"), false);
  assert.deepEqual(sequencer.positions(), { "chat:a": 7 });
  sequencer.offer(message("chat:a", 9));
  assert.deepEqual(seqs(sequencer.skipHoles("chat:a")), [9]);
  assert.equal(sequencer.position("chat:a"), 9);
  sequencer.forget("chat:a");
  assert.deepEqual(sequencer.positions(), {}, "a forgotten stream is not resumed");
});

test("setting a stream's position drops older messages and releases held newer ones", () => {
  const sequencer = new Sequencer();
  assert.deepEqual(sequencer.setPosition("room:r", 10), []);
  assert.deepEqual(seqs(sequencer.offer(message("room:r", 9))), []);
  assert.deepEqual(seqs(sequencer.offer(message("room:r", 13))), []);
  assert.deepEqual(seqs(sequencer.setPosition("room:r", 12)), [13]);
});

test("a resync resumes the followed streams it names, and every chat stream when all_chats", () => {
  const positions = { "chat:a": 3, "chat:b": 1, "room:r": 7, "room:s": 2 };
  const broker: ResyncFrame = { type: "resync", reason: "broker reconnected", tables: [] };
  assert.deepEqual(resyncPositions(positions, { ...broker, streams: ["room:r", "room:x"] }), { "room:r": 7 });
  assert.deepEqual(resyncPositions(positions, { ...broker, streams: ["room:s"], all_chats: true }), {
    "chat:a": 3,
    "chat:b": 1,
    "room:s": 2,
  });
  const feed: ResyncFrame = { type: "resync", reason: "change feed reconnected", tables: ["tasks"] };
  assert.deepEqual(resyncPositions(positions, feed), {}, "a change-feed gap is re-fetched over REST, not resumed");
});

test("a resync resumes from the seq it names when that is below our own position", () => {
  // During the gap this socket got room:r 9 but never 8: the server names 7, the last seq before the gap.
  const positions = { "chat:a": 5, "room:r": 9, "room:s": 2 };
  const frame: ResyncFrame = {
    type: "resync",
    reason: "broker reconnected",
    tables: [],
    streams: ["room:r", "room:s"],
    all_chats: true,
    resume_from: { "room:r": 7, "chat:a": 5, "room:s": 4 },
  };
  assert.deepEqual(resyncPositions(positions, frame), { "chat:a": 5, "room:r": 7, "room:s": 2 });
});

test("reconnect delays follow the close-code table", () => {
  const options = { initialDelayMs: 500, maxDelayMs: 30_000, jitterMs: 1_000 };
  const high = () => 0.999;
  for (const final of [1000, 4000, 4001, 4003]) assert.equal(reconnectDelay(final, 0, options, high), null, `${final}`);
  for (const atOnce of [1011, 1012, 4008]) {
    assert.ok(reconnectDelay(atOnce, 0, options, high)! < 1_000, `${atOnce} comes back at once, with jitter`);
    assert.ok(reconnectDelay(atOnce, 3, options, high)! > 1_000, `${atOnce} backs off when reconnecting keeps failing`);
  }
  assert.ok(reconnectDelay(4009, 0, options, () => 0)! >= 15_000, "flooding waits long");
  const growing = [0, 1, 2, 3, 10].map((attempt) => reconnectDelay(1006, attempt, options, high)!);
  assert.deepEqual(growing.map(Math.round), [500, 999, 1998, 3996, 29970]);
  assert.equal(reconnectDelay(1006, 2, options, () => 0), 0, "full jitter reaches down to zero");
});

test("tokenExpiry reads a JWT's exp claim, and nothing from what is no JWT", () => {
  const payload = Buffer.from(JSON.stringify({ sub: "u", exp: 1_700_000_000 })).toString("base64url");
  assert.equal(tokenExpiry(`e30.${payload}.sig`), 1_700_000_000_000);
  assert.equal(tokenExpiry("not-a-jwt"), undefined);
  assert.equal(tokenExpiry("a.!!!.c"), undefined);
});
