/** The client: registry discovery (and, with the call path, balanced calls). */
export { RegistryCache, createRegistryCache } from "./registry/index.js";
export { queryRegistry, RegistryQueryError, type QueryRegistryOptions } from "./registry/index.js";
export type { CachedState, RegistryCacheChange, RegistryCacheOptions, RegistryCacheStats } from "./registry/index.js";
export { Client, createClient } from "./Client.js";
export { UnavailableError, TimeoutError, RemoteError, BadRequestError, BadReplyError, CallError, type AttemptRecord } from "./errors.js";
export type { CallOptions, CallCallback, ClientOptions, ClientStats, RetryEvent, GiveUpEvent, RegistrySource, RegistrySourceChange, Clock, Timers } from "./types.js";
export type { InstanceStateChange } from "./InstanceRouter.js";
export { CircuitBreaker, type BreakerOptions, type BreakerState, type BreakerStateChange, type BreakerCounters } from "./CircuitBreaker.js";
export { RetryPolicy, linearJitterDelay, isRetryableOutcome, type AttemptOutcome, type BackoffOptions, type RetryPolicyOptions } from "./RetryPolicy.js";
export { RetryBudget, type RetryBudgetOptions } from "./RetryBudget.js";
export { InstanceStats, type InstanceStatsOptions } from "./InstanceStats.js";
export type { Event, Disposable } from "../protocol/Event.js";
export { STRATEGY_NAMES, createStrategy, isStrategyName, type Candidate, type PickContext, type RandomSource, type Strategy, type StrategyName } from "./strategies/index.js";
export { PolicyWatcher, routesBucketName, type PolicyWatcherOptions, type PolicyWatcherStats } from "./policy/PolicyWatcher.js";
export { compilePolicy, decodePolicy, chooseSubset, InvalidPolicyError, MAX_POLICY_BYTES, type CompiledPolicy, type PolicySubset, type SubsetChoice } from "./policy/TrafficPolicy.js";
export type { PolicyCounter } from "./resolveCallOptions.js";
