import { describe, expect, it } from "vitest";
import {
  InvalidInputLog,
  Subjects,
  codeForStatus,
  decodeMessage,
  encodeJson,
  errorReply,
  readErrorReply,
  toConnectionOptions,
  statusForCode,
} from "../../src/protocol/index.js";

import { natsSettingsFromEnv } from "../../src/cli/settings.js";
const enc = (s: string) => new TextEncoder().encode(s);

describe("subjects", () => {
  const s = new Subjects("sb");
  it("puts <service>.<instance> in every instance-originated subject", () => {
    expect(s.announce("orders", "i1")).toBe("sb.announce.orders.i1");
    expect(s.heartbeat("orders", "i1")).toBe("sb.heartbeat.orders.i1");
    expect(s.leave("orders", "i1")).toBe("sb.leave.orders.i1");
    expect(s.metrics("orders", "i1")).toBe("sb.metrics.orders.i1");
    expect(s.instance("orders", "i1", "get")).toBe("sb.inst.orders.i1.get");
    expect(s.service("orders", "get")).toBe("sb.svc.orders.get");
  });
  it("rejects tokens with dots, wildcards, whitespace, or empty", () => {
    for (const bad of ["a.b", "*", ">", "a b", "a\tb", "", "a\r\n"]) {
      expect(() => s.service(bad, "x")).toThrow(/invalid service/);
      expect(() => s.service("x", bad)).toThrow(/invalid endpoint/);
      expect(() => s.heartbeat("x", bad)).toThrow(/invalid instance id/);
    }
    expect(() => new Subjects("a..b")).toThrow(/prefix/);
  });
  it("parses instance-event subjects under a multi-token prefix", () => {
    const p = new Subjects("prod.sb");
    expect(p.parseInstanceEvent("prod.sb.heartbeat.orders.i1")).toEqual({ service: "orders", instance: "i1" });
    expect(p.parseInstanceEvent("prod.sb.heartbeat.orders")).toBeNull();
    expect(p.parseInstanceEvent("prod.sb.heartbeat.orders.i1.x")).toBeNull();
  });
});

describe("decodeMessage", () => {
  const hb = { v: 1, id: "i1", service: "orders", seq: 1, sentAt: 1, inFlight: 0, status: "ok" };
  it("accepts a valid message", () => {
    expect(decodeMessage("heartbeat", encodeJson(hb))).toEqual({ ok: true, value: hb });
  });
  it("refuses non-JSON, wrong schema, unknown properties, wrong version and oversized bodies with a reason", () => {
    expect(decodeMessage("heartbeat", enc("{oops"))).toMatchObject({ ok: false, reason: "not-json" });
    expect(decodeMessage("heartbeat", encodeJson({ ...hb, seq: -1 }))).toMatchObject({ ok: false, reason: "schema", error: expect.stringContaining("/seq") });
    expect(decodeMessage("heartbeat", encodeJson({ ...hb, extra: 1 }))).toMatchObject({ ok: false, error: expect.stringContaining("extra") });
    expect(decodeMessage("heartbeat", encodeJson({ ...hb, v: 2 }))).toMatchObject({ ok: false, reason: "schema" });
    expect(decodeMessage("heartbeat", encodeJson({ ...hb, service: "a.b" }))).toMatchObject({ ok: false, reason: "schema" });
    expect(decodeMessage("heartbeat", new Uint8Array(70_000))).toMatchObject({ ok: false, reason: "too-large" });
    expect(decodeMessage("heartbeat", new Uint8Array(0))).toMatchObject({ ok: false, reason: "schema" });
  });
});

describe("error replies", () => {
  it("map symbolic codes to micro status codes and back", () => {
    expect(["BAD_REQUEST", "NOT_FOUND", "OVERLOADED", "INTERNAL", "UNAVAILABLE", "TIMEOUT"].map(statusForCode)).toEqual([400, 404, 429, 500, 503, 504]);
    expect(codeForStatus(503)).toBe("UNAVAILABLE");
    expect(statusForCode("OUT_OF_STOCK")).toBe(500);
  });
  it("round-trip through headers and body, with CR/LF kept out of headers", () => {
    const r = errorReply("NOT_FOUND", "no\r\nX-Evil: 1", false);
    expect(r.headers.get("Nats-Service-Error-Code")).toBe("404");
    expect(r.headers.get("Nats-Service-Error")).toBe("no X-Evil: 1");
    expect(readErrorReply({ headers: r.headers, data: r.data })).toMatchObject({ code: "NOT_FOUND", message: "no\r\nX-Evil: 1" });
    expect(readErrorReply({ headers: r.headers, data: enc("not json") })).toMatchObject({ code: "NOT_FOUND" });
    expect(readErrorReply({ headers: undefined, data: enc("{}") })).toBeNull();
  });
});

describe("connection settings", () => {
  it("read the connect timeout from options or NATS_CONNECT_TIMEOUT_MS", () => {
    expect(toConnectionOptions({ servers: "nats://x:1", connectTimeoutMs: 2000 }).timeout).toBe(2000);
    expect(toConnectionOptions({ servers: "nats://x:1" }).timeout).toBeUndefined();
    expect(natsSettingsFromEnv({ NATS_URL: "nats://a:1,nats://b:2", NATS_CONNECT_TIMEOUT_MS: "1500" })).toMatchObject({
      servers: ["nats://a:1", "nats://b:2"],
      connectTimeoutMs: 1500,
    });
    expect(natsSettingsFromEnv({ NATS_CONNECT_TIMEOUT_MS: "soon" }).connectTimeoutMs).toBeUndefined();
  });
});

describe("InvalidInputLog", () => {
  it("counts every refused message but warns once per burst", () => {
    let now = 0;
    const warnings: unknown[] = [];
    const log = new InvalidInputLog({ warn: (o: unknown) => warnings.push(o) } as never, { burstMs: 1000, now: () => now });
    for (let i = 0; i < 10_000; i++) log.record("heartbeat", "bad");
    expect(log.total).toBe(10_000);
    expect(warnings).toHaveLength(1);
    now = 1500;
    log.record("heartbeat", "bad");
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toMatchObject({ suppressedSinceLastWarning: 9_999 });
    log.record("announce", "bad");
    expect(warnings).toHaveLength(3);
    expect(log.snapshot()).toEqual({ heartbeat: 10_001, announce: 1 });
  });
});
