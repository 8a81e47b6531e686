/** The coordinator: the registry state machine and its NATS adapter (leadership, persistence, queries). */
export { Coordinator, createCoordinator } from "./Coordinator.js";
export type { HttpHealthCheckStats } from "./HttpHealthChecker.js";
export { RegistryStateMachine } from "./RegistryStateMachine.js";
export { isHeartbeat } from "./heartbeatCheck.js";
export { parseCanonicalHeartbeat, heartbeatFields, type HeartbeatFields } from "./HeartbeatParser.js";
export { encodeSnapshot, type SnapshotHeader } from "./SnapshotEncoder.js";
export { registrationId, registryBucketName, leaseBucketName, REGISTRATION_NAMESPACE } from "./names.js";
export { instanceKey } from "./RegistryStore.js";
export { RegistryLimits, DEFAULT_REGISTRY_LIMITS, type RegistryLimitsOptions, type RegistryLimitName, type LimitExceeded } from "./RegistryLimits.js";
export { judgeLeaderEvent, MAX_REVISION_JUMP, type LeaderEventVerdict, type LeaderKnowledge } from "./LeaderEventCheck.js";
export type {
  ChangeReason,
  CoordinatorOptions,
  CoordinatorStats,
  HealthStatus,
  HeartbeatResult,
  InstanceState,
  LeadershipChange,
  LoadedInstance,
  QueryTiming,
  RegistryChange,
  RegistryEntry,
  RegistryFilter,
  RegistryThresholds,
} from "./types.js";
