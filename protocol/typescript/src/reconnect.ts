import { CLOSE_CODES } from "./generated/codes.js";

/** How long to wait between connection attempts. */
export interface BackoffOptions {
  /** Cap of the first retry's random delay; doubles with every failed attempt (default 500 ms). */
  initialDelayMs?: number;
  /** Largest delay, also the order of the wait after 4009 (default 30 s). */
  maxDelayMs?: number;
  /** Spread of the "at once" reconnect after a restart (1012), a server failure (1011) or a slow consumer (4008) (default 1 s). */
  jitterMs?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = { initialDelayMs: 500, maxDelayMs: 30_000, jitterMs: 1_000 };

/** Close codes after which a client that was connected comes back at once (with jitter, so a restart is no stampede). */
const AT_ONCE = new Set([1011, 1012, 4008]);
const FLOODING = 4009;

/**
 * The delay before the next connection attempt after the socket closed with `code`, or `null` to stay closed.
 *
 * Follows the server's close-code table (`protocol/codes.py`): never after the codes it marks as final (1000, 4000,
 * 4001 and 4003: a bad or revoked token does not get better by retrying it). `attempt` counts the attempts since the
 * last connection that reached `hello`; the delay is "full jitter" exponential backoff.
 */
export function reconnectDelay(
  code: number,
  attempt: number,
  options: Required<BackoffOptions> = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number | null {
  if (CLOSE_CODES[code]?.reconnect === false) return null;
  if (AT_ONCE.has(code) && attempt === 0) return random() * options.jitterMs;
  if (code === FLOODING) return options.maxDelayMs * (0.5 + random() / 2);
  return random() * Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** attempt);
}
