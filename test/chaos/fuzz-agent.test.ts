/**
 * Property-based fuzzing of every subject an agent listens on: random bytes, mutated valid messages,
 * oversized payloads and a flood of 10 000 bad messages. The agent must answer requests with error
 * replies, never crash, keep its memory bounded and keep serving.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createAgent, type Agent } from "../../src/agent/index.js";
import { Subjects, decodeMessage, encodeJson, readErrorReply } from "../../src/protocol/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";

const validSync = { v: 1, coordinator: "c1", reason: "start" };

/** Mutations of a valid JSON object: drop, retype or add a field, or break the encoding. */
const mutatedJson = (base: Record<string, unknown>) =>
  fc.oneof(
    fc.constantFrom(...Object.keys(base)).map((k) => {
      const copy = { ...base };
      delete copy[k];
      return encodeJson(copy);
    }),
    fc.tuple(fc.constantFrom(...Object.keys(base)), fc.anything()).map(([k, v]) => encodeJson({ ...base, [k]: v })),
    fc.tuple(fc.string(), fc.jsonValue()).map(([k, v]) => encodeJson({ ...base, [k]: v })),
    fc.integer({ min: 1, max: 40 }).map((n) => encodeJson(base).slice(0, n)),
  );

describe("fuzzing the agent's subjects", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let agent: Agent;
  let s: Subjects;

  beforeAll(async () => {
    server = await startNatsServer({ jetstream: false });
    nc = await connect({ servers: server.url });
    const prefix = uniquePrefix();
    s = new Subjects(prefix);
    agent = createAgent({ service: "fuzz", servers: server.url, prefix, heartbeatMs: 200 });
    agent.endpoint("echo", (p) => p);
    agent.endpoint("strict", (p) => {
      if (typeof p !== "object" || p === null || typeof (p as { n?: unknown }).n !== "number") throw new Error("n must be a number");
      return (p as { n: number }).n * 2;
    });
    await agent.start();
  });
  afterAll(async () => {
    await agent.stop();
    await nc.close();
    await server.dispose();
  });

  it("answers every request on an endpoint subject with a reply or an error reply, whatever the bytes", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("echo", "strict", "missing"),
        fc.oneof(fc.uint8Array({ maxLength: 512 }), fc.jsonValue().map((v) => encodeJson(v)), mutatedJson({ n: 1 })),
        async (endpoint, body) => {
          const reply = await nc.request(s.instance("fuzz", agent.id, endpoint), body, { timeout: 2000 });
          const err = readErrorReply(reply);
          if (endpoint === "missing") expect(err?.code).toBe("NOT_FOUND");
          else if (err) expect(["BAD_REQUEST", "INTERNAL"]).toContain(err.code);
          else expect(() => (reply.data.length ? JSON.parse(reply.string()) : undefined)).not.toThrow();
        },
      ),
      { numRuns: 300 },
    );
  });

  it("survives garbage, mutated syncs, oversized payloads and a flood of 10 000 bad messages", async () => {
    const samples = fc.sample(fc.oneof(fc.uint8Array({ maxLength: 256 }), mutatedJson(validSync)), 500);
    for (const body of samples) nc.publish(s.sync, body);
    const big = new Uint8Array(900 * 1024).fill(0x7b);
    nc.publish(s.sync, big);
    const huge = await nc.request(s.instance("fuzz", agent.id, "echo"), big, { timeout: 5000 });
    expect(readErrorReply(huge)?.code).toBe("BAD_REQUEST");
    const rss = process.memoryUsage().rss;
    for (let i = 0; i < 10_000; i++) {
      nc.publish(s.sync, encodeJson({ v: 1, junk: i }));
      nc.publish(s.service("fuzz", "echo"), encodeJson({ junk: i }), { reply: "_INBOX.nobody" });
      nc.publish(`$SRV.PING.fuzz.${agent.id}`, encodeJson(i));
    }
    await nc.flush();
    // Every invalid sample, the oversized one and the 10 000 flood messages are counted (a mutation can be valid).
    const invalidSamples = samples.filter((b) => !decodeMessage("sync", b).ok).length;
    await waitFor(() => agent.invalid.total === invalidSamples + 1 + 10_000, { what: "every bad sync counted", timeoutMs: 15_000 });
    // Still serving, still heartbeating, memory bounded.
    expect((await nc.request(s.instance("fuzz", agent.id, "strict"), encodeJson({ n: 21 }), { timeout: 2000 })).json()).toBe(42);
    const ping = (await nc.request(`$SRV.PING.fuzz.${agent.id}`, undefined, { timeout: 2000 })).json<{ id: string }>();
    expect(ping.id).toBe(agent.id);
    expect(process.memoryUsage().rss - rss).toBeLessThan(200 * 1024 * 1024);
  });
});
