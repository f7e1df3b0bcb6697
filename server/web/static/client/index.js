/**
 * The sensay-hub client: `HubClient` (one WebSocket with reconnect, resume and acknowledged sends) and `HubRest`
 * (typed REST calls). Frame and REST types are generated from the hub's JSON Schema and OpenAPI documents.
 */
export { HubClient, } from "./client.js";
export { HubApiError, HubError } from "./errors.js";
export { CLOSE_CODES, ERROR_CODES, PROTOCOL_VERSION, SUBPROTOCOL } from "./generated/codes.js";
export { reconnectDelay } from "./reconnect.js";
export { HubRest, } from "./rest.js";
export { Sequencer, resyncPositions } from "./sequencer.js";
export { tokenExpiry } from "./token.js";
