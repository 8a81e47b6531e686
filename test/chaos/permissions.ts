/**
 * The subject-permission example of the security chaos test: NATS users for the Switchboard
 * infrastructure, for services (each confined to its own subjects) and for callers. Kept identical
 * in content to the example in docs/OPERATIONS.md.
 */

/** Passwords of the example users (test-only secrets). */
export const PASSWORDS = {
  switchboard: "switchboard-secret",
  orders: "orders-secret",
  billing: "billing-secret",
  web: "web-secret",
} as const;

/**
 * Permissions of one service's user: publish only its own instance events, serve only its own
 * subjects, hear `sync` and the micro discovery requests, and answer the requests it receives
 * (`allow_responses`: only the reply subject of a request it got, once).
 */
export function servicePermissions(prefix: string, service: string): string {
  return `{
      publish: { allow: ["${prefix}.announce.${service}.>", "${prefix}.heartbeat.${service}.>", "${prefix}.leave.${service}.>", "${prefix}.metrics.${service}.>"] }
      subscribe: { allow: ["${prefix}.inst.${service}.>", "${prefix}.svc.${service}.>", "${prefix}.sync", "$SRV.*", "$SRV.*.${service}", "$SRV.*.${service}.>"] }
      allow_responses: true
    }`;
}

/**
 * Permissions of a caller (a client without an agent): request any service's endpoints, query and
 * watch the registry, read the coordinators' leadership lease (to verify registry state), receive
 * replies on its inboxes. It can publish no instance event.
 */
export function callerPermissions(prefix: string): string {
  const leaseStream = `KV_${prefix.replace(/\./g, "_")}_coordinator_lease`;
  return `{
      publish: { allow: ["${prefix}.inst.>", "${prefix}.svc.>", "${prefix}.registry.query", "$JS.API.STREAM.MSG.GET.${leaseStream}"] }
      subscribe: { allow: ["_INBOX.>", "${prefix}.registry.events"] }
    }`;
}

/** The `authorization` block: `switchboard` (coordinators, collectors, notifiers) may do anything. */
export function authorizationConfig(prefix = "sb"): string {
  return `authorization {
  users = [
    { user: "switchboard", password: "${PASSWORDS.switchboard}" }
    { user: "orders", password: "${PASSWORDS.orders}", permissions: ${servicePermissions(prefix, "orders")} }
    { user: "billing", password: "${PASSWORDS.billing}", permissions: ${servicePermissions(prefix, "billing")} }
    { user: "web", password: "${PASSWORDS.web}", permissions: ${callerPermissions(prefix)} }
  ]
}`;
}
