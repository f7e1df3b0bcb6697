/** A failed socket request: an `error` frame of the server, or the client giving up on it. */
export class HubError extends Error {
    code;
    retryable;
    stream;
    name = "HubError";
    constructor(code, message, 
    /** Whether sending the same frame again later makes sense. */
    retryable = false, 
    /** The stream the error is about, when it is about one (e.g. `resume_unavailable`). */
    stream) {
        super(message);
        this.code = code;
        this.retryable = retryable;
        this.stream = stream;
    }
    /** The error an `error` frame describes. */
    static fromFrame(frame) {
        return new HubError(frame.code, frame.message, frame.retryable ?? false, frame.stream ?? undefined);
    }
}
/** A REST call that did not succeed: `status` and the problem's `code` (the same vocabulary as the socket's) say why. */
export class HubApiError extends Error {
    status;
    code;
    problem;
    name = "HubApiError";
    constructor(status, code, message, problem) {
        super(message);
        this.status = status;
        this.code = code;
        this.problem = problem;
    }
}
