/** Agent metrics: automatic per-endpoint recording, user metrics, periodic snapshots. */
export { AgentMetrics } from "./AgentMetrics.js";
export { MetricsPublisher, type MetricsPublisherDeps } from "./MetricsPublisher.js";
export { DEFAULT_LATENCY_BUCKETS_MS, type AgentMetricsApi, type UserMetricOptions, type UserHistogramOptions } from "./types.js";
