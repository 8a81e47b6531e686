/** Shared pieces of the alerting integration tests: a failing service with traffic, alert events, mail checks. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { createAgent, type Agent } from "../../src/agent/index.js";
import { alertFingerprint, alertMsgId, createCollector, type Collector, type CollectorOptions } from "../../src/monitor/index.js";
import { encodeJson, type AlertEvent, type Subjects } from "../../src/protocol/index.js";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { ReceivedMail } from "./smtp.js";

/** Writes a rules file into a fresh temporary folder and returns its path. */
export function writeRules(text: string, name = "rules.yaml"): string {
  const file = join(mkdtempSync(join(tmpdir(), "sb-alert-rules-")), name);
  writeFileSync(file, text);
  return file;
}

/**
 * A collector with one rule, InstanceDown (every service, critical), evaluating every 100 ms with a
 * 100 ms delay, as the chaos scenarios use it; `opts` adds the connection and overrides the rest.
 */
export function instanceDownCollector(opts: CollectorOptions): Collector {
  return createCollector({
    evaluationIntervalMs: 100,
    evaluationDelayMs: 100,
    rules: writeRules(`rules:\n  - { name: InstanceDown, service: "*", metric: instance_down, severity: critical }\n`),
    ...opts,
  });
}

/** An agent serving `work`, which fails while `behaviour.fail` is set. */
export async function failingService(url: string, prefix: string, service: string, behaviour: { fail: boolean }): Promise<Agent> {
  const agent = createAgent({ service, servers: url, prefix, heartbeatMs: 100, metricsIntervalMs: 100 });
  agent.endpoint("work", async (payload) => {
    if (behaviour.fail) throw new Error("failing on purpose");
    return payload;
  });
  await agent.start();
  return agent;
}

/** Sends a request to `service`'s `work` every `everyMs` until the returned function is called. */
export function traffic(nc: NatsConnection, subjects: Subjects, service: string, everyMs = 10): () => Promise<void> {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        await nc.request(subjects.service(service, "work"), encodeJson({ at: Date.now() }), { timeout: 1000 });
      } catch {
        // no responders while starting or stopping: fine
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}

/** A valid alert event, as a collector would publish it. */
export function alertEvent(over: Partial<AlertEvent> & { rule: string; service: string }): AlertEvent {
  const severity = over.severity ?? "critical";
  const labels = over.labels ?? { alertname: over.rule, service: over.service, severity };
  return {
    v: 1,
    fingerprint: over.fingerprint ?? alertFingerprint(labels),
    status: "firing",
    severity,
    metric: "error_rate",
    op: ">",
    threshold: 0.5,
    value: 0.9,
    labels,
    annotations: {},
    startsAt: 1_700_000_000_000,
    ...over,
  };
}

/** Publishes an alert event into the alert stream the way collectors do (JetStream, Nats-Msg-Id). */
export async function publishAlert(js: JetStreamClient, subjects: Subjects, ev: AlertEvent): Promise<void> {
  await js.publish(subjects.alert(ev.severity, ev.service), encodeJson(ev), { msgID: alertMsgId(ev) });
}

/** The transition keys a mail reports (its X-Switchboard-Transitions header). */
export function transitionsOf(m: ReceivedMail): string[] {
  const h = m.parsed.headers.get("x-switchboard-transitions");
  return typeof h === "string" && h ? h.split(",").map((s) => s.trim()) : [];
}

/** The kind of a mail (alerts or repeat). */
export function kindOf(m: ReceivedMail): string {
  return String(m.parsed.headers.get("x-switchboard-kind") ?? "");
}

/** Every transition key of every mail, in arrival order. */
export function allTransitions(mails: readonly ReceivedMail[]): string[] {
  return mails.flatMap(transitionsOf);
}
