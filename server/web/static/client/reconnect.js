import { CLOSE_CODES } from "./generated/codes.js";
export const DEFAULT_BACKOFF = { initialDelayMs: 500, maxDelayMs: 30_000, jitterMs: 1_000 };
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
export function reconnectDelay(code, attempt, options = DEFAULT_BACKOFF, random = Math.random) {
    if (CLOSE_CODES[code]?.reconnect === false)
        return null;
    if (AT_ONCE.has(code) && attempt === 0)
        return random() * options.jitterMs;
    if (code === FLOODING)
        return options.maxDelayMs * (0.5 + random() / 2);
    return random() * Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** attempt);
}
