/**
 * W3C Trace Context with OpenTelemetry (real nats-server, coordinator, agent; the SDK's in-memory
 * exporter): a call with retries is one trace with one span per attempt, each attempt a child of the
 * call span and the parent of the agent's handler span; `traceparent` arrives in the handler; an
 * incoming trace is continued; malformed `traceparent` values start a new trace and break nothing.
 */
import { trace } from "@opentelemetry/api";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createAgent } from "../../src/agent/index.js";
import { createClient, type Client, type RegistryCache } from "../../src/client/index.js";
import { createCoordinator } from "../../src/coordinator/index.js";
import { ServiceError, Subjects, connectNats, DEADLINE_HEADER } from "../../src/protocol/index.js";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

let server: NatsServer;
beforeAll(async () => {
  trace.setGlobalTracerProvider(provider);
  server = await startNatsServer({ jetstream: false });
});
afterAll(async () => {
  await server?.dispose();
  trace.disable();
  await provider.shutdown();
});
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => {});
  exporter.reset();
});

/** An agent whose `flaky` endpoint fails (retryably) `failures` times, then answers; every traceparent it saw is kept. */
async function setup(failures: number): Promise<{ c: Client; seen: Array<string | undefined>; prefix: string; id: string }> {
  const prefix = uniquePrefix();
  const coord = createCoordinator({ servers: server.url, prefix, jetstream: false });
  await coord.start();
  cleanup.push(() => coord.stop());
  const seen: Array<string | undefined> = [];
  let calls = 0;
  const a = createAgent({ servers: server.url, prefix, service: "svc", heartbeatMs: 250, id: "only" });
  a.endpoint("flaky", (_p, ctx) => {
    seen.push(ctx.traceparent);
    if (calls++ < failures) throw new ServiceError("BUSY", "try again", true);
    return "done";
  });
  await a.start();
  cleanup.push(() => a.stop());
  const c = await createClient({ servers: server.url, prefix, backoff: { baseMs: 1, capMs: 5 } }).start();
  cleanup.push(() => c.stop());
  await waitFor(() => (c.registry as RegistryCache).instances("svc").length === 1, { what: "the agent routed" });
  return { c, seen, prefix, id: a.id };
}

const byKind = (spans: ReadableSpan[], kind: number) => spans.filter((s) => s.kind === kind);

describe("trace context", () => {
  it("a call with retries: one trace, one span per attempt under the call span, each the parent of a handler span; traceparent arrives in the handler", async () => {
    const { c, seen } = await setup(2);
    expect(await c.call("svc", "flaky", null)).toBe("done");
    await waitFor(() => exporter.getFinishedSpans().length === 7, { what: "7 finished spans" });
    const spans = exporter.getFinishedSpans();
    const traceIds = new Set(spans.map((s) => s.spanContext().traceId));
    expect(traceIds.size).toBe(1);
    const call = spans.find((s) => s.name === "svc.flaky" && s.kind === 2 /* CLIENT */)!;
    expect(call.parentSpanContext).toBeUndefined();
    expect(call.attributes).toMatchObject({ "switchboard.service": "svc", "switchboard.endpoint": "flaky", "switchboard.outcome": "ok", "switchboard.attempt": 3 });
    const attempts = spans.filter((s) => s.name.startsWith("svc.flaky attempt")).sort((x, y) => Number(x.attributes["switchboard.attempt"]) - Number(y.attributes["switchboard.attempt"]));
    expect(attempts.map((s) => [s.attributes["switchboard.attempt"], s.attributes["switchboard.outcome"], s.attributes["switchboard.instance"]])).toEqual([
      [1, "BUSY", "only"],
      [2, "BUSY", "only"],
      [3, "ok", "only"],
    ]);
    for (const s of attempts) expect(s.parentSpanContext?.spanId).toBe(call.spanContext().spanId);
    const handlers = byKind(spans, 1 /* SERVER */);
    expect(handlers).toHaveLength(3);
    const tid = call.spanContext().traceId;
    // The handler saw exactly each attempt's context, and its span is that attempt's child.
    expect(seen).toEqual(attempts.map((s) => `00-${tid}-${s.spanContext().spanId}-01`));
    expect(handlers.map((h) => h.parentSpanContext?.spanId).sort()).toEqual(attempts.map((s) => s.spanContext().spanId).sort());
    expect(handlers.map((h) => h.attributes["switchboard.outcome"]).sort()).toEqual(["BUSY", "BUSY", "ok"]);
    for (const h of handlers) expect(h.attributes).toMatchObject({ "switchboard.service": "svc", "switchboard.endpoint": "flaky", "switchboard.instance": "only" });
  });

  it("continues an incoming traceparent; malformed ones start a new trace without breaking the call or the agent", async () => {
    const { c, seen, prefix, id } = await setup(0);
    const tid = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parent = "00f067aa0ba902b7";
    expect(await c.call("svc", "flaky", null, { headers: { traceparent: `00-${tid}-${parent}-01`, tracestate: "vendor=x" } })).toBe("done");
    await waitFor(() => exporter.getFinishedSpans().length === 3, { what: "3 spans" });
    const call = exporter.getFinishedSpans().find((s) => s.name === "svc.flaky" && s.kind === 2 /* CLIENT */)!;
    expect(call.spanContext().traceId).toBe(tid);
    expect(call.parentSpanContext?.spanId).toBe(parent);
    expect(seen[0]).toMatch(new RegExp(`^00-${tid}-[0-9a-f]{16}-01$`));
    exporter.reset();

    const malformed = ["00-zzzz-yyyy-01", `ff-${tid}-${parent}-01`, `00-${"0".repeat(32)}-${parent}-01`, "x".repeat(5000), "00-\r\nInjected: 1"];
    for (const tp of malformed) {
      expect(await c.call("svc", "flaky", null, { headers: { traceparent: tp } })).toBe("done");
      const last = seen[seen.length - 1]!;
      expect(last).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(last).not.toContain(tid);
    }
    // Straight to the agent, bypassing the client: a malformed header reaches the handler as sent,
    // its span starts a new trace, and the agent answers.
    const nc = await connectNats({ servers: server.url });
    cleanup.push(() => nc.close());
    await waitFor(() => byKind(exporter.getFinishedSpans(), 1).length === malformed.length, { what: "the handler spans of the calls" });
    exporter.reset();
    for (const tp of ["00-zzzz", `00-${tid}-${"0".repeat(16)}-01`, "y".repeat(3000)]) {
      const h = natsHeaders();
      h.set("traceparent", tp);
      h.set(DEADLINE_HEADER, String(Date.now() + 5000));
      const reply = await nc.request(new Subjects(prefix).instance("svc", id, "flaky"), new TextEncoder().encode("null"), { timeout: 5000, headers: h });
      expect(new TextDecoder().decode(reply.data)).toBe('"done"');
      const got = seen[seen.length - 1]!;
      expect(tp.startsWith(got) && got.length >= Math.min(tp.length, 1000) && got.length <= 1024).toBe(true); // as sent, at most 1 KiB
    }
    await waitFor(() => byKind(exporter.getFinishedSpans(), 1).length === 3, { what: "the handler spans" });
    for (const s of byKind(exporter.getFinishedSpans(), 1)) expect(s.parentSpanContext).toBeUndefined();
  });
});
