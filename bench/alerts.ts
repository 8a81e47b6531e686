/**
 * Alerting benchmark, two measurements on one JetStream nats-server:
 *
 * 1. Ingestion: metric snapshots per second one collector ingests (decode, schema validation,
 *    aggregation), with a publisher of N simulated instances in its own process, flow-controlled
 *    so the server never drops for a slow consumer. The collector evaluates two rules meanwhile.
 * 2. Breach to mail: for many independent breaches (each a fresh service whose first snapshot shows
 *    every request failing), the time from the breach (the sentAt of that snapshot) plus the rule's
 *    `for` until the SMTP server (smtp-server, in this process) accepted the mail. Collector and
 *    notifier run with their defaults except the notifier's groupWait, which is 0 here: the default
 *    30 s is a deliberate batching delay, not pipeline latency.
 *
 * `npx tsx bench/alerts.ts [--quick]`, or `run(opts)` from a driver.
 */
import { type AddressInfo } from "node:net";
import { cpus } from "node:os";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import * as hdr from "hdr-histogram-js";
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import { findNatsServer, startLocalNats } from "../src/cli/demo/LocalNatsServer.js";
import { createCollector, parseAlertRules } from "../src/monitor/index.js";
import { createMailNotifier } from "../src/notify/index.js";
import { Subjects, createLogger, type MetricsSnapshot } from "../src/protocol/index.js";
import { runIfMain } from "./common/runIfMain.js";
import { startWorker } from "./common/workers.js";

/** Options of {@link run}. */
export interface AlertsBenchOptions {
  /** Short runs (under 40 s in all). */
  quick?: boolean;
  /** Simulated instances of the ingestion publisher (default 10 000). */
  instances?: number;
  warmupMs?: number;
  measureMs?: number;
  /** Breaches measured (default 200, quick 40). */
  breaches?: number;
  /** The rule's `for` in ms (default 1000). */
  forMs?: number;
  /** Where progress and the report go (default stdout). */
  log?: (line: string) => void;
}

/** What {@link run} returns. */
export interface AlertsBenchReport {
  ingest: { snapshots: number; seconds: number; rate: number; instances: number; heapMB: number };
  latency: { samples: number; forMs: number; p50: number; p99: number; max: number; evaluationIntervalMs: number; evaluationDelayMs: number };
  natsServerVersion: string;
  node: string;
  cpus: number;
  markdown: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quiet = (component: string) => createLogger(component, { level: process.env.SB_LOG_LEVEL ?? "warn" });

const RULES = (forMs: number) => `
rules:
  - { name: Breach, service: "*", metric: error_rate, op: ">", threshold: 0.5, for: ${forMs}, window: 1s, severity: critical }
  - { name: Slow, service: "*", metric: latency_p99, op: ">", threshold: 5000, for: 5s, severity: warning }
`;

async function ingest(url: string, nc: NatsConnection, o: { instances: number; warmupMs: number; measureMs: number }, log: (l: string) => void) {
  const prefix = `ab${process.pid}i`;
  const collector = createCollector({ servers: url, prefix, rules: parseAlertRules(RULES(1000)), persistAlerts: false, logger: quiet("collector") });
  await collector.start();
  const progress = setInterval(() => nc.publish(`${prefix}.bench.progress`, String(collector.stats().received)), 20);
  const publisher = startWorker({ script: new URL("./alerts/publisher", import.meta.url), env: { NATS_URL: url, SB_PREFIX: prefix, N: String(o.instances) } });
  try {
    await publisher.ready;
    await sleep(o.warmupMs);
    const r0 = collector.stats().received;
    const t0 = performance.now();
    await sleep(o.measureMs);
    const r1 = collector.stats().received;
    const seconds = (performance.now() - t0) / 1000;
    const invalid = Object.values(collector.stats().invalid).reduce((a, b) => a + b, 0);
    if (invalid > 0) throw new Error(`${invalid} snapshots refused during the ingestion run`);
    const rate = (r1 - r0) / seconds;
    const heapMB = Math.round(process.memoryUsage().heapUsed / (1024 * 1024));
    log(`ingest: ${Math.round(rate)} snapshots/s over ${seconds.toFixed(1)} s (${o.instances} simulated instances; heap ${heapMB} MB)`);
    return { snapshots: r1 - r0, seconds, rate, instances: o.instances, heapMB };
  } finally {
    clearInterval(progress);
    await publisher.stop();
    await collector.stop();
  }
}

async function latency(url: string, nc: NatsConnection, o: { breaches: number; forMs: number }, log: (l: string) => void) {
  const prefix = `ab${process.pid}l`;
  const subjects = new Subjects(prefix);
  const accepted = new Map<string, number>();
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    disableReverseLookup: true,
    logger: false,
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        const at = Date.now(); // the moment the server accepts the mail
        callback();
        void simpleParser(Buffer.concat(chunks)).then((m) => {
          const svc = /^\[FIRING\] Breach: (\S+) /.exec(m.subject ?? "")?.[1];
          if (svc && !accepted.has(svc)) accepted.set(svc, at);
        });
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, "127.0.0.1", () => r()));
  const smtpPort = (smtp.server.address() as AddressInfo).port;
  const collector = createCollector({ servers: url, prefix, rules: parseAlertRules(RULES(o.forMs)), logger: quiet("collector") });
  await collector.start();
  const notifier = createMailNotifier({
    servers: url,
    prefix,
    smtp: { host: "127.0.0.1", port: smtpPort, secure: false, from: "bench@example.com" },
    to: "ops@example.com",
    groupWaitMs: 0,
    logger: quiet("notifier"),
  });
  await notifier.start();
  const breachAt = new Map<string, number>();
  const timers: NodeJS.Timeout[] = [];
  const bounds = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000];
  try {
    for (let i = 0; i < o.breaches; i++) {
      const service = `breach${i}`;
      const snap: MetricsSnapshot = {
        v: 1,
        service,
        id: "i1",
        seq: 0,
        sentAt: 0,
        startedAt: Date.now() - 1000,
        intervalMs: 100,
        endpoints: [{ endpoint: "work", requests: 0, errors: 0, latencyMs: { bounds, counts: bounds.map(() => 0), sum: 0, count: 0 } }],
      };
      // Every snapshot reports ten more failed requests; the first one is the breach.
      const publish = () => {
        const ep = snap.endpoints[0]!;
        ep.requests += 10;
        ep.errors += 10;
        ep.latencyMs.count += 10;
        ep.latencyMs.sum += 10;
        for (let k = 0; k < bounds.length; k++) ep.latencyMs.counts[k]! += 10;
        snap.seq++;
        snap.sentAt = Date.now();
        if (snap.seq === 1) breachAt.set(service, snap.sentAt);
        nc.publish(subjects.metrics(service, "i1"), JSON.stringify(snap));
        if (accepted.has(service)) clearInterval(timer);
      };
      const timer = setInterval(publish, 100);
      timers.push(timer);
      publish();
      await sleep(150);
    }
    const deadline = Date.now() + o.forMs + 15_000;
    while (accepted.size < o.breaches && Date.now() < deadline) await sleep(50);
  } finally {
    for (const t of timers) clearInterval(t);
    await notifier.stop();
    await collector.stop();
    await new Promise<void>((r) => smtp.close(() => r()));
  }
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000, numberOfSignificantValueDigits: 3 });
  let samples = 0;
  for (const [svc, at] of accepted) {
    const b = breachAt.get(svc);
    if (b === undefined) continue;
    h.recordValue(Math.max(1, at - (b + o.forMs)));
    samples++;
  }
  if (samples < o.breaches) log(`latency: only ${samples} of ${o.breaches} breaches were mailed in time`);
  const res = { samples, forMs: o.forMs, p50: h.getValueAtPercentile(50), p99: h.getValueAtPercentile(99), max: h.maxValue, evaluationIntervalMs: 500, evaluationDelayMs: 200 };
  log(`breach → mail accepted, beyond for=${o.forMs} ms: p50 ${res.p50} ms, p99 ${res.p99} ms, max ${res.max} ms (${samples} breaches)`);
  return res;
}

/** Runs both measurements and returns the numbers and a markdown table. */
export async function run(opts: AlertsBenchOptions = {}): Promise<AlertsBenchReport> {
  const quick = opts.quick ?? false;
  const log = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const server = await startLocalNats(findNatsServer(), { detached: false });
  const nc = await connect({ servers: server.url, noAsyncTraces: true });
  try {
    const ing = await ingest(server.url, nc, { instances: opts.instances ?? 10_000, warmupMs: opts.warmupMs ?? (quick ? 2000 : 3000), measureMs: opts.measureMs ?? (quick ? 5000 : 15_000) }, log);
    const lat = await latency(server.url, nc, { breaches: opts.breaches ?? (quick ? 40 : 200), forMs: opts.forMs ?? 1000 }, log);
    const node = process.version;
    const markdown = [
      `| measurement | result |`,
      `|---|---|`,
      `| metric snapshots ingested by one collector (${ing.instances} simulated instances, 3 endpoints each, publisher in its own process) | ${Math.round(ing.rate).toLocaleString("en-US")} /s |`,
      `| breach → mail accepted by SMTP, beyond \`for\` (${lat.samples} breaches, for ${lat.forMs} ms) | p50 ${lat.p50} ms, p99 ${lat.p99} ms, max ${lat.max} ms |`,
    ].join("\n");
    log("");
    log(markdown);
    log(`\n(nats-server ${server.version}, node ${node}, ${cpus().length} cores)`);
    return { ingest: ing, latency: lat, natsServerVersion: server.version, node, cpus: cpus().length, markdown };
  } finally {
    await nc.close();
    await server.stop();
  }
}

runIfMain(import.meta.url, (argv) => run({ quick: argv.includes("--quick") }));
