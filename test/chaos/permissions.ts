/**
 * The least-privilege NATS permission set of a Switchboard installation: one user per role (agent of
 * service S, caller, coordinator, collector, notifier, gateway), each allowed exactly the subjects its
 * component uses, with a private reply inbox (`_INBOX_<user>.>`, the component's `inboxPrefix`) and
 * bounded `allow_responses`. Generated here, tested against real nats-servers (test/security/roles.test.ts,
 * test/chaos/security.test.ts), shown verbatim in docs/OPERATIONS.md and shipped as deploy/nats-auth.conf
 * for docker-compose (test/unit/operations-doc.test.ts and test/unit/compose.test.ts compare them).
 */

/** Passwords of the example users (test-only secrets; deploy/nats-auth.conf says to change them). */
export const PASSWORDS = {
  admin: "admin-secret",
  coordinator: "coordinator-secret",
  collector: "collector-secret",
  notifier: "notifier-secret",
  gateway: "gateway-secret",
  orders: "orders-secret",
  billing: "billing-secret",
  web: "web-secret",
} as const;

/** The users of the example: infrastructure roles, two services and a caller. */
export type ExampleUser = keyof typeof PASSWORDS;

/** `_INBOX_<user>`: the inbox prefix a user's connection must use (NatsSettings.inboxPrefix). */
export function inboxPrefixFor(user: string): string {
  return `_INBOX_${user}`;
}

const list = (subjects: string[]) => `[${subjects.map((s) => JSON.stringify(s)).join(", ")}]`;
const bucketBase = (prefix: string) => prefix.replace(/\./g, "_");

/**
 * JetStream API subjects to use (create, read, watch, write) the KV buckets `buckets` — never to purge or
 * delete them, nor to touch any other stream.
 */
function kvAccess(buckets: string[]): string[] {
  return buckets.flatMap((b) => [
    `$JS.API.STREAM.INFO.KV_${b}`,
    `$JS.API.STREAM.CREATE.KV_${b}`,
    `$JS.API.STREAM.MSG.GET.KV_${b}`,
    `$JS.API.DIRECT.GET.KV_${b}.>`,
    `$JS.API.CONSUMER.CREATE.KV_${b}`,
    `$JS.API.CONSUMER.CREATE.KV_${b}.>`,
    `$JS.API.CONSUMER.DELETE.KV_${b}.>`,
    `$JS.API.CONSUMER.INFO.KV_${b}.>`,
    `$JS.FC.KV_${b}.>`,
    `$KV.${b}.>`,
  ]);
}

/** Read-only access to the KV bucket `bucket`: get, watch (an ordered consumer on the reader's inbox), no `$KV.` publish. */
function kvRead(bucket: string): string[] {
  const b = `KV_${bucket}`;
  return [`$JS.API.STREAM.INFO.${b}`, `$JS.API.STREAM.MSG.GET.${b}`, `$JS.API.DIRECT.GET.${b}.>`, `$JS.API.CONSUMER.CREATE.${b}`, `$JS.API.CONSUMER.CREATE.${b}.>`, `$JS.API.CONSUMER.DELETE.${b}.>`, `$JS.API.CONSUMER.INFO.${b}.>`, `$JS.FC.${b}.>`];
}

/**
 * What every registry cache reads: the coordinators' lease (a snapshot or event must come from the leader
 * holding the current lease) and, for clients that call, the traffic policies (`<prefix>_routes`, written
 * only by operators with `switchboard route set`). Readers cannot write either.
 */
function leaseRead(prefix: string): string[] {
  return ["$JS.API.INFO", ...kvRead(`${bucketBase(prefix)}_coordinator_lease`)];
}
function callerKvRead(prefix: string): string[] {
  return [...leaseRead(prefix), ...kvRead(`${bucketBase(prefix)}_routes`)];
}

/** JetStream API subjects to create and read the alert stream `stream` and consume it with durable consumers. */
function streamAccess(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.CREATE.${stream}`,
    `$JS.API.CONSUMER.INFO.${stream}.>`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.UPDATE.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
    `$JS.ACK.${stream}.>`,
  ];
}

/**
 * Responses only to requests received, at most `max` messages per request, within `expires`: a
 * compromised responder cannot keep a requester's reply subject open.
 */
const responses = (max: number, expires: string) => `allow_responses: { max: ${max}, expires: "${expires}" }`;

/**
 * An agent of `service`: publish only its own instance events; serve only its own `inst`/`svc` subjects;
 * hear `sync` and the micro discovery requests; answer each request it receives once, within a minute.
 */
export function servicePermissions(prefix: string, service: string): string {
  return `{
      publish: { allow: ${list([`${prefix}.announce.${service}.>`, `${prefix}.heartbeat.${service}.>`, `${prefix}.leave.${service}.>`, `${prefix}.metrics.${service}.>`])} }
      subscribe: { allow: ${list([`${prefix}.inst.${service}.>`, `${prefix}.svc.${service}.>`, `${prefix}.sync`, "$SRV.*", `$SRV.*.${service}`, `$SRV.*.${service}.>`])} }
      ${responses(1, "1m")}
    }`;
}

/**
 * A caller (a client without an agent): request any service's endpoints, query and watch the registry,
 * receive replies on its own inboxes only. It publishes no instance event and answers nothing.
 */
export function callerPermissions(prefix: string, user: string): string {
  return `{
      publish: { allow: ${list([`${prefix}.inst.>`, `${prefix}.svc.>`, `${prefix}.registry.query`, ...callerKvRead(prefix)])} }
      subscribe: { allow: ${list([`${inboxPrefixFor(user)}.>`, `${prefix}.registry.events`])} }
    }`;
}

/**
 * A coordinator: hear instance events and registry requests, publish registry events and `sync`, use its
 * two KV buckets (never purge or delete them), answer each query with up to 64 snapshot parts.
 */
export function coordinatorPermissions(prefix: string, user = "coordinator"): string {
  const b = bucketBase(prefix);
  return `{
      publish: { allow: ${list([`${prefix}.registry.events`, `${prefix}.sync`, "$JS.API.INFO", ...kvAccess([`${b}_registry`, `${b}_coordinator_lease`])])} }
      subscribe: { allow: ${list([`${prefix}.announce.*.*`, `${prefix}.heartbeat.*.*`, `${prefix}.leave.*.*`, `${prefix}.registry.events`, `${prefix}.registry.query`, `${prefix}.registry.register`, `${inboxPrefixFor(user)}.>`])} }
      ${responses(64, "10s")}
    }`;
}

/**
 * A collector: hear metrics, registry events and monitor queries; store alert transitions in the alert
 * stream (created if missing) and firing alerts in its KV bucket.
 */
export function collectorPermissions(prefix: string, user = "collector"): string {
  const b = bucketBase(prefix);
  return `{
      publish: { allow: ${list([`${prefix}.alerts.*.*`, `${prefix}.registry.query`, ...leaseRead(prefix), ...streamAccess(`${b}_alerts`), ...kvAccess([`${b}_alert_state`])])} }
      subscribe: { allow: ${list([`${prefix}.metrics.*.*`, `${prefix}.registry.events`, `${prefix}.monitor.query`, `${inboxPrefixFor(user)}.>`])} }
      ${responses(1, "10s")}
    }`;
}

/** A notifier: consume the alert stream through its durable consumer, keep its two KV buckets, answer acks. */
export function notifierPermissions(prefix: string, user = "notifier"): string {
  const b = bucketBase(prefix);
  return `{
      publish: { allow: ${list(["$JS.API.INFO", ...streamAccess(`${b}_alerts`), ...kvAccess([`${b}_notify_sent`, `${b}_notify_state`])])} }
      subscribe: { allow: ${list([`${prefix}.alerts.ack`, `${prefix}.alerts.*.*`, `${inboxPrefixFor(user)}.>`])} }
      ${responses(1, "10s")}
    }`;
}

/** The HTTP gateway: a caller that also registers instances without an agent. */
export function gatewayPermissions(prefix: string, user = "gateway"): string {
  return `{
      publish: { allow: ${list([`${prefix}.inst.>`, `${prefix}.svc.>`, `${prefix}.registry.query`, `${prefix}.registry.register`, ...callerKvRead(prefix)])} }
      subscribe: { allow: ${list([`${inboxPrefixFor(user)}.>`, `${prefix}.registry.events`])} }
    }`;
}

/** The `authorization` block of the example: every role, two services (`orders`, `billing`) and a caller (`web`). */
export function authorizationConfig(prefix = "sb", services: readonly string[] = ["orders", "billing"], callers: readonly string[] = ["web"]): string {
  const pw = (user: string) => (PASSWORDS as Record<string, string>)[user] ?? `${user}-secret`;
  const users = [
    // Operators (and tests' observers): everything. Give it to people, not to components.
    `{ user: "admin", password: "${pw("admin")}" }`,
    `{ user: "coordinator", password: "${pw("coordinator")}", permissions: ${coordinatorPermissions(prefix)} }`,
    `{ user: "collector", password: "${pw("collector")}", permissions: ${collectorPermissions(prefix)} }`,
    `{ user: "notifier", password: "${pw("notifier")}", permissions: ${notifierPermissions(prefix)} }`,
    `{ user: "gateway", password: "${pw("gateway")}", permissions: ${gatewayPermissions(prefix)} }`,
    ...services.map((s) => `{ user: "${s}", password: "${pw(s)}", permissions: ${servicePermissions(prefix, s)} }`),
    ...callers.map((c) => `{ user: "${c}", password: "${pw(c)}", permissions: ${callerPermissions(prefix, c)} }`),
  ];
  return `authorization {
  users = [
    ${users.join("\n    ")}
  ]
}`;
}
