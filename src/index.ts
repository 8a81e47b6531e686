/**
 * Switchboard: service coordination over NATS.
 * The package API: protocol, agent (services), coordinator (registry), client (discovery and calls),
 * monitor (metrics and alerts) and notify (mail).
 */
export * from "./protocol/index.js";
export * from "./agent/index.js";
export * from "./coordinator/index.js";
export * from "./client/index.js";
export * from "./monitor/index.js";
export * from "./notify/index.js";
