/**
 * Heartbeat loss is an alert: an agent process killed with SIGKILL is reported down by the real
 * coordinator, the collector turns the registry event into an instance_down alert, and it is mailed.
 */
import { connect } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { createCoordinator } from "../../src/coordinator/index.js";
import { createCollector } from "../../src/monitor/index.js";
import { createMailNotifier } from "../../src/notify/index.js";
import { Subjects, decodeJson, type AlertEvent, type RegistryEvent } from "../../src/protocol/index.js";
import { writeRules } from "../helpers/alerting.js";
import { startNatsServer } from "../helpers/nats-server.js";
import { startAgentProcess } from "../helpers/processes.js";
import { startSmtpServer } from "../helpers/smtp.js";
import { sleep, uniquePrefix, waitFor } from "../helpers/wait.js";
import { CleanupStack } from "../helpers/cleanup.js";

describe("instance-down alerts", () => {
  const cleanup = new CleanupStack();
  afterEach(async () => {
    await cleanup.run();
  });

  it("killing an instance (SIGKILL) produces an instance-down mail; its removal resolves it", async () => {
    const srv = await startNatsServer();
    cleanup.push(() => srv.dispose());
    const smtp = await startSmtpServer();
    cleanup.push(() => smtp.dispose());
    const nc = await connect({ servers: srv.url });
    cleanup.push(() => nc.close());
    const prefix = uniquePrefix();
    const subjects = new Subjects(prefix);
    const registryEvents: RegistryEvent[] = [];
    nc.subscribe(subjects.registryEvents, { callback: (_e, m) => void registryEvents.push(decodeJson(m.data) as RegistryEvent) });

    const coordinator = createCoordinator({ servers: srv.url, prefix, leaseMs: 600, removeAfterIntervals: 15 });
    await coordinator.start();
    cleanup.push(() => coordinator.stop());
    const collector = createCollector({
      servers: srv.url,
      prefix,
      evaluationIntervalMs: 100,
      evaluationDelayMs: 100,
      rules: writeRules(`
rules:
  - name: InstanceDown
    service: "*"
    metric: instance_down
    severity: warning
    annotations:
      summary: "{{ $labels.service }} instance {{ $labels.instance }} stopped heartbeating"
`),
    });
    const alerts: AlertEvent[] = [];
    collector.onAlert((e) => alerts.push(e));
    await collector.start();
    cleanup.push(() => collector.stop());
    const notifier = createMailNotifier({
      servers: srv.url,
      prefix,
      smtp: { host: smtp.host, port: smtp.port, secure: false, from: "switchboard@example.com" },
      to: "oncall@example.com",
      groupWaitMs: 100,
      groupIntervalMs: 200,
    });
    await notifier.start();
    cleanup.push(() => notifier.stop());

    const env = { NATS_URL: srv.url, SB_PREFIX: prefix, SB_SERVICE: "orders", SB_HEARTBEAT_MS: "100" };
    const victim = await startAgentProcess(env);
    cleanup.push(() => victim.kill());
    const survivor = await startAgentProcess(env);
    cleanup.push(() => survivor.kill());
    await waitFor(() => registryEvents.filter((e) => e.type === "up").length >= 2, { what: "both instances up" });

    const killedAt = Date.now();
    await victim.kill();
    const [mail] = await smtp.waitForMails(1, { timeoutMs: 10_000 });
    expect(mail!.parsed.subject).toBe(`[FIRING] InstanceDown: orders/${victim.ready} (warning)`);
    expect(mail!.to).toEqual(["oncall@example.com"]);
    const text = mail!.parsed.text!;
    expect(text).toContain(`Instance: ${victim.ready}`);
    expect(text).toContain("instance reported down by the registry");
    expect(text).toContain(`Summary: orders instance ${victim.ready} stopped heartbeating`);
    const down = registryEvents.find((e) => e.type === "down")!;
    expect(down.instance.instance.id).toBe(victim.ready);
    const fired = alerts.find((a) => a.status === "firing")!;
    expect(fired).toMatchObject({ metric: "instance_down", service: "orders", instance: victim.ready, severity: "warning" });
    expect(fired.startsAt).toBeGreaterThanOrEqual(killedAt);

    // Removal after 15 intervals resolves it; the survivor never alerted.
    const [, resolved] = await smtp.waitForMails(2, { timeoutMs: 10_000 });
    expect(resolved!.parsed.subject).toBe(`[RESOLVED] InstanceDown: orders/${victim.ready} (warning)`);
    await sleep(500);
    expect(smtp.mails).toHaveLength(2);
    expect(alerts.every((a) => a.instance === victim.ready)).toBe(true);
  });
});
