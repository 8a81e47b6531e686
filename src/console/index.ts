/** The operator console: an HTTP server with a live page, a JSON API and Server-Sent Events, fed from NATS. */
export { createConsole } from "./ConsoleServer.js";
export type { Console, ConsoleOptions } from "./types.js";
