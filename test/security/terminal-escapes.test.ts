/**
 * Attack: text from the bus that a terminal acts on — ESC sequences that clear the screen or move the
 * cursor, CR/LF that forge table rows, C1 controls, U+202E (right-to-left override) — in a registered
 * address, an announced version, an alert's rule and summary, an acknowledgement's author and comment, a
 * call's reply and a callee's error message. The real `switchboard` CLI (a subprocess, colours off) must
 * print each of them as a visible escape (`\x1b`, `\u202e`) and never the character itself.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createAgent, type Agent } from "../../src/agent/index.js";
import { createCoordinator, type Coordinator } from "../../src/coordinator/index.js";
import { ServiceError, Subjects, encodeJson } from "../../src/protocol/index.js";
import { alertEvent } from "../helpers/alerting.js";
import { killAllCli, runCli, startCli } from "../helpers/cli.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { uniquePrefix } from "../helpers/wait.js";

/** Any character a terminal would act on, except the newline ending each line. */
// eslint-disable-next-line no-control-regex
const ACTIVE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/u;
const CLEAR = "\u001b[2J\u001b[H";
const RLO = "\u202e";

describe("security: the CLI never prints control or bidi characters from the bus", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let coordinator: Coordinator;
  let agent: Agent;
  const prefix = uniquePrefix();
  const s = new Subjects(prefix);
  const common = () => ["--servers", server.url, "--prefix", prefix];

  beforeAll(async () => {
    server = await startNatsServer({ jetstream: false });
    nc = await connect({ servers: server.url });
    coordinator = createCoordinator({ servers: server.url, prefix, jetstream: false, removeAfterIntervals: 1000 });
    await coordinator.start();
    agent = createAgent({ service: "evil", servers: server.url, prefix, version: `1.0${CLEAR}${RLO}gnp.exe`, heartbeatMs: 200, metricsIntervalMs: 0 });
    agent.endpoint("say", () => `hello${CLEAR}\r\nFAKE ROW${RLO}\u0085`);
    agent.endpoint("refuse", () => {
      throw new ServiceError("NOPE", `denied${CLEAR}${RLO}`);
    });
    await agent.start();
    const reg = await nc.request(s.registryRegister, encodeJson({ v: 1, serviceName: "http-evil", serviceAddress: `http://x${CLEAR}\r\nhttp-evil  forged  up${RLO}`, ttlMs: 60_000 }), { timeout: 2000 });
    expect(reg.json<{ status: string }>().status).toBe("success");
  });
  afterAll(async () => {
    await killAllCli();
    await agent?.stop();
    await coordinator?.stop();
    await nc?.close();
    await server?.dispose();
  });

  it("ls escapes a registered address and an announced version", async () => {
    const r = await runCli(["ls", ...common()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(ACTIVE);
    expect(r.stdout).toContain("1.0\\x1b[2J\\x1b[H\\u202egnp.exe");
    expect(r.stdout).toContain("http://x\\x1b[2J\\x1b[H\\x0d\\x0ahttp-evil  forged  up\\u202e");
    // One line per instance: no row was forged.
    expect(r.stdout.split("\n").filter((l) => l.startsWith("http-evil"))).toHaveLength(1);
    // --json stays exact (JSON escapes) and parses back to the registered text.
    const j = await runCli(["ls", ...common(), "--json"]);
    expect(j.stdout).not.toMatch(ACTIVE);
    const versions = (JSON.parse(j.stdout) as { instances: Array<{ instance: { version: string } }> }).instances.map((v) => v.instance.version);
    expect(versions).toContain(`1.0${CLEAR}${RLO}gnp.exe`);
  });

  it("watch escapes the current registry and live events", async () => {
    const watch = startCli(["watch", ...common()]);
    await watch.waitFor(/\(current\)[\s\S]*\(current\)/);
    await watch.waitFor(/watching/, { stream: "stderr" });
    const late = createAgent({ service: "evil", id: "late", servers: server.url, prefix, version: `2${CLEAR}`, heartbeatMs: 200, metricsIntervalMs: 0 });
    await late.start();
    await watch.waitFor(/UP\s+evil\s+late/);
    await late.stop();
    await watch.waitFor(/REMOVED\s+evil\s+late/);
    await watch.stop();
    expect(watch.stdout()).not.toMatch(ACTIVE);
    expect(watch.stdout()).toContain("2\\x1b[2J\\x1b[H");
    expect(watch.stdout()).toContain("\\u202egnp.exe");
  });

  it("alerts escapes rule, summary, acknowledgement author and comment", async () => {
    const tail = startCli(["alerts", ...common()]);
    await tail.waitFor(/tailing/, { stream: "stderr" });
    const ev = alertEvent({ rule: `Rule${CLEAR}`, service: "evil", annotations: { summary: `all good${RLO}\u009b2J` } });
    nc.publish(s.alert(ev.severity, ev.service), encodeJson(ev));
    nc.publish(s.alertAck, encodeJson({ v: 1, fingerprint: ev.fingerprint, by: `root${CLEAR}`, comment: `ok\r\nFIRING fake${RLO}` }));
    await tail.waitFor(/ACK/);
    await tail.stop();
    const out = tail.stdout();
    expect(out).not.toMatch(ACTIVE);
    expect(out).toContain("Rule\\x1b[2J\\x1b[H");
    expect(out).toContain("all good\\u202e\\x9b2J");
    expect(out).toContain("by root\\x1b[2J\\x1b[H: ok\\x0d\\x0aFIRING fake\\u202e");
    expect(out.split("\n").filter(Boolean)).toHaveLength(2);
  });

  it("call escapes a reply and a callee's error message", async () => {
    const ok = await runCli(["call", "evil", "say", ...common()]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).not.toMatch(ACTIVE);
    expect(ok.stdout).toContain("FAKE ROW\\u202e\\u0085");
    const failed = await runCli(["call", "evil", "refuse", ...common()]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).not.toMatch(ACTIVE);
    expect(failed.stderr).toContain("NOPE: denied\\x1b[2J\\x1b[H\\u202e");
  });
});
