/** The coordinator: the registry state machine and its NATS adapter (leadership, persistence, queries). */
export { RegistryStateMachine } from "./RegistryStateMachine.js";
export type {
  ChangeReason,
  HealthStatus,
  HeartbeatResult,
  InstanceState,
  LoadedInstance,
  RegistryChange,
  RegistryEntry,
  RegistryFilter,
  RegistryThresholds,
} from "./types.js";
