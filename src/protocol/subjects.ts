/**
 * Subject builders. Every subject is `<prefix>.<kind>...`; every instance-originated subject
 * carries `<service>.<instance>` so that NATS permissions can confine a service to its own subjects.
 */

/** Letters, digits, `_` and `-`: never `.`, `*`, `>` or whitespace, so a name is always one subject token. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Default subject prefix. */
export const DEFAULT_PREFIX = "sb";

/** Queue group all coordinators share for registry requests. */
export const COORDINATOR_QUEUE = "sb-coordinators";

/** Queue group notifiers share for alert-list and silence requests (any notifier can answer: they share KV state). */
export const NOTIFIER_QUEUE = "sb-notifiers";

/** Thrown when a service, instance or endpoint name cannot be a subject token. */
export class InvalidNameError extends Error {
  override readonly name = "InvalidNameError";
}

/** True when `value` can be used as a single subject token. */
export function isToken(value: unknown): value is string {
  return typeof value === "string" && TOKEN_PATTERN.test(value);
}

/** Throws InvalidNameError unless `value` is a valid token; `what` names it in the message. */
export function assertToken(what: string, value: unknown): string {
  if (!isToken(value)) {
    throw new InvalidNameError(
      `invalid ${what} ${JSON.stringify(value)}: use 1-64 letters, digits, '_' or '-' (no '.', '*', '>' or whitespace)`,
    );
  }
  return value;
}

/** A prefix is one or more tokens joined by dots, e.g. `sb` or `prod.sb`. */
export function assertPrefix(prefix: string): string {
  if (!prefix.split(".").every((t) => TOKEN_PATTERN.test(t))) {
    throw new InvalidNameError(`invalid subject prefix ${JSON.stringify(prefix)}`);
  }
  return prefix;
}

/** The instance-originated event kinds, each published on `<prefix>.<kind>.<service>.<instance>`. */
export type InstanceEventKind = "announce" | "heartbeat" | "leave" | "metrics";

/** Builds the subjects of one Switchboard installation (one prefix). */
export class Subjects {
  /** Number of tokens in the prefix, to locate `<service>.<instance>` in a received subject. */
  readonly prefixTokens: number;

  constructor(readonly prefix: string = DEFAULT_PREFIX) {
    assertPrefix(prefix);
    this.prefixTokens = prefix.split(".").length;
  }

  /** `<prefix>.<kind>.<service>.<instance>` for an instance's own events. */
  instanceEvent(kind: InstanceEventKind, service: string, instance: string): string {
    return `${this.prefix}.${kind}.${assertToken("service", service)}.${assertToken("instance id", instance)}`;
  }
  /** Wildcard matching one kind of instance event from every instance. */
  allInstanceEvents(kind: InstanceEventKind): string {
    return `${this.prefix}.${kind}.*.*`;
  }
  /**
   * Extracts `<service>` and `<instance>` from a received instance-event subject, or null when
   * the subject does not have exactly that shape.
   */
  parseInstanceEvent(subject: string): { service: string; instance: string } | null {
    const tokens = subject.split(".");
    if (tokens.length !== this.prefixTokens + 3) return null;
    const service = tokens[this.prefixTokens + 1]!;
    const instance = tokens[this.prefixTokens + 2]!;
    return isToken(service) && isToken(instance) ? { service, instance } : null;
  }

  announce(service: string, instance: string): string {
    return this.instanceEvent("announce", service, instance);
  }
  heartbeat(service: string, instance: string): string {
    return this.instanceEvent("heartbeat", service, instance);
  }
  leave(service: string, instance: string): string {
    return this.instanceEvent("leave", service, instance);
  }
  metrics(service: string, instance: string): string {
    return this.instanceEvent("metrics", service, instance);
  }

  /** Coordinators ask every agent to re-announce here. */
  get sync(): string {
    return `${this.prefix}.sync`;
  }
  /** Registry query requests (queue group {@link COORDINATOR_QUEUE}). */
  get registryQuery(): string {
    return `${this.prefix}.registry.query`;
  }
  /** Registration requests from callers without an agent. */
  get registryRegister(): string {
    return `${this.prefix}.registry.register`;
  }
  /** Registry change events, published by the leading coordinator. */
  get registryEvents(): string {
    return `${this.prefix}.registry.events`;
  }

  /** Queue-group subject every instance of `service` serves `endpoint` on (the fallback path). */
  service(service: string, endpoint: string): string {
    return `${this.prefix}.svc.${assertToken("service", service)}.${assertToken("endpoint", endpoint)}`;
  }
  /** Subject only one instance serves `endpoint` on (the balanced path). */
  instance(service: string, instance: string, endpoint: string): string {
    return `${this.prefix}.inst.${assertToken("service", service)}.${assertToken("instance id", instance)}.${assertToken("endpoint", endpoint)}`;
  }
  /** Wildcard covering every endpoint of one instance. */
  allInstanceEndpoints(service: string, instance: string): string {
    return `${this.prefix}.inst.${assertToken("service", service)}.${assertToken("instance id", instance)}.*`;
  }

  /** Alert events: `<prefix>.alerts.<severity>.<service>`. */
  alert(severity: string, service: string): string {
    return `${this.prefix}.alerts.${assertToken("severity", severity)}.${assertToken("service", service)}`;
  }
  /** Every alert event (not acks). */
  get allAlerts(): string {
    return `${this.prefix}.alerts.*.*`;
  }
  /** Operator acknowledgements of alerts. */
  get alertAck(): string {
    return `${this.prefix}.alerts.ack`;
  }
  /** Requests for the alerts firing now, with their status (queue group {@link NOTIFIER_QUEUE}). */
  get alertList(): string {
    return `${this.prefix}.alerts.list`;
  }
  /** Silence requests: add, expire, list (queue group {@link NOTIFIER_QUEUE}). */
  get silences(): string {
    return `${this.prefix}.silences`;
  }
}
