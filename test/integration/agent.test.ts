import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { createAgent, type Agent } from "../../src/agent/index.js";
import {
  DEADLINE_HEADER,
  ERROR_CODE_HEADER,
  ServiceError,
  Subjects,
  decodeMessage,
  encodeJson,
  readErrorReply,
} from "../../src/protocol/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { sleep, uniquePrefix, waitFor } from "../helpers/wait.js";

describe("agent on a real nats-server", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  beforeAll(async () => {
    server = await startNatsServer({ jetstream: false });
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await nc.close();
    await server.dispose();
  });

  async function started(prefix: string, setup?: (a: Agent) => void, extra: Partial<Parameters<typeof createAgent>[0]> = {}) {
    const agent = createAgent({ service: "calc", version: "1.2.3", servers: server.url, prefix, heartbeatMs: 100, ...extra });
    agent.endpoint("echo", (p) => p);
    setup?.(agent);
    await agent.start();
    return agent;
  }

  it("announces its record, heartbeats with increasing seq, and leaves on stop", async () => {
    const prefix = uniquePrefix();
    const s = new Subjects(prefix);
    const seen: Array<{ subject: string; data: Uint8Array }> = [];
    const sub = nc.subscribe(`${prefix}.>`, { callback: (_e, m) => void seen.push({ subject: m.subject, data: m.data }) });
    await nc.flush();
    const agent = await started(prefix, undefined, { metadata: { zone: "a" }, tags: ["blue"], weight: 2 });
    await waitFor(() => seen.filter((m) => m.subject === s.heartbeat("calc", agent.id)).length >= 3, { what: "3 heartbeats" });

    const announce = seen.find((m) => m.subject === s.announce("calc", agent.id));
    const decoded = decodeMessage("announce", announce!.data);
    expect(decoded.ok).toBe(true);
    if (decoded.ok) {
      expect(decoded.value.instance).toMatchObject({ id: agent.id, service: "calc", version: "1.2.3", endpoints: ["echo"], heartbeatMs: 100, metadata: { zone: "a" }, tags: ["blue"], weight: 2 });
    }
    const seqs = seen
      .filter((m) => m.subject === s.heartbeat("calc", agent.id))
      .map((m) => {
        const hb = decodeMessage("heartbeat", m.data);
        if (!hb.ok) throw new Error(hb.error);
        return hb.value.seq;
      });
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);

    await agent.stop();
    const leave = seen.find((m) => m.subject === s.leave("calc", agent.id));
    expect(leave).toBeDefined();
    expect(decodeMessage("leave", leave!.data).ok).toBe(true);
    const count = seen.length;
    await sleep(250);
    expect(seen.filter((m) => m.subject.includes(".heartbeat.")).length).toBe(seen.slice(0, count).filter((m) => m.subject.includes(".heartbeat.")).length);
    sub.unsubscribe();
  });

  it("serves an endpoint on its instance subject and on the service queue-group subject", async () => {
    const prefix = uniquePrefix();
    const s = new Subjects(prefix);
    const agent = await started(prefix);
    const viaInstance = await nc.request(s.instance("calc", agent.id, "echo"), encodeJson({ a: 1 }));
    expect(viaInstance.json()).toEqual({ a: 1 });
    const viaQueue = await nc.request(s.service("calc", "echo"), encodeJson([1, 2]));
    expect(viaQueue.json()).toEqual([1, 2]);
    await agent.stop();
  });

  it("turns handler failures and bad requests into error replies in the micro convention", async () => {
    const prefix = uniquePrefix();
    const s = new Subjects(prefix);
    const agent = await started(prefix, (a) => {
      a.endpoint("boom", () => {
        throw new Error("kaput\r\nX-Injected: yes");
      });
      a.endpoint("missing", async () => {
        throw new ServiceError("NOT_FOUND", "no such user");
      });
    });
    const boom = await nc.request(s.instance("calc", agent.id, "boom"), encodeJson({}));
    expect(boom.headers?.get(ERROR_CODE_HEADER)).toBe("500");
    expect(boom.headers?.get("X-Injected")).toBe("");
    expect(readErrorReply(boom)).toMatchObject({ code: "INTERNAL", message: "kaput\r\nX-Injected: yes" });

    const missing = await nc.request(s.instance("calc", agent.id, "missing"), encodeJson({}));
    expect(missing.headers?.get(ERROR_CODE_HEADER)).toBe("404");
    expect(readErrorReply(missing)).toMatchObject({ code: "NOT_FOUND", message: "no such user" });

    const garbage = await nc.request(s.instance("calc", agent.id, "echo"), new TextEncoder().encode("{not json"));
    expect(readErrorReply(garbage)).toMatchObject({ code: "BAD_REQUEST" });

    const unknown = await nc.request(s.instance("calc", agent.id, "nope"), encodeJson({}));
    expect(readErrorReply(unknown)).toMatchObject({ code: "NOT_FOUND" });

    // The agent is still serving after all of that.
    expect((await nc.request(s.instance("calc", agent.id, "echo"), encodeJson("ok"))).json()).toBe("ok");
    expect(agent.endpoints.get("boom")!.stats.numErrors).toBe(1);
    await agent.stop();
  });

  it("sheds load past maxInFlight with OVERLOADED and drops requests whose deadline has passed", async () => {
    const prefix = uniquePrefix();
    const s = new Subjects(prefix);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let remaining = -1;
    const agent = await started(prefix, (a) => {
      a.endpoint("slow", async (_p, ctx) => {
        remaining = ctx.remainingMs();
        await gate;
        return "done";
      }, { maxInFlight: 2 });
    });
    const subject = s.instance("calc", agent.id, "slow");
    const h = headers();
    h.set(DEADLINE_HEADER, String(Date.now() + 5000));
    const first = nc.request(subject, encodeJson(1), { timeout: 5000, headers: h });
    const second = nc.request(subject, encodeJson(2), { timeout: 5000 });
    await waitFor(() => agent.inFlight === 2, { what: "two in flight" });
    const third = await nc.request(subject, encodeJson(3), { timeout: 2000 });
    expect(readErrorReply(third)).toMatchObject({ code: "OVERLOADED", retryable: true });
    expect(third.headers?.get(ERROR_CODE_HEADER)).toBe("429");
    expect(remaining).toBeGreaterThan(3000);
    release();
    expect((await first).json()).toBe("done");
    expect((await second).json()).toBe("done");

    const expired = headers();
    expired.set(DEADLINE_HEADER, String(Date.now() - 1));
    await expect(nc.request(s.instance("calc", agent.id, "echo"), encodeJson(1), { timeout: 300, headers: expired })).rejects.toThrow();
    expect(agent.endpoints.get("echo")!.stats.expired).toBe(1);
    await agent.stop();
  });

  it("re-announces on sync (targeted at once, broadcast with jitter) and ignores garbage on sb.sync", async () => {
    const prefix = uniquePrefix();
    const s = new Subjects(prefix);
    const announces: number[] = [];
    const sub = nc.subscribe(`${prefix}.announce.calc.*`, { callback: () => void announces.push(Date.now()) });
    await nc.flush();
    const agent = await started(prefix, undefined, { heartbeatMs: 5000 });
    await waitFor(() => announces.length === 1, { what: "the announce at start" });
    announces.length = 0;
    nc.publish(s.sync, new TextEncoder().encode("garbage"));
    nc.publish(s.sync, encodeJson({ v: 1, coordinator: "x", reason: "nope" }));
    nc.publish(s.sync, encodeJson({ v: 1, coordinator: "x", reason: "unknown-instance", service: "calc", id: agent.id }));
    await waitFor(() => announces.length === 1, { what: "targeted re-announce" });
    nc.publish(s.sync, encodeJson({ v: 1, coordinator: "x", reason: "start" }));
    await waitFor(() => announces.length === 2, { what: "broadcast re-announce", timeoutMs: 3000 });
    nc.publish(s.sync, encodeJson({ v: 1, coordinator: "x", reason: "start", service: "other" }));
    await sleep(1100);
    expect(announces.length).toBe(2);
    expect(agent.invalid.total).toBe(2);
    sub.unsubscribe();
    await agent.stop();
  });

  it("answers NATS micro discovery: one ping per agent, info with endpoints, stats with counts", async () => {
    const prefix = uniquePrefix();
    const a = await started(prefix);
    const b = await started(prefix);
    const pings: Array<Record<string, unknown>> = [];
    const inbox = `_INBOX.${prefix}`;
    const sub = nc.subscribe(inbox, { callback: (_e, m) => void pings.push(m.json()) });
    nc.publish("$SRV.PING.calc", undefined, { reply: inbox });
    await waitFor(() => pings.length >= 2, { what: "two ping responses" });
    await sleep(100);
    const ours = pings.filter((p) => p.id === a.id || p.id === b.id);
    expect(ours).toHaveLength(2);
    for (const p of ours) expect(p).toMatchObject({ type: "io.nats.micro.v1.ping_response", name: "calc", version: "1.2.3" });
    sub.unsubscribe();

    await nc.request(new Subjects(prefix).instance("calc", a.id, "echo"), encodeJson(1));
    const info = (await nc.request(`$SRV.INFO.calc.${a.id}`)).json<Record<string, any>>();
    expect(info.type).toBe("io.nats.micro.v1.info_response");
    expect(info.endpoints[0]).toMatchObject({ name: "echo", subject: `${prefix}.svc.calc.echo`, queue_group: "calc" });
    const stats = (await nc.request(`$SRV.STATS.calc.${a.id}`)).json<Record<string, any>>();
    expect(stats.type).toBe("io.nats.micro.v1.stats_response");
    expect(stats.endpoints[0].num_requests).toBe(1);
    await a.stop();
    await b.stop();
  });

  it("refuses names that are not subject tokens", () => {
    for (const bad of ["a.b", "a*", "a>", "a b", "", "x".repeat(65)]) {
      expect(() => createAgent({ service: bad, servers: server.url })).toThrow(/invalid service/);
    }
    const agent = createAgent({ service: "ok", servers: server.url });
    expect(() => agent.endpoint("get.user", () => 1)).toThrow(/invalid endpoint/);
  });
});
