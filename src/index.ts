/**
 * Switchboard: service coordination over NATS — the public API.
 *
 * This file is the chosen list of what applications use: the factories of the long-lived components
 * (agent, coordinator, client, registry cache, collector, mail notifier, console, gateway), their option, stats and
 * event types, the error classes a caller catches, and the wire message types generated from `schemas/`.
 * Every component follows one lifecycle: a synchronous `createX(options)`, then `await x.start()` (resolves to
 * the component) and `await x.stop()`.
 *
 * What the CLI, the tests and the benchmarks need besides (parsers, encoders, pure state machines, helpers)
 * lives in `switchboard/internal` (`src/internal.ts`) and may change in any release.
 * `test/unit/api-surface.test.ts` compares both lists with `api.txt` / `api-internal.txt`;
 * after a deliberate change run `npm run api:update` and commit the new snapshots.
 *
 * @packageDocumentation
 */

// ── Connection and wire protocol ──────────────────────────────────────────────────────────────────────────
/** Wire message types, generated from the JSON Schemas in `schemas/`. */
export type * from "./protocol/types.generated.js";
export {
  /** Opens a NATS connection from {@link NatsSettings} (servers, credentials, TLS). */
  connectNats,
  DEFAULT_NATS_URL,
  type NatsSettings,
  type NatsSource,
} from "./protocol/connection.js";
export {
  /** The subjects of one Switchboard deployment (one prefix). */
  Subjects,
  DEFAULT_PREFIX,
  InvalidNameError,
  type InstanceEventKind,
} from "./protocol/subjects.js";
export { ErrorCode, ServiceError, ERROR_CODE_HEADER, ERROR_MESSAGE_HEADER, DEADLINE_HEADER, CODEC_HEADER } from "./protocol/errors.js";
export { CodecError, EncodedBody, encoded, type Codec } from "./protocol/codecs/Codec.js";
export { jsonCodec, msgpackCodec, rawCodec, type BuiltinCodecName } from "./protocol/codecs/builtinCodecs.js";
export type { CodecSpec } from "./protocol/codecs/CodecSet.js";
export type { Logger } from "./protocol/logger.js";
/** Every reply a component sends goes through one (see {@link Agent.replies}): reply-subject policy and counters. */
export type { ReplyGuard, ReplyOutcome, ReplyStats } from "./protocol/ReplyGuard.js";

// ── Agent: what a service instance runs ───────────────────────────────────────────────────────────────────
export { createAgent, Agent } from "./agent/Agent.js";
export type { Endpoint, EndpointStats } from "./agent/EndpointServer.js";
export type { AgentOptions, DrainOptions, EndpointOptions, Handler, RequestContext, RequestObservation } from "./agent/types.js";
export {
  DEFAULT_LATENCY_BUCKETS_MS,
  type AgentMetricsApi,
  type UserMetricOptions,
  type UserHistogramOptions,
} from "./agent/metrics/index.js";

// ── Coordinator: the registry ─────────────────────────────────────────────────────────────────────────────
export { createCoordinator, Coordinator } from "./coordinator/Coordinator.js";
export { DEFAULT_REGISTRY_LIMITS, type RegistryLimitsOptions, type RegistryLimitName } from "./coordinator/RegistryLimits.js";
export type {
  ChangeReason,
  CoordinatorOptions,
  CoordinatorStats,
  HealthStatus,
  InstanceState,
  LeadershipChange,
  QueryTiming,
  RegistryChange,
  RegistryEntry,
  RegistryFilter,
  RegistryThresholds,
} from "./coordinator/types.js";

// ── Client: discovery and balanced calls ──────────────────────────────────────────────────────────────────
export { createClient, Client } from "./client/Client.js";
export {
  CallError,
  UnavailableError,
  TimeoutError,
  RemoteError,
  BadRequestError,
  BadReplyError,
  type AttemptRecord,
} from "./client/errors.js";
export type {
  CallOptions,
  CallCallback,
  ClientOptions,
  ClientStats,
  RetryEvent,
  GiveUpEvent,
  RegistrySource,
  RegistrySourceChange,
  Clock,
  Timers,
} from "./client/types.js";
export type { InstanceStateChange } from "./client/InstanceRouter.js";
export type { BreakerOptions, BreakerState, BreakerStateChange } from "./client/CircuitBreaker.js";
export type { BackoffOptions, RetryPolicyOptions } from "./client/RetryPolicy.js";
export type { RetryBudgetOptions } from "./client/RetryBudget.js";
export type { Event, Disposable } from "./protocol/Event.js";
export { STRATEGY_NAMES, type StrategyName } from "./client/strategies/index.js";
export {
  createRegistryCache,
  RegistryCache,
  queryRegistry,
  RegistryQueryError,
  type QueryRegistryOptions,
  type CachedState,
  type RegistryCacheChange,
  type RegistryCacheOptions,
  type RegistryCacheStats,
} from "./client/registry/index.js";

// ── Monitoring: collectors and alert rules ────────────────────────────────────────────────────────────────
export { createCollector } from "./monitor/Collector.js";
export { loadAlertRules, parseAlertRules, AlertRulesError } from "./monitor/AlertRules.js";
export type { AlertStreamOptions, Collector, CollectorOptions, CollectorStats } from "./monitor/types.js";

// ── Notifications: alert mail ─────────────────────────────────────────────────────────────────────────────
export { createMailNotifier } from "./notify/MailNotifier.js";
export type { GroupTimings, MailNotifier, MailNotifierOptions, NotifierStats, RouteConfig, SentMail, SmtpSettings } from "./notify/types.js";

// ── Console: the operator console in the browser ─────────────────────────────────────────────────────────
export { createConsole } from "./console/ConsoleServer.js";
export type { Console, ConsoleOptions } from "./console/types.js";

// ── Gateway: the seed's HTTP API ──────────────────────────────────────────────────────────────────────────
export { createGateway } from "./gateway/Gateway.js";
export type { Gateway, GatewayOptions, GatewayCaller, GatewayCallOptions, GatewayTlsOptions } from "./gateway/types.js";
export { RegistryUnavailableError, RegistryRequestError } from "./gateway/RegistryRequests.js";

// ── Bridge: HTTP-registered services on the bus ───────────────────────────────────────────────────────────
export { createHttpBridge, HttpBridge, BRIDGE_QUEUE } from "./bridge/HttpBridge.js";
export type { HttpBridgeOptions, HttpBridgeStats } from "./bridge/HttpBridge.js";
