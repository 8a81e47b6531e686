/**
 * Property-based fuzzing of every message schema through `decodeMessage`, the one gate every
 * subscriber passes untrusted bytes through: random bytes, valid messages mutated at any depth
 * (field dropped, retyped, replaced by anything, unknown field added, truncated), oversized bodies.
 * It never throws, it accepts exactly what the compiled schema accepts, and it refuses with a reason
 * and a message that names the kind.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SCHEMA_DIR, decodeWith, encodeJson, validatorFor } from "../../src/protocol/index.js";
import { DELETE, mutation, nasty, protocolExamples, setAt } from "./mutations.js";

/** One valid message per schema: the examples docs/PROTOCOL.md validates, plus the internal kinds. */
const seeds = protocolExamples();
const aView = (seeds.get("registry-snapshot") as { instances: unknown[] }).instances[0];
seeds.set("persisted-instance", { v: 1, view: aView, ttlMs: 30_000 });
seeds.set("coordinator-lease", { v: 1, coordinator: "coord-1", revision: 42, at: 1_700_000_000_000 });
seeds.set("monitor-snapshot", { v: 1, collector: "collector-1", at: 1_700_000_000_000, windowMs: 60_000, received: 10, invalid: { metrics: 2 }, services: [], alerts: [] });
seeds.set("alert-rules", {
  rules: [{ name: "Errors", service: "*", metric: "error_rate", op: ">", threshold: 0.05, for: "30s", window: "1m", severity: "critical", labels: { team: "a" } }],
});
seeds.set("config", { v: 1, prefix: "prod.sb", nats: { servers: ["nats://127.0.0.1:4222"] }, smtp: { host: "mail", port: 25 }, coordinator: { id: "c1" }, gateway: { port: 8080 } });

// The gateway's HTTP bodies and the routing policy stored in KV: hostile input like every NATS message.
seeds.set("gateway-register", {
  serviceName: "billing",
  serviceAddress: "http://127.0.0.1:8080",
  ttlMs: 30_000,
  version: "1.2.0",
  tags: ["http"],
  endpoints: ["invoice"],
  weight: 1,
  healthCheck: { path: "/health", intervalMs: 1000, timeoutMs: 500 },
});
seeds.set("gateway-deregister", { serviceName: "billing", serviceAddress: "http://127.0.0.1:8080" });
seeds.set("gateway-query", { serviceName: "billing", all: "true" });
seeds.set("gateway-query-reply", {
  serviceName: "billing",
  serviceAddress: "http://127.0.0.1:8080",
  instances: [{ id: "b1", serviceAddress: "http://127.0.0.1:8080", state: "up", status: "ok", version: "1.2.0", endpoints: ["invoice"] }],
});
seeds.set("gateway-call-options", { idempotent: true, strategy: "consistent-hash", key: "k1", timeoutMs: 500, deadlineMs: 2000 });
seeds.set("gateway-call-query", { idempotent: "true", strategy: "round-robin", key: "k1", timeoutMs: "500", deadlineMs: "2000" });
seeds.set("gateway-call", { service: "billing", endpoint: "invoice", request: { amount: 3 }, options: { idempotent: true } });
seeds.set("gateway-failures", { service: "billing", endpoint: "invoice", request: { amount: 3 }, probeTimeoutMs: 500, deadlineMs: 20_000 });
seeds.set("gateway-failures-reply", { status: "success", response: { ok: 1 }, attempts: [{ attempt: 0, ok: true, elapsedMs: 3 }] });
seeds.set("gateway-metrics", {
  serviceName: "billing",
  instance: "b1",
  intervalMs: 5000,
  metrics: [{ name: "jobs_total", type: "counter", value: 3, labels: { queue: "a" } }],
});
seeds.set("gateway-alert", { alert: { name: "DiskFull", service: "billing", severity: "critical", summary: "disk full" }, email: ["oncall@example.com"] });
seeds.set("gateway-error", { status: "error", code: "NOT_FOUND", message: "no such service" });
seeds.set("gateway-status", { status: "success" });
seeds.set("routing-policy", {
  v: 1,
  service: "billing",
  subsets: [
    { name: "stable", version: "1.x", weight: 95 },
    { name: "canary", version: "2.0.0-canary", weight: 5 },
  ],
  overrides: [{ header: "Sb-Canary", value: "1", subset: "canary" }],
  updatedAt: 1_700_000_000_000,
  updatedBy: "ops",
});
// The operator console's HTTP API (docs/CONSOLE.md).
const consoleStats = { requests: 10, errors: 1, requestRate: 2.5, errorRate: 0.1, latencyP50: 1.2, latencyP95: 3, latencyP99: null };
const consoleSummary = { service: "billing", counts: { up: 2, suspect: 0, down: 1 }, versions: ["1.2.0"], requestRate: 2.5, errorRate: 0.1, p50: 1.2, p99: null, spark: [1, null, 2.5], firing: 1, trouble: 1_001_000 };
const consoleEvent = { seq: 1, at: 1_700_000_000_000, revision: 7, service: "billing", id: "i-1", type: "down", previous: "suspect", version: "1.2.0", source: "event" };
const consoleAlert = {
  fingerprint: "0123456789abcdef",
  status: "firing",
  rule: "InstanceDown",
  service: "billing",
  severity: "critical",
  instance: "i-1",
  labels: { alertname: "InstanceDown", service: "billing", severity: "critical", instance: "i-1" },
  annotations: { summary: "i-1 is down" },
  startsAt: 1_700_000_000_000,
  value: 1,
  group: 'alertname="InstanceDown", service="billing", severity="critical"',
  ack: { by: "ops", at: 1_700_000_001_000, until: 1_700_003_600_000, comment: "on it" },
  mails: [{ route: "default", status: "firing", at: 1_700_000_000_500, messageId: "<m@x>" }],
};
const consoleDetail = {
  service: "billing",
  summary: consoleSummary,
  instances: [{ view: aView, subject: "sb.inst.billing.i-1.*", stats: consoleStats }],
  endpoints: [{ endpoint: "invoice", stats: consoleStats, spark: [3, null] }],
  events: [consoleEvent],
};
const consoleStatus = { registry: { synced: true, revision: 7, instances: 3, services: 1 }, collector: { ok: true, collector: "collector-1", at: 1_700_000_000_000 } };
seeds.set("console-snapshot", { v: 1, at: 1_700_000_000_000, prefix: "sb", metricsStepMs: 2000, ...consoleStatus, services: [consoleSummary], alerts: [consoleAlert], events: [consoleEvent], detail: consoleDetail });
seeds.set("console-update", { v: 1, at: 1_700_000_000_000, ...consoleStatus, services: [consoleSummary], removedServices: ["old"], alerts: [consoleAlert], events: [consoleEvent], detail: consoleDetail });
seeds.set("console-service", { v: 1, at: 1_700_000_000_000, detail: consoleDetail });
seeds.set("console-ack", { durationMs: 3_600_000, by: "ops", comment: "on it" });
seeds.set("console-login", { token: "s3cret" });
seeds.set("console-session", { authRequired: true, authenticated: false });
seeds.set("console-error", { error: { code: "NOT_FOUND", message: "no service billing" } });
// Silences are written to KV by operators and read by every notifier: hostile input too.
seeds.set("label-matcher", { name: "service", op: "=~", value: "billing|orders" });
seeds.set("silence", {
  v: 1,
  id: "3f9c0e12-ab45-4d67-8e9f-0123456789ab",
  matchers: [{ name: "alertname", op: "=", value: "InstanceDown" }],
  startsAt: 1_700_000_000_000,
  endsAt: 1_700_003_600_000,
  createdBy: "ops",
  comment: "maintenance",
  updatedAt: 1_700_000_000_000,
});
const schemaFiles = readdirSync(SCHEMA_DIR).filter((f) => f.endsWith(".json") && f !== "common.json");
const kinds = schemaFiles.map((f) => f.slice(0, -5)).sort();
const schemaOf = (kind: string) =>
  JSON.parse(readFileSync(join(SCHEMA_DIR, `${kind}.json`), "utf8")) as { required?: string[]; additionalProperties?: boolean };

/** decodeWith never throws, and agrees with the compiled schema on whatever parses as JSON. */
function checkDecode(kind: string, body: Uint8Array, maxBytes = 1 << 20): ReturnType<typeof decodeWith> {
  let r!: ReturnType<typeof decodeWith>;
  expect(() => (r = decodeWith(kind, body, maxBytes))).not.toThrow();
  let parsed: unknown;
  let json = true;
  try {
    parsed = JSON.parse(new TextDecoder().decode(body));
  } catch {
    json = false;
  }
  if (!json) expect(r.ok).toBe(false);
  else expect(r.ok).toBe(validatorFor(kind)(parsed) === true);
  if (!r.ok) {
    expect(["too-large", "not-json", "schema"]).toContain(r.reason);
    expect(r.error).toContain(kind);
  }
  return r;
}

describe("fuzzing every schema through decodeMessage", () => {
  it("has a valid seed for every schema", () => {
    for (const kind of kinds) {
      expect(seeds.has(kind), `seed for ${kind}`).toBe(true);
      const r = decodeWith(kind, encodeJson(seeds.get(kind)));
      expect(r, kind).toMatchObject({ ok: true });
    }
  });

  it.each(kinds)("%s: mutated messages are decided exactly as the schema decides, never a throw", (kind) => {
    const seed = seeds.get(kind);
    fc.assert(fc.property(mutation(seed), (body) => void checkDecode(kind, body)), { numRuns: 400 });
  });

  it.each(kinds)("%s: a missing required field or an unknown field is refused", (kind) => {
    const seed = seeds.get(kind) as Record<string, unknown>;
    const schema = schemaOf(kind);
    for (const field of schema.required ?? []) {
      const r = checkDecode(kind, encodeJson(setAt(seed, [field], DELETE)));
      expect(r.ok, `${kind} without ${field}`).toBe(false);
    }
    if (schema.additionalProperties === false) {
      fc.assert(
        fc.property(
          fc.string({ minLength: 1, maxLength: 20 }).filter((k) => !(k in seed) && k !== "__proto__"),
          nasty.filter((x) => x !== undefined), // an undefined value is no property at all in JSON
          (k, x) => {
            expect(checkDecode(kind, encodeJson({ ...seed, [k]: x })).ok).toBe(false);
          },
        ),
        { numRuns: 100 },
      );
    }
  });

  it.each(kinds)("%s: random bytes and oversized bodies are refused without a throw", (kind) => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => void checkDecode(kind, b)), { numRuns: 200 });
    const big = encodeJson({ ...(seeds.get(kind) as object), padding: "x".repeat(70 * 1024) });
    const r = decodeWith(kind, big);
    expect(r).toMatchObject({ ok: false, reason: "too-large" });
    // Deep nesting within the limit: refused as a schema error, no stack overflow.
    const deep = new TextEncoder().encode("[".repeat(30_000) + "]".repeat(30_000));
    expect(checkDecode(kind, deep, 64 * 1024).ok).toBe(false);
  });
});
