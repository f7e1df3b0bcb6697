/**
 * The sensay-hub client: `HubClient` (one WebSocket with reconnect, resume and acknowledged sends) and `HubRest`
 * (typed REST calls). Frame and REST types are generated from the hub's JSON Schema and OpenAPI documents.
 */
export {
  HubClient,
  type CloseInfo,
  type ConnectionState,
  type HubClientOptions,
  type HubEvents,
  type MessageAck,
  type RoomEvent,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./client.js";
export { HubApiError, HubError, type HubErrorCode, type Problem } from "./errors.js";
export { CLOSE_CODES, ERROR_CODES, PROTOCOL_VERSION, SUBPROTOCOL } from "./generated/codes.js";
export type * from "./generated/frames.js";
export type { components as RestSchemas, paths as RestPaths } from "./generated/openapi.js";
export { type BackoffOptions, reconnectDelay } from "./reconnect.js";
export {
  HubRest,
  type Answer,
  type ChatAnswer,
  type HubRestOptions,
  type MessagePage,
  type Page,
  type Replica,
  type Room,
  type RoomDetail,
  type RoomMode,
  type Session,
  type Task,
  type TaskStatus,
  type User,
} from "./rest.js";
export { Sequencer, type StoredMessage, resyncPositions } from "./sequencer.js";
export { tokenExpiry } from "./token.js";
