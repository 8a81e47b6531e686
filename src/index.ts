/**
 * Switchboard: service coordination over NATS.
 * The package API: protocol, agent (services), coordinator (registry), client (discovery and calls),
 * monitor (metrics and alerts), notify (mail) and gateway (the seed's HTTP API).
 */
export * from "./protocol/index.js";
export * from "./agent/index.js";
export * from "./coordinator/index.js";
export * from "./client/index.js";
export * from "./monitor/index.js";
export * from "./notify/index.js";
export * from "./gateway/index.js";
