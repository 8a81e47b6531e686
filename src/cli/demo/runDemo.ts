/**
 * `switchboard demo`: the whole system on one machine. It makes sure a NATS server is there
 * (starting a private one when nothing answers at NATS_URL), runs a coordinator, a collector with
 * an instance-down rule, a mail notifier delivering to an in-process SMTP catcher, and three demo
 * service instances as child processes; drives balanced calls, SIGKILLs one instance to show
 * failover without a failed call, and shows the alert and the mail it causes. Everything it starts
 * it stops again, on --duration, Ctrl-C or failure.
 */
import { isAbsolute, resolve as resolvePath, relative } from "node:path";
import { randomBytes } from "node:crypto";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { createClient } from "../../client/index.js";
import { Subjects, decodeMessage, decodeWith, type AlertEvent, type InstanceView } from "../../protocol/index.js";
import { closeQuietly } from "../connect.js";
import { shutdownTrigger } from "../lifecycle.js";
import { clock, out, printJsonLine } from "../output.js";
import type { ResolvedSettings } from "../types.js";
import { CallDriver } from "./CallDriver.js";
import { CleanupStack } from "./CleanupStack.js";
import { startDemoNats } from "./demoNats.js";
import { scheduleDemoScript } from "./demoScript.js";
import { Interrupted, startFleet, waitUntilRegistered } from "./demoFleet.js";
import { demoLogger, startDemoStack } from "./demoStack.js";
import { LiveView, renderStatusLine, type DemoViewState, type ViewInstance } from "./LiveView.js";
import type { ServiceProcess } from "./ServiceProcesses.js";
import type { DemoOptions } from "./types.js";

/** What the demo reports at the end (also the JSON `summary` event). */
export interface DemoSummary {
  durationMs: number;
  calls: number;
  failed: number;
  retries: number;
  killed: { n: number; id: string; pid: number; atMs: number } | null;
  alerts: Array<{ status: string; rule: string; severity: string; fingerprint: string; instance?: string }>;
  mails: number;
  mailFiles: string[];
  mailSubjects: string[];
  mailDir: string;
  prefix: string;
  nats: { url: string; local: boolean; pid: number | null; storeDir: string | null };
  instancePids: number[];
  /** URL of the operator console, when it ran. */
  consoleUrl?: string;
  reason: string;
}

/** A path as the user would like to read it: relative below the working folder, absolute elsewhere. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === "" ? "." : rel.startsWith("..") || isAbsolute(rel) ? resolvePath(path) : rel;
}

/** Runs the demo until its duration passes or a signal arrives. */
export async function runDemo(settings: ResolvedSettings, prefixGiven: boolean, opts: DemoOptions): Promise<DemoSummary> {
  const json = settings.json;
  const tty = !json && process.stdout.isTTY === true;
  const prefix = prefixGiven ? settings.prefix : `demo_${randomBytes(4).toString("hex")}`;
  const subjects = new Subjects(prefix);
  const started = Date.now();
  const shutdown = shutdownTrigger();
  let stopping: string | undefined;
  void shutdown.promise.then((why) => (stopping ??= why));

  const view = new LiveView(process.stdout, out);
  const state: DemoViewState = {
    elapsedMs: 0,
    durationMs: opts.durationMs,
    natsUrl: "",
    natsLocal: false,
    prefix,
    service: opts.service,
    instances: [],
    calls: 0,
    failed: 0,
    retries: 0,
    rate: 0,
    p50: null,
    p99: null,
    lastError: undefined,
    alerts: [],
    mails: [],
    events: [],
  };
  /** One event: a JSON line, a plain log line, or a line in the live frame's event list. */
  const note = (text: string, event?: Record<string, unknown>) => {
    const at = Date.now();
    state.events.push({ at, text });
    if (state.events.length > 50) state.events.shift();
    if (json) printJsonLine({ event: "note", at, text, ...event });
    else if (!tty) process.stdout.write(`${clock(at)} ${text}\n`);
  };

  const cleanups = new CleanupStack();
  const summary: DemoSummary = {
    durationMs: 0,
    calls: 0,
    failed: 0,
    retries: 0,
    killed: null,
    alerts: [],
    mails: 0,
    mailFiles: [],
    mailSubjects: [],
    mailDir: resolvePath(opts.mailDir),
    prefix,
    nats: { url: "", local: false, pid: null, storeDir: null },
    instancePids: [],
    reason: "",
  };

  let nc: NatsConnection | undefined;
  let calls: CallDriver | undefined;
  let redraw: NodeJS.Timeout | undefined;
  try {
    // 1. NATS: the one at NATS_URL, or a private one.
    const nats = await startDemoNats(settings, prefix, note, cleanups);
    const { servers, local } = nats;
    nc = nats.nc;
    const conn = nats.nc;
    summary.nats = { url: servers.join(","), local: local !== undefined, pid: local?.pid ?? null, storeDir: local?.storeDir ?? null };
    state.natsUrl = servers.join(",");
    state.natsLocal = local !== undefined;
    if (!prefixGiven) cleanups.push("demo JetStream streams and buckets", () => deleteDemoStreams(conn, prefix));
    if (stopping) throw new Interrupted();

    // 2. The stack: coordinator, mail catcher and notifier, collector.
    const { catcher, consoleUrl } = await startDemoStack({ nc: conn, prefix, service: opts.service, mailDir: opts.mailDir, mailDirShown: displayPath(summary.mailDir), consolePort: opts.consolePort }, note, cleanups);
    if (consoleUrl) state.consoleUrl = summary.consoleUrl = consoleUrl;
    catcher.onMail((m) => {
      const file = displayPath(m.file);
      state.mails.push({ at: m.receivedAt, subject: m.subject, file });
      note(`mail delivered: ${JSON.stringify(m.subject)} saved to ${file}`, { kind: "mail", subject: m.subject, file: m.file });
    });

    // 3. Live registry (for the view) and alert events.
    const views = new Map<string, InstanceView>();
    watchForView(conn, subjects, views, cleanups, (a) => {
      const where = a.instance ? `${a.service}/${a.instance.slice(0, 8)}…` : a.service;
      state.alerts.push({ at: Date.now(), status: a.status, severity: a.severity, rule: a.rule, where, fingerprint: a.fingerprint });
      summary.alerts.push({ status: a.status, rule: a.rule, severity: a.severity, fingerprint: a.fingerprint, ...(a.instance ? { instance: a.instance } : {}) });
      note(`alert ${a.status.toUpperCase()}: ${a.rule} (${a.severity}) on ${where}, fingerprint ${a.fingerprint}`, { kind: "alert", status: a.status, fingerprint: a.fingerprint });
    });

    // 4. The fleet: demo service instances, each its own process, all up in the registry.
    const procs: ServiceProcess[] = await startFleet(
      { servers, prefix, service: opts.service, instances: opts.instances, heartbeatMs: opts.heartbeatMs },
      note,
      cleanups,
    );
    summary.instancePids.push(...procs.map((p) => p.pid));
    if (stopping) throw new Interrupted();
    await waitUntilRegistered(conn, subjects, opts.service, procs, views, () => stopping !== undefined);
    note(`all ${procs.length} instances are up in the registry`);
    const instanceView = (): ViewInstance[] =>
      procs.map((p) => ({ n: p.index + 1, id: p.id, pid: p.pid, process: p.status, ...(views.get(p.id) ? { state: views.get(p.id)!.state } : {}) }));

    // 5. Balanced calls.
    const client = await createClient({ nats: conn, prefix, timeoutMs: 1000, deadlineMs: 10_000, backoff: { baseMs: 25, capMs: 250 }, logger: demoLogger("client") }).start();
    cleanups.push("client", () => client.stop());
    const driver = (calls = new CallDriver(client, {
      service: opts.service,
      endpoint: "echo",
      rate: opts.rate,
      concurrency: opts.concurrency,
      onFailure: (text) => note(`call failed: ${text}`, { kind: "call-failed" }),
    }).start());
    cleanups.push("callers", () => driver.stop());
    note(`driving ${opts.rate} calls/s over ${opts.concurrency} concurrent callers (strategy p2c-ewma, retries on another instance)`);

    // 6. The view: redrawn in place on a TTY, a status line every 2 s otherwise.
    let lastStatus = 0;
    const refresh = () => {
      const now = Date.now();
      state.elapsedMs = now - started;
      const w = driver.latencies.stats(now, driver.startedAt);
      state.calls = driver.calls;
      state.failed = driver.failed;
      state.lastError = driver.lastError;
      state.rate = w.rate;
      state.p50 = w.p50;
      state.p99 = w.p99;
      state.retries = client.stats().retries;
      state.instances = instanceView();
      if (tty) view.draw(state);
      else if (now - lastStatus >= 2000) {
        lastStatus = now;
        if (json) printJsonLine({ event: "status", at: now, ...statusFields(state) });
        else process.stdout.write(`${clock(now)} ${renderStatusLine(state)}\n`);
      }
    };
    redraw = setInterval(refresh, tty ? 250 : 500);

    // 7. The script: kill one instance, watch failover, the alert and the mail.
    scheduleDemoScript(
      {
        procs,
        startedAt: started,
        durationMs: opts.durationMs,
        killAfterMs: opts.killAfterMs,
        finish: (reason) => shutdown.abort(reason),
        stopping: () => stopping !== undefined,
        counts: () => ({ calls: driver.calls, failed: driver.failed, retries: client.stats().retries }),
        mails: () => state.mails.length,
        onMail: (l) => catcher.onMail(l),
        onKill: (k) => (summary.killed = k),
      },
      note,
      cleanups,
    );

    summary.reason = await shutdown.promise;
  } catch (err) {
    if (err instanceof Interrupted) summary.reason = stopping ?? "interrupted";
    else {
      summary.reason = `failed: ${(err as Error).message}`;
      await cleanups.runAll(note);
      clearInterval(redraw);
      view.release();
      await closeQuietly(nc);
      throw err;
    }
  }
  clearInterval(redraw);
  note(`stopping (${summary.reason})`);
  await cleanups.runAll(note);
  if (calls) {
    state.calls = calls.calls;
    state.failed = calls.failed;
  }
  if (tty) {
    state.elapsedMs = Date.now() - started;
    view.draw(state);
    view.release();
  }
  await closeQuietly(nc);
  summary.durationMs = Date.now() - started;
  summary.calls = state.calls;
  summary.failed = state.failed;
  summary.retries = state.retries;
  summary.mails = state.mails.length;
  summary.mailFiles = state.mails.map((m) => resolvePath(m.file));
  summary.mailSubjects = state.mails.map((m) => m.subject);
  return summary;
}

/** Keeps `views` current from registry events and reports each alert event, until cleanup. */
function watchForView(nc: NatsConnection, subjects: Subjects, views: Map<string, InstanceView>, cleanups: CleanupStack, onAlert: (a: AlertEvent) => void): void {
  const subs: Subscription[] = [
    nc.subscribe(subjects.registryEvents, {
      callback: (err, msg) => {
        if (err) return;
        const d = decodeMessage("registry-event", msg.data);
        if (d.ok) views.set(d.value.instance.instance.id, d.value.instance);
      },
    }),
    nc.subscribe(subjects.allAlerts, {
      callback: (err, msg) => {
        if (err) return;
        const d = decodeWith<AlertEvent>("alert", msg.data);
        if (d.ok) onAlert(d.value);
      },
    }),
  ];
  cleanups.push("subscriptions", async () => subs.forEach((s) => s.unsubscribe()));
}

function statusFields(s: DemoViewState): Record<string, unknown> {
  return {
    elapsedMs: s.elapsedMs,
    calls: s.calls,
    failed: s.failed,
    retries: s.retries,
    rate: Math.round(s.rate),
    p50: s.p50,
    p99: s.p99,
    instances: s.instances.map((i) => ({ n: i.n, id: i.id, pid: i.pid, process: i.process, state: i.state ?? null })),
    alerts: s.alerts.length,
    mails: s.mails.length,
  };
}

/**
 * On a shared server the demo removes what its components created under its own random prefix
 * (KV buckets and the alert stream), so repeated demos leave nothing behind.
 */
async function deleteDemoStreams(nc: NatsConnection, prefix: string): Promise<void> {
  if (nc.isClosed()) return;
  const jsm = await jetstreamManager(nc);
  const needle = prefix.toLowerCase();
  const names: string[] = [];
  for await (const name of jsm.streams.names()) if (name.toLowerCase().includes(needle)) names.push(name);
  for (const name of names) await jsm.streams.delete(name).catch(() => false);
}
