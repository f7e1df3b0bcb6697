import type { ErrorCode, ErrorFrame } from "./generated/frames.js";

/** Why a `send()` (or another request on the socket) failed: the server's error code, or one of the client's own. */
export type HubErrorCode = ErrorCode | "client_closed" | "frame_too_large";

/** A failed socket request: an `error` frame of the server, or the client giving up on it. */
export class HubError extends Error {
  override readonly name = "HubError";

  constructor(
    readonly code: HubErrorCode,
    message: string,
    /** Whether sending the same frame again later makes sense. */
    readonly retryable = false,
    /** The stream the error is about, when it is about one (e.g. `resume_unavailable`). */
    readonly stream?: string,
  ) {
    super(message);
  }

  /** The error an `error` frame describes. */
  static fromFrame(frame: ErrorFrame): HubError {
    return new HubError(frame.code, frame.message, frame.retryable ?? false, frame.stream ?? undefined);
  }
}

/** An RFC 9457 problem document, as every failed REST call answers. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  [extra: string]: unknown;
}

/** A REST call that did not succeed: `status` and the problem's `code` (the same vocabulary as the socket's) say why. */
export class HubApiError extends Error {
  override readonly name = "HubApiError";

  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly problem?: Problem,
  ) {
    super(message);
  }
}
