/**
 * The CLI's pure parts: settings precedence (flags > config file > environment > defaults), config
 * validation, one-line connection errors, durations, colour rules, the gateway's instance choice and
 * the demo's latency window and live view.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CliError, describeConnectError, parseConfig, resolveSettings, resolveSmtp } from "../../src/cli/index.js";
import { colorsFor, formatDuration, jsonText, table, visibleWidth } from "../../src/cli/output.js";
import { parseDuration } from "../../src/protocol/index.js";
import { LatencyWindow, quantile } from "../../src/cli/demo/LatencyWindow.js";
import { renderFrame, renderStatusLine, type DemoViewState } from "../../src/cli/demo/LiveView.js";
import { addressOf, pickInstance } from "../../src/gateway/index.js";
import type { InstanceView } from "../../src/protocol/index.js";

const dir = mkdtempSync(join(tmpdir(), "sb-cli-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("settings", () => {
  const config = join(dir, "c.yaml");
  writeFileSync(config, "prefix: fromfile\nnats:\n  servers: nats://file:4222\n  user: fileuser\n  password: filepass\n");

  it("defaults to nats://127.0.0.1:4222 and prefix sb", () => {
    const s = resolveSettings({}, {});
    expect(s.nats.servers).toEqual(["nats://127.0.0.1:4222"]);
    expect(s.prefix).toBe("sb");
    expect(s.json).toBe(false);
  });

  it("takes flags over the config file over the environment", () => {
    const env = { NATS_URL: "nats://env1:4222, nats://env2:4222", SB_PREFIX: "fromenv", NATS_TOKEN: "envtoken" };
    expect(resolveSettings({}, env).nats.servers).toEqual(["nats://env1:4222", "nats://env2:4222"]);
    expect(resolveSettings({}, env).prefix).toBe("fromenv");
    const fromFile = resolveSettings({ config }, env);
    expect(fromFile.nats.servers).toEqual(["nats://file:4222"]);
    expect(fromFile.prefix).toBe("fromfile");
    expect(fromFile.nats).toMatchObject({ user: "fileuser", pass: "filepass", token: "envtoken" });
    const fromFlags = resolveSettings({ config, servers: "nats://flag:4222", prefix: "fromflag", json: true }, env);
    expect(fromFlags.nats.servers).toEqual(["nats://flag:4222"]);
    expect(fromFlags.prefix).toBe("fromflag");
    expect(fromFlags.json).toBe(true);
    // SB_CONFIG names the file when --config does not.
    expect(resolveSettings({}, { SB_CONFIG: config }).prefix).toBe("fromfile");
  });

  it("passes TLS and credential files through and refuses contradictions as usage errors", () => {
    const s = resolveSettings({ tlsCa: "/ca.pem", tlsCert: "/c.pem", tlsKey: "/k.pem", creds: "/x.creds" }, {});
    expect(s.nats.tls).toEqual({ caFile: "/ca.pem", certFile: "/c.pem", keyFile: "/k.pem" });
    expect(s.nats.credsFile).toBe("/x.creds");
    const usage = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(CliError);
        return (e as CliError).exitCode;
      }
      throw new Error("did not throw");
    };
    expect(usage(() => resolveSettings({ tlsCert: "/c.pem" }, {}))).toBe(2);
    expect(usage(() => resolveSettings({ creds: "/a", nkey: "/b" }, {}))).toBe(2);
    expect(usage(() => resolveSettings({ password: "p" }, {}))).toBe(2);
    expect(usage(() => resolveSettings({ prefix: "a..b" }, {}))).toBe(2);
    expect(usage(() => resolveSettings({ prefix: "x>" }, {}))).toBe(2);
  });

  it("resolves SMTP from flags, config and SMTP_* variables", () => {
    const cfg = { smtp: { host: "cfg.example.com", to: "a@example.com,b@example.com" } };
    const env = { SMTP_HOST: "env.example.com", SMTP_PORT: "2525", SMTP_SECURE: "true", SMTP_PASS: "pw", SMTP_FROM: "x@example.com" };
    expect(resolveSmtp({}, cfg, env)).toEqual({ host: "cfg.example.com", port: 2525, secure: true, password: "pw", from: "x@example.com", to: ["a@example.com", "b@example.com"] });
    expect(resolveSmtp({ host: "flag", to: ["c@example.com"] }, cfg, env)).toMatchObject({ host: "flag", to: ["c@example.com"] });
    expect(() => resolveSmtp({}, {}, { SMTP_PORT: "smtp" })).toThrow(/SMTP_PORT "smtp" is not a port number/);
  });
});

describe("config files", () => {
  it("accepts JSON and YAML and refuses unknown keys, wrong types and bad syntax with the file's name", () => {
    expect(parseConfig('{"prefix":"a.b","gateway":{"port":8080}}', "x.json")).toEqual({ prefix: "a.b", gateway: { port: 8080 } });
    expect(parseConfig("notifier:\n  groupWait: 10s\n  routes:\n    - { to: a@example.com, severity: critical }\n", "x.yaml")).toMatchObject({ notifier: { groupWait: "10s" } });
    expect(parseConfig("", "empty.yaml")).toEqual({});
    expect(() => parseConfig('{"colour":1}', "c.json")).toThrow('config file c.json is invalid: / has unknown property "colour"');
    expect(() => parseConfig("gateway:\n  port: http\n", "c.yaml")).toThrow(/config file c.yaml is invalid: \/gateway\/port must be integer/);
    expect(() => parseConfig("{oops", "c.json")).toThrow(/config file c.json is not valid JSON/);
    expect(() => parseConfig("a: [1", "c.yml")).toThrow(/config file c.yml is not valid YAML/);
  });
});

describe("connection errors", () => {
  const servers = ["nats://127.0.0.1:4999"];
  const cause = (code: string, message = code) => Object.assign(new Error(message), { code });
  it("explain in one line what happened at which URL and what to do", () => {
    const refused = describeConnectError(Object.assign(new Error("connection refused"), { cause: cause("ECONNREFUSED") }), servers);
    expect(refused.message).toBe(
      "no NATS server answers at nats://127.0.0.1:4999 (connection refused): start one with `nats-server -js`, or run `switchboard demo` (it starts its own), or point --servers / NATS_URL at yours",
    );
    expect(describeConnectError(cause("ENOTFOUND", "getaddrinfo ENOTFOUND x"), ["nats://x:4222"]).message).toMatch(/^cannot resolve the NATS host in nats:\/\/x:4222/);
    expect(describeConnectError(new Error("Authorization Violation"), servers).message).toMatch(/refused the credentials \(Authorization Violation\): check --user/);
    expect(describeConnectError(new Error("self-signed certificate in certificate chain"), servers).message).toMatch(/^TLS with NATS at .* failed/);
    expect(describeConnectError(cause("ENOENT", "ENOENT: no such file or directory, open '/x.creds'"), servers).message).toMatch(/^cannot read a NATS credential file/);
    for (const e of [refused]) expect(e.message).not.toContain("\n");
  });
});

describe("output", () => {
  it("parses and formats durations", () => {
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("2500ms")).toBe(2500);
    expect(() => parseDuration("3")).toThrow(/ambiguous/);
    expect(parseDuration("2h")).toBe(7_200_000);
    expect(() => parseDuration("soon")).toThrow(/not a duration/);
    expect(formatDuration(850)).toBe("850ms");
    expect(formatDuration(65_000)).toBe("1m05s");
    expect(formatDuration(3 * 3600_000 + 12 * 60_000)).toBe("3h12m");
  });

  it("colours only a TTY, and never with NO_COLOR or TERM=dumb", () => {
    expect(colorsFor({ isTTY: true }, {}).red("x")).toBe("\x1b[31mx\x1b[39m");
    expect(colorsFor({ isTTY: false }, {}).red("x")).toBe("x");
    expect(colorsFor({ isTTY: false }, { CI: "1" }).red("x")).toBe("x");
    expect(colorsFor({ isTTY: true }, { NO_COLOR: "1" }).red("x")).toBe("x");
    expect(colorsFor({ isTTY: true }, { TERM: "dumb" }).red("x")).toBe("x");
    expect(colorsFor({ isTTY: false }, { FORCE_COLOR: "1" }).red("x")).toBe("\x1b[31mx\x1b[39m");
  });

  it("aligns table columns whatever colour the cells carry", () => {
    const c = colorsFor({ isTTY: true }, {});
    const t = table(["A", "BB"], [[c.red("long-cell"), "1"], ["x", "22"]], c).split("\n");
    expect(t.map(visibleWidth)).toEqual([13, 12, 13]);
    expect(t[2]).toBe("x          22");
  });
});

const view = (id: string, state: InstanceView["state"], inFlight: number, extra: Partial<InstanceView["instance"]> = {}): InstanceView => ({
  instance: { id, service: "svc", version: "1", endpoints: ["e"], heartbeatMs: 1000, startedAt: 0, ...extra },
  state,
  since: 0,
  lastSeen: 0,
  seq: 1,
  inFlight,
  status: "ok",
});

describe("gateway instance choice", () => {
  it("picks the least loaded up instance, rotating between equals, never a dead or draining one", () => {
    const all = [view("b", "up", 2), view("a", "up", 1), view("c", "up", 1), view("d", "down", 0), { ...view("e", "up", 0), status: "draining" as const }];
    expect([0, 1, 2, 3].map((t) => pickInstance(all, t)!.instance.id)).toEqual(["a", "c", "a", "c"]);
    expect(pickInstance([view("d", "down", 0), view("s", "suspect", 0)], 0)).toBeUndefined();
  });
  it("names agent instances by their NATS subject and registrations by their address", () => {
    expect(addressOf(view("i1", "up", 0), "sb")).toBe("nats:sb.inst.svc.i1");
    expect(addressOf(view("i2", "up", 0, { address: "http://x" }), "sb")).toBe("http://x");
  });
});

describe("demo latency window and view", () => {
  it("computes the rate and nearest-rank quantiles over the last window", () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(quantile([], 0.99)).toBeNull();
    const w = new LatencyWindow(1000);
    for (let i = 1; i <= 100; i++) w.record(10_000 + i * 5, i);
    const s = w.stats(10_500, 0);
    expect(s.samples).toBe(100);
    expect(s.rate).toBe(100);
    expect(s.p50).toBe(50);
    expect(s.p99).toBe(99);
    // A second later the old samples have left the window.
    expect(w.stats(11_600, 0).samples).toBe(0);
    // Early on, the rate is over the time actually covered.
    const early = new LatencyWindow(5000);
    for (let i = 0; i < 50; i++) early.record(1000 + i, 1);
    expect(early.stats(1500, 1000).rate).toBe(100);
  });

  it("renders a frame and a status line", () => {
    const state: DemoViewState = {
      elapsedMs: 6000,
      durationMs: 20_000,
      natsUrl: "nats://127.0.0.1:4222",
      natsLocal: true,
      prefix: "demo_1",
      service: "echo",
      instances: [
        { n: 1, id: "11111111-aaaa-4aaa", pid: 10, process: "running", state: "up" },
        { n: 2, id: "22222222-bbbb-4bbb", pid: 11, process: "killed", state: "down" },
      ],
      calls: 1234,
      failed: 0,
      retries: 3,
      rate: 199.6,
      p50: 1.234,
      p99: 12.34,
      lastError: undefined,
      alerts: [{ at: 0, status: "firing", severity: "warning", rule: "InstanceDown", where: "echo/22222222…", fingerprint: "00112233aabbccdd" }],
      mails: [{ at: 0, subject: "[FIRING] InstanceDown", file: ".demo/mail/x.eml" }],
      events: [{ at: 0, text: "killed #2" }],
    };
    const plain = colorsFor({ isTTY: false }, {});
    const frame = renderFrame(state, plain, 120).join("\n");
    expect(frame).toContain("Switchboard demo  prefix demo_1 · NATS nats://127.0.0.1:4222 (started for the demo)  6s / 20s");
    expect(frame).toMatch(/#2 {2}22222222… {2}down {5}killed with SIGKILL/);
    expect(frame).toMatch(/#1 {2}11111111… {2}up {7}pid 10/);
    expect(frame).toContain("Calls  1,234 ok  0 failed  200 calls/s  p50 1.23 ms  p99 12.3 ms  retries 3");
    expect(frame).toContain("FIRING   warning InstanceDown echo/22222222… fp 00112233aabbccdd");
    expect(frame).toContain('"[FIRING] InstanceDown" → .demo/mail/x.eml');
    expect(renderFrame(state, plain, 40).every((l) => visibleWidth(l) <= 40)).toBe(true);
    expect(renderStatusLine(state)).toBe("[  6.0s] calls 1234 ok, 0 failed, 200/s, p50 1.23 ms, p99 12.3 ms; instances up 1/2; alerts 1; mails 1");
  });
});

describe("jsonText", () => {
  it("keeps indented output valid JSON while escaping what a terminal would act on", () => {
    const value = { name: "a\u202eb", note: "line\nbreak\u001b[2J", list: [1, 2] };
    const text = jsonText(value, 2);
    expect(JSON.parse(text)).toEqual(value);
    expect(text).toContain("\\u202e");
    expect(text).toContain("\\u001b");
    expect(text).not.toMatch(/[\u001b\u202e]/);
    expect(text.split("\n")).toHaveLength(8);
  });
});
