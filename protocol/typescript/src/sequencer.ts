import type { MessageFrame, ResyncFrame } from "./generated/frames.js";

/** A stored chat or room message, the same object in frames, replays and REST answers. */
export type StoredMessage = MessageFrame["message"];

interface StreamState {
  /** The highest seq delivered to the application. */
  last: number;
  /** Messages past a missing seq, held until the hole is filled. */
  held: Map<number, StoredMessage>;
}

/**
 * Orders the messages of every stream by `seq` and lets each through once.
 *
 * A message at or below the stream's position is a duplicate (a replay overlapping live delivery, a second copy
 * after a reconnect) and is dropped. A message past a hole is held until the hole is filled (by live delivery, a
 * `resume` replay or a REST fetch) or given up on with `skipHoles()`. Pure bookkeeping: no I/O and no timers.
 */
export class Sequencer {
  readonly #streams = new Map<string, StreamState>();

  /** The last seq delivered per stream: what a `resume` frame asks the server to continue from. */
  positions(): Record<string, number> {
    return Object.fromEntries([...this.#streams].map(([stream, state]) => [stream, state.last]));
  }

  /** The last seq delivered in `stream`, `undefined` if the stream was never seen. */
  position(stream: string): number | undefined {
    return this.#streams.get(stream)?.last;
  }

  /** Start (or move) `stream` at `seq`: later messages are delivered, earlier ones dropped. */
  setPosition(stream: string, seq: number): StoredMessage[] {
    const state = this.#streams.get(stream);
    if (state === undefined) {
      this.#streams.set(stream, { last: seq, held: new Map() });
      return [];
    }
    state.last = seq;
    for (const held of state.held.keys()) if (held <= seq) state.held.delete(held);
    return this.#release(state);
  }

  /**
   * Offer a received message; returns what may now be delivered, in order (possibly nothing).
   * The first message of a stream never seen before starts it: there is nothing before it to wait for.
   */
  offer(message: StoredMessage): StoredMessage[] {
    let state = this.#streams.get(message.stream);
    if (state === undefined) {
      state = { last: message.seq - 1, held: new Map() };
      this.#streams.set(message.stream, state);
    }
    if (message.seq <= state.last) return [];
    state.held.set(message.seq, message);
    return this.#release(state);
  }

  /** Stop following `stream`: it leaves `positions()`, and a message of it later starts it anew. */
  forget(stream: string): void {
    this.#streams.delete(stream);
  }

  /** Whether `stream` holds messages behind a missing seq. */
  hasHole(stream: string): boolean {
    return (this.#streams.get(stream)?.held.size ?? 0) > 0;
  }

  /** Give up on the holes of `stream`: deliver what it holds, in order. */
  skipHoles(stream: string): StoredMessage[] {
    const state = this.#streams.get(stream);
    if (state === undefined) return [];
    const out = [...state.held.values()].sort((a, b) => a.seq - b.seq);
    state.held.clear();
    if (out.length) state.last = out[out.length - 1]!.seq;
    return out;
  }

  #release(state: StreamState): StoredMessage[] {
    const out: StoredMessage[] = [];
    for (let next = state.held.get(state.last + 1); next !== undefined; next = state.held.get(state.last + 1)) {
      state.held.delete(next.seq);
      state.last = next.seq;
      out.push(next);
    }
    return out;
  }
}

/**
 * What a `resync` frame asks to resume: the followed streams it names, and every followed chat stream when
 * `all_chats` (the broker between the hub's processes may have lost their live frames), each from the seq
 * `resume_from` names for it (the last one the socket got before the gap: what came during the gap may have holes
 * under it) when that is lower than our own position.
 */
export function resyncPositions(positions: Record<string, number>, frame: ResyncFrame): Record<string, number> {
  const named = new Set(frame.streams ?? []);
  const from = frame.resume_from ?? {};
  return Object.fromEntries(
    Object.entries(positions)
      .filter(([stream]) => named.has(stream) || (frame.all_chats && stream.startsWith("chat:")) || stream in from)
      .map(([stream, last]) => [stream, Math.min(last, from[stream] ?? last)]),
  );
}
