/**
 * The `switchboard` CLI as a user runs it: real subprocesses (from source, via tsx) against a real
 * nats-server, with a coordinator and a collector started through the CLI itself, real agents, and
 * instances killed with SIGKILL.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createAgent, type Agent } from "../../src/agent/index.js";
import { encodeJson, type AlertEvent } from "../../src/protocol/index.js";
import { buildProgram } from "../../src/cli/index.js";
import { freePort, startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startAgentProcess } from "../helpers/processes.js";
import { startSmtpServer } from "../helpers/smtp.js";
import { killAllCli, runCli, startCli, type CliProcess } from "../helpers/cli.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";

const ANSI = /\x1b\[/;

describe("switchboard CLI", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let coordinator: CliProcess;
  const prefix = uniquePrefix();
  const agents: Agent[] = [];
  const dir = mkdtempSync(join(tmpdir(), "sb-cli-test-"));
  const common = () => ["--servers", server.url, "--prefix", prefix];
  /** The fingerprint of the alert the collector raised (alerts test), acknowledged in the ack test. */
  let firedFingerprint = "";

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    // Down instances stay listed (not removed) for the file's duration, so the alert raised for a
    // killed instance is still firing when the ack test acknowledges it.
    coordinator = startCli(["coordinator", ...common(), "--id", "cli-test-coordinator", "--remove-after", "100000"]);
    await coordinator.waitFor(/coordinator cli-test-coordinator running/, { stream: "stderr" });
    for (let i = 0; i < 2; i++) {
      const agent = createAgent({ servers: server.url, prefix, service: "echo", version: "1.2.3", heartbeatMs: 100 });
      agent.endpoint("echo", (payload) => ({ echo: payload ?? null, from: agent.id }));
      agent.endpoint("fail", () => {
        throw new Error("failing on purpose");
      });
      await agent.start();
      agents.push(agent);
    }
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    const coordinatorExit = await coordinator?.stop("SIGTERM");
    // Whatever a failed test left running.
    await killAllCli();
    await nc?.close();
    await server?.dispose();
    rmSync(dir, { recursive: true, force: true });
    expect(coordinatorExit).toBe(0);
  });

  it("ls lists the running instances as a table and as JSON", async () => {
    const snapshot = await waitFor(async () => {
      const r = await runCli(["ls", ...common(), "--json"]);
      if (r.code !== 0) return undefined;
      const s = JSON.parse(r.stdout) as { instances: Array<{ state: string; inFlight: number; instance: { id: string; service: string; version: string } }> };
      return s.instances.filter((v) => v.state === "up").length === 2 ? s : undefined;
    }, { timeoutMs: 15_000, what: "ls --json to list both instances" });
    expect(snapshot.instances.map((v) => v.instance.id).sort()).toEqual(agents.map((a) => a.id).sort());
    expect(snapshot.instances.every((v) => v.instance.service === "echo" && v.instance.version === "1.2.3")).toBe(true);

    const human = await runCli(["ls", ...common()]);
    expect(human.code).toBe(0);
    const lines = human.stdout.split("\n");
    expect(lines[0]).toMatch(/^SERVICE\s+INSTANCE\s+STATE\s+AGE\s+LOAD/);
    for (const a of agents) expect(lines.find((l) => l.includes(a.id))).toMatch(new RegExp(`^echo\\s+${a.id}\\s+up\\s+\\d+(ms|s)\\s+\\d+\\s+1\\.2\\.3`));
    expect(human.stdout).toMatch(/2 instances of 1 service: echo 2 up/);
    // Not a TTY: no colour codes.
    expect(human.stdout).not.toMatch(ANSI);

    const filtered = await runCli(["ls", "nosuch", ...common(), "--json"]);
    expect(JSON.parse(filtered.stdout).instances).toEqual([]);
  });

  it("call returns the reply, and a failing call exits 1 with a one-line reason", async () => {
    // Independent runs, side by side.
    const [r, piped, failed, unknown, badJson] = await Promise.all([
      runCli(["call", "echo", "echo", '{"hello":"world"}', ...common(), "--json"]),
      runCli(["call", "echo", "echo", "-", ...common()], { input: "[1,2,3]" }),
      runCli(["call", "echo", "fail", "{}", ...common()]),
      runCli(["call", "nosuch", "echo", "{}", ...common()]),
      runCli(["call", "echo", "echo", "{oops", ...common()]),
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const reply = JSON.parse(r.stdout) as { echo: unknown; from: string };
    expect(reply.echo).toEqual({ hello: "world" });
    expect(agents.map((a) => a.id)).toContain(reply.from);

    expect(piped.code).toBe(0);
    expect(JSON.parse(piped.stdout).echo).toEqual([1, 2, 3]);

    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe("");
    expect(failed.stderr.trim().split("\n")).toHaveLength(1);
    expect(failed.stderr).toMatch(/^switchboard: call echo\.fail failed: INTERNAL: .*failing on purpose/);

    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/NOT_FOUND: no instance of nosuch/);

    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toMatch(/payload is not valid JSON/);
  });

  it("watch prints the change when an instance stops", async () => {
    const watch = startCli(["watch", ...common(), "--json", "--no-initial"]);
    await watch.waitFor(/watching/, { stream: "stderr" });
    // Garbage on the events subject is refused (a warning on stderr) and the watch goes on.
    nc.publish(`${prefix}.registry.events`, new TextEncoder().encode("{not json"));
    await watch.waitFor(/warning: refused invalid registry-event message/, { stream: "stderr" });
    const leaving = agents.pop()!;
    await leaving.stop();
    const m = await watch.waitFor(new RegExp(`^(\\{.*"type":"removed".*"id":"${leaving.id}".*\\})$`, "m"));
    const event = JSON.parse(m[1]!) as { v: number; type: string; revision: number; instance: { instance: { id: string; service: string } } };
    expect(event).toMatchObject({ v: 1, type: "removed", instance: { instance: { id: leaving.id, service: "echo" } } });
    expect(await watch.stop("SIGINT")).toBe(0);

    // The human form, for an instance that crashes (SIGKILL): suspect, then down.
    const human = startCli(["watch", "crashy", ...common()]);
    await human.waitFor(/watching/, { stream: "stderr" });
    const victim = await startAgentProcess({ NATS_URL: server.url, SB_PREFIX: prefix, SB_SERVICE: "crashy", SB_HEARTBEAT_MS: "100" });
    await human.waitFor(new RegExp(`UP\\s+crashy\\s+${victim.ready}`));
    await victim.kill();
    await human.waitFor(new RegExp(`SUSPECT\\s+crashy\\s+${victim.ready}`));
    await human.waitFor(new RegExp(`DOWN\\s+crashy\\s+${victim.ready}`));
    expect(human.stdout()).not.toContain("echo");
    expect(await human.stop("SIGTERM")).toBe(0);
  });

  it("alerts prints the alert a collector raises for a killed instance, and filters by severity and service", async () => {
    const rules = join(dir, "rules.yaml");
    writeFileSync(rules, "rules:\n  - name: InstanceDown\n    service: doomed\n    metric: instance_down\n    severity: critical\n");
    const collector = startCli(["collector", ...common(), "--rules", rules, "--evaluation-interval", "250ms", "--metrics-port", "0"]);
    await collector.waitFor(/collector \S+ running .*1 alert rule/, { stream: "stderr" });
    const all = startCli(["alerts", ...common(), "--json"]);
    const onlyWarning = startCli(["alerts", ...common(), "--severity", "warning"]);
    await all.waitFor(/tailing/, { stream: "stderr" });
    await onlyWarning.waitFor(/tailing/, { stream: "stderr" });

    const victim = await startAgentProcess({ NATS_URL: server.url, SB_PREFIX: prefix, SB_SERVICE: "doomed", SB_HEARTBEAT_MS: "100" });
    await waitFor(async () => (await runCli(["ls", "doomed", ...common(), "--json"])).stdout.includes(victim.ready), { what: "doomed registered" });
    await victim.kill();
    const m = await all.waitFor(/^(\{.*"status":"firing".*\})$/m, { timeoutMs: 20_000 });
    const alert = JSON.parse(m[1]!) as AlertEvent;
    expect(alert).toMatchObject({ v: 1, status: "firing", rule: "InstanceDown", service: "doomed", severity: "critical", instance: victim.ready, metric: "instance_down" });
    expect(alert.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    firedFingerprint = alert.fingerprint;

    // A warning for another service: the filtered tail shows it in human form, and only it.
    const warning: AlertEvent = {
      v: 1,
      fingerprint: "00112233aabbccdd",
      status: "firing",
      rule: "SlowResponses",
      service: "billing",
      severity: "warning",
      metric: "latency_p99",
      op: ">",
      threshold: 500,
      value: 812.5,
      labels: { alertname: "SlowResponses", service: "billing", severity: "warning" },
      annotations: { summary: "billing is slow" },
      startsAt: Date.now(),
    };
    nc.publish(`${prefix}.alerts.warning.billing`, encodeJson(warning));
    // Garbage on the alert subjects is refused, not printed, and does not stop the tail.
    nc.publish(`${prefix}.alerts.warning.billing`, encodeJson({ v: 1, nonsense: true }));
    nc.publish(`${prefix}.alerts.warning.billing`, new TextEncoder().encode("not json"));
    await onlyWarning.waitFor(/FIRING\s+warning\s+billing\s+SlowResponses latency_p99=812\.5 \(> 500\)\s+billing is slow\s+fp 00112233aabbccdd/);
    await all.waitFor(/"fingerprint":"00112233aabbccdd"/);
    expect(onlyWarning.stdout()).not.toContain("InstanceDown");
    await onlyWarning.waitFor(/warning: refused invalid alert message/, { stream: "stderr" });

    const byService = await runCli(["alerts", ...common(), "--service", "a.b"]);
    expect(byService.code).toBe(2);

    for (const p of [all, onlyWarning, collector]) expect(await p.stop("SIGINT")).toBe(0);
  });

  it("ack is stored by a notifier (which mailed the alert) and seen by subscribers", async () => {
    expect(firedFingerprint).toMatch(/^[0-9a-f]{16}$/);
    const smtp = await startSmtpServer();
    const notifier = startCli([
      "notifier",
      ...common(),
      "--smtp-host",
      smtp.host,
      "--smtp-port",
      String(smtp.port),
      "--from",
      "switchboard@test.local",
      "--to",
      "oncall@test.local",
      "--group-wait",
      "200ms",
      "--id",
      "cli-test-notifier",
    ]);
    try {
      await notifier.waitFor(/notifier cli-test-notifier running/, { stream: "stderr" });
      // The notifier reads the alert stream from its start: the alert raised earlier is mailed.
      const [mail] = await smtp.waitForMails(1, { timeoutMs: 15_000 });
      expect(mail!.parsed.subject).toContain("InstanceDown");
      expect(mail!.to).toEqual(["oncall@test.local"]);

      const tail = startCli(["alerts", ...common()]);
      await tail.waitFor(/tailing/, { stream: "stderr" });
      const seen: unknown[] = [];
      const sub = nc.subscribe(`${prefix}.alerts.ack`, { callback: (_e, m) => void seen.push(m.json()) });
      await nc.flush();

      const r = await runCli(["ack", firedFingerprint, ...common(), "--by", "tester@example.com", "--for", "2h", "--comment", "on it"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^acknowledged InstanceDown \(doomed, critical\) until \S+ by tester@example\.com \(notifier cli-test-notifier\)$/m);
      await waitFor(() => seen.length === 1, { what: "the ack on the subject" });
      expect(seen[0]).toMatchObject({ v: 1, fingerprint: firedFingerprint, by: "tester@example.com", comment: "on it" });
      expect((seen[0] as { until: number }).until).toBeGreaterThan(Date.now() + 7_000_000);
      await tail.waitFor(new RegExp(`ACK\\s+fp ${firedFingerprint} by tester@example\\.com until .*: on it`));
      sub.unsubscribe();
      expect(await tail.stop("SIGINT")).toBe(0);

      const json = await runCli(["ack", firedFingerprint, ...common(), "--json"]);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject({ v: 1, fingerprint: firedFingerprint, acked: true, known: true, notifier: "cli-test-notifier" });

      const invalid = await runCli(["ack", "XYZ", ...common()]);
      expect(invalid.code).toBe(2);
      expect(invalid.stderr.trim()).toBe('switchboard: invalid fingerprint "XYZ": expected 16 lower-case hex digits');
    } finally {
      expect(await notifier.stop("SIGTERM")).toBe(0);
      await smtp.dispose();
    }

    // Without a notifier, nobody stores the ack: say so, exit 1.
    const orphan = await runCli(["ack", firedFingerprint, ...common()]);
    expect(orphan.code).toBe(1);
    expect(orphan.stderr.trim()).toBe(`switchboard: no notifier answers on ${prefix}.alerts.ack: the acknowledgement was not stored; start one with \`switchboard notifier\``);
  });

  it("fails with a one-line reason naming the URL when no NATS server answers", async () => {
    const port = await freePort();
    const commands = [["ls"], ["watch"], ["call", "echo", "echo"], ["alerts"], ["ack", "00112233aabbccdd"], ["coordinator"], ["collector"], ["notifier", "--to", "a@b.example"], ["gateway", "--port", "0"]];
    const results = await Promise.all(commands.map((args) => runCli([...args, "--servers", `nats://127.0.0.1:${port}`])));
    results.forEach((r, i) => {
      const args = commands[i]!;
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stdout).toBe("");
      const lines = r.stderr.trim().split("\n");
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^switchboard: no NATS server answers at nats://127\\.0\\.0\\.1:${port} \\(connection refused\\): start one with \`nats-server -js\``));
    });
    // The same through NATS_URL.
    const viaEnv = await runCli(["ls"], { env: { NATS_URL: `nats://127.0.0.1:${port}` } });
    expect(viaEnv.code).toBe(1);
    expect(viaEnv.stderr).toContain(`nats://127.0.0.1:${port}`);
  });

  it("takes settings from NATS_URL/SB_PREFIX and from a validated config file", async () => {
    const viaEnv = await runCli(["ls", "--json"], { env: { NATS_URL: server.url, SB_PREFIX: prefix } });
    expect(viaEnv.code).toBe(0);
    expect(JSON.parse(viaEnv.stdout).instances.length).toBeGreaterThan(0);

    const yamlFile = join(dir, "switchboard.yaml");
    writeFileSync(yamlFile, `prefix: ${prefix}\nnats:\n  servers: [${server.url}]\n`);
    const viaConfig = await runCli(["ls", "--json", "--config", yamlFile]);
    expect(viaConfig.code).toBe(0);
    expect(JSON.parse(viaConfig.stdout).instances.length).toBeGreaterThan(0);

    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ prefix, nats: { servers: server.url }, colour: "blue" }));
    const refused = await runCli(["ls", "--config", bad]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trim()).toBe(`switchboard: config file ${bad} is invalid: / has unknown property "colour"`);
  });

  it("documents every command with an example in --help", async () => {
    const top = await runCli(["--help"]);
    expect(top.code).toBe(0);
    const commands = ["coordinator", "collector", "notifier", "gateway", "ls", "watch", "call", "alerts", "ack", "demo"];
    for (const c of commands) expect(top.stdout).toMatch(new RegExp(`^  ${c} `, "m"));
    const sub = await runCli(["ls", "--help"]);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toMatch(/^Usage: switchboard ls /);
    // Every command's help, rendered by the same program in-process (one subprocess per command adds nothing).
    const program = buildProgram();
    for (const c of commands) {
      const cmd = program.commands.find((x) => x.name() === c)!;
      let help = "";
      cmd.configureOutput({ writeOut: (t) => (help += t) });
      cmd.outputHelp();
      expect(help, c).toMatch(/Examples?:\n  \$ (\S+=\S+ )*switchboard /);
      for (const opt of ["--servers", "--user", "--password", "--token", "--creds", "--nkey", "--tls-ca", "--tls-cert", "--tls-key", "--prefix", "--json", "--config"]) {
        expect(help, `${c} ${opt}`).toContain(opt);
      }
    }
  });
});
