/** The Switchboard agent: what a service instance runs to be discovered, monitored and called. */
export { Agent, createAgent } from "./Agent.js";
export type { Endpoint, EndpointStats } from "./EndpointServer.js";
export type { AgentOptions, DrainOptions, EndpointOptions, Handler, RequestContext, RequestObservation } from "./types.js";
export { DEFAULT_LATENCY_BUCKETS_MS, type AgentMetricsApi, type UserMetricOptions, type UserHistogramOptions } from "./metrics/index.js";
