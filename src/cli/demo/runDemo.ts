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
import { createCoordinator } from "../../coordinator/index.js";
import { createCollector, parseAlertRules } from "../../monitor/index.js";
import { createMailNotifier } from "../../notify/index.js";
import { destination, pino } from "pino";
import { Subjects, decodeMessage, decodeWith, type AlertEvent, type InstanceView, type Logger } from "../../protocol/index.js";
import { requestSnapshot } from "../../gateway/index.js";
import { CliError, describeConnectError } from "../CliError.js";
import { closeQuietly, connectForCli } from "../connect.js";
import { shutdownTrigger } from "../lifecycle.js";
import { clock, out, printJsonLine } from "../output.js";
import type { ResolvedSettings } from "../types.js";
import { LatencyWindow } from "./LatencyWindow.js";
import { LiveView, renderStatusLine, type DemoViewState, type ViewInstance } from "./LiveView.js";
import { INSTALL_HINT, findNatsServer, probeNats, startLocalNats, type LocalNats } from "./LocalNatsServer.js";
import { startMailCatcher, type MailCatcher } from "./MailCatcher.js";
import { killServiceProcess, startServiceProcess, stopServiceProcess, type ServiceProcess } from "./ServiceProcesses.js";
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
  reason: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Time the scenario needs after the kill: suspect/down (≈ 3 heartbeats), the rule's `for`, group wait, SMTP. */
const SCENARIO_TAIL_MS = 7000;
/** How long past --duration the demo waits for the alert's mail on a slow machine. */
const MAIL_GRACE_MS = 10_000;

/** A path as the user would like to read it: relative below the working folder, absolute elsewhere. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === "" ? "." : rel.startsWith("..") || isAbsolute(rel) ? resolvePath(path) : rel;
}

/**
 * Component loggers of the demo: errors only (SB_LOG_LEVEL overrides), on stderr, so the live view
 * and the JSON events on stdout stay readable.
 */
function logger(component: string): Logger {
  return pino({ level: process.env.SB_LOG_LEVEL ?? "error", base: { component } }, destination(2));
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

  const cleanups: Array<{ what: string; run: () => Promise<void> }> = [];
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

  let local: LocalNats | undefined;
  let nc: NatsConnection | undefined;
  let redraw: NodeJS.Timeout | undefined;
  try {
    // 1. NATS: use the one at NATS_URL, or start a private one.
    const probe = await probeNats(settings.nats);
    let servers = settings.nats.servers;
    if (probe.kind === "refused") throw describeConnectError(probe.error, servers);
    if (probe.kind === "absent") {
      const bin = findNatsServer();
      if (!bin) {
        const hint = process.env.NATS_SERVER_BIN ? ` (NATS_SERVER_BIN=${process.env.NATS_SERVER_BIN} is not an executable)` : "";
        throw new CliError(`nothing answers at ${servers.join(", ")} and no nats-server binary was found${hint}: ${INSTALL_HINT}`);
      }
      note(`nothing answers at ${servers.join(", ")}: starting a local nats-server (${bin})`);
      local = await startLocalNats(bin);
      const l = local;
      cleanups.push({ what: `local nats-server (pid ${l.pid})`, run: () => l.stop() });
      servers = [local.url];
      note(`local nats-server with JetStream on ${local.url} (pid ${local.pid})`, { kind: "nats", url: local.url, pid: local.pid, storeDir: local.storeDir, local: true });
    } else {
      note(`using the NATS server at ${servers.join(", ")} with its own prefix ${prefix}`, { kind: "nats", url: servers.join(","), local: false });
    }
    summary.nats = { url: servers.join(","), local: local !== undefined, pid: local?.pid ?? null, storeDir: local?.storeDir ?? null };
    state.natsUrl = servers.join(",");
    state.natsLocal = local !== undefined;
    const demoSettings: ResolvedSettings = local ? { ...settings, nats: { servers } } : settings;
    nc = await connectForCli(demoSettings, "switchboard demo");
    const conn = nc;
    if (!prefixGiven) cleanups.push({ what: "demo JetStream streams and buckets", run: () => deleteDemoStreams(conn, prefix) });
    if (stopping) throw new Interrupted();

    // 2. Coordinator. Down instances stay listed (not removed) so the demo's alert does not resolve while it runs.
    const coordinator = createCoordinator({ nats: conn, prefix, id: "demo-coordinator", removeAfterIntervals: 14_400, logger: logger("coordinator") });
    await coordinator.start();
    cleanups.push({ what: "coordinator", run: () => coordinator.stop() });
    note("coordinator started");

    // 3. Mail catcher and notifier.
    const catcher: MailCatcher = await startMailCatcher(opts.mailDir);
    cleanups.push({ what: "mail catcher", run: () => catcher.close() });
    const notifier = createMailNotifier({
      nats: conn,
      prefix,
      id: "demo-notifier",
      smtp: { host: catcher.host, port: catcher.port, secure: false, from: "demo@switchboard.local" },
      logger: logger("notifier"),
      to: "oncall@example.com",
      groupWaitMs: 1000,
      groupIntervalMs: 10 * 60_000,
      repeatIntervalMs: 4 * 3600_000,
    });
    await notifier.start();
    cleanups.push({ what: "notifier", run: () => notifier.stop() });
    catcher.onMail((m) => {
      const file = displayPath(m.file);
      state.mails.push({ at: m.receivedAt, subject: m.subject, file });
      note(`mail delivered: ${JSON.stringify(m.subject)} saved to ${file}`, { kind: "mail", subject: m.subject, file: m.file });
    });
    note(`mail notifier started; SMTP catcher on ${catcher.host}:${catcher.port} saves to ${displayPath(summary.mailDir)}`);

    // 4. Collector with the demo's alert rule.
    const rules = parseAlertRules(
      JSON.stringify({
        rules: [
          {
            name: "InstanceDown",
            service: opts.service,
            metric: "instance_down",
            severity: "warning",
            for: "1s",
            annotations: { summary: "Instance {{ $labels.instance }} of {{ $labels.service }} stopped sending heartbeats" },
          },
        ],
      }),
      "demo-rules.json",
    );
    const collector = createCollector({ nats: conn, prefix, id: "demo-collector", rules, evaluationIntervalMs: 500, logger: logger("collector") });
    await collector.start();
    cleanups.push({ what: "collector", run: () => collector.stop() });
    note("collector started with rule InstanceDown (instance_down of echo, for 1s)");

    // 5. Live registry (for the view) and alert events.
    const views = new Map<string, InstanceView>();
    const subs: Subscription[] = [];
    subs.push(
      conn.subscribe(subjects.registryEvents, {
        callback: (err, msg) => {
          if (err) return;
          const d = decodeMessage("registry-event", msg.data);
          if (d.ok) views.set(d.value.instance.instance.id, d.value.instance);
        },
      }),
    );
    subs.push(
      conn.subscribe(subjects.allAlerts, {
        callback: (err, msg) => {
          if (err) return;
          const d = decodeWith<AlertEvent>("alert", msg.data);
          if (!d.ok) return;
          const a = d.value;
          const where = a.instance ? `${a.service}/${a.instance.slice(0, 8)}…` : a.service;
          state.alerts.push({ at: Date.now(), status: a.status, severity: a.severity, rule: a.rule, where, fingerprint: a.fingerprint });
          summary.alerts.push({ status: a.status, rule: a.rule, severity: a.severity, fingerprint: a.fingerprint, ...(a.instance ? { instance: a.instance } : {}) });
          note(`alert ${a.status.toUpperCase()}: ${a.rule} (${a.severity}) on ${where}, fingerprint ${a.fingerprint}`, { kind: "alert", status: a.status, fingerprint: a.fingerprint });
        },
      }),
    );
    cleanups.push({ what: "subscriptions", run: async () => subs.forEach((s) => s.unsubscribe()) });

    // 6. Demo service instances, each its own process.
    const procs: ServiceProcess[] = [];
    cleanups.push({
      what: "demo service processes",
      run: async () => {
        await Promise.all(procs.map((p) => stopServiceProcess(p)));
      },
    });
    // Started side by side: on a busy machine each takes a moment to boot.
    const starts = await Promise.allSettled(
      Array.from({ length: opts.instances }, (_, i) =>
        startServiceProcess({ index: i, servers, prefix, service: opts.service, heartbeatMs: opts.heartbeatMs, jitterMs: 3 }),
      ),
    );
    for (const r of starts) if (r.status === "fulfilled") procs.push(r.value);
    procs.sort((a, b) => a.index - b.index);
    for (const p of procs) {
      summary.instancePids.push(p.pid);
      note(`instance #${p.index + 1} of ${opts.service} started: ${p.id} (pid ${p.pid})`, { kind: "instance", n: p.index + 1, id: p.id, pid: p.pid });
    }
    const failedStart = starts.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failedStart) throw failedStart.reason;
    if (stopping) throw new Interrupted();
    const instanceView = (): ViewInstance[] =>
      procs.map((p) => ({ n: p.index + 1, id: p.id, pid: p.pid, process: p.status, ...(views.get(p.id) ? { state: views.get(p.id)!.state } : {}) }));

    // The registry must know them all before the calls start, so the balancer sees every instance.
    const readyBy = Date.now() + 15_000;
    for (;;) {
      if (stopping) throw new Interrupted();
      try {
        const snap = await requestSnapshot(conn, subjects, { service: opts.service }, 1000);
        for (const v of snap.instances) if (!views.has(v.instance.id) || views.get(v.instance.id)!.since <= v.since) views.set(v.instance.id, v);
        if (procs.every((p) => snap.instances.some((v) => v.instance.id === p.id && v.state === "up"))) break;
      } catch {
        // coordinator still starting
      }
      if (Date.now() > readyBy) throw new CliError("the demo instances did not show up in the registry within 15 s");
      await sleep(100);
    }
    note(`all ${procs.length} instances are up in the registry`);

    // 7. Balanced calls.
    const client = await createClient({ nats: conn, prefix, timeoutMs: 1000, deadlineMs: 10_000, backoff: { baseMs: 25, capMs: 250 }, logger: logger("client") });
    cleanups.push({ what: "client", run: () => client.close() });
    const latencies = new LatencyWindow(5000);
    const callsStarted = Date.now();
    let driving = true;
    let seq = 0;
    const interval = (1000 * opts.concurrency) / opts.rate;
    const worker = async () => {
      let next = Date.now();
      while (driving) {
        const t0 = performance.now();
        try {
          await client.call(opts.service, "echo", { n: ++seq }, { idempotent: true });
          state.calls++;
          latencies.record(Date.now(), performance.now() - t0);
        } catch (err) {
          state.failed++;
          state.lastError = `${(err as { code?: string }).code ?? "ERROR"}: ${(err as Error).message}`;
          note(`call failed: ${state.lastError}`, { kind: "call-failed" });
        }
        next += interval;
        const wait = next - Date.now();
        if (wait > 0) await sleep(wait);
        else next = Date.now();
      }
    };
    const workers = Array.from({ length: opts.concurrency }, () => worker());
    cleanups.push({
      what: "callers",
      run: async () => {
        driving = false;
        await Promise.all(workers);
      },
    });
    note(`driving ${opts.rate} calls/s over ${opts.concurrency} concurrent callers (strategy p2c-ewma, retries on another instance)`);

    // 8. The view: redrawn in place on a TTY, a status line every 2 s otherwise.
    let lastStatus = 0;
    const refresh = () => {
      const now = Date.now();
      state.elapsedMs = now - started;
      const w = latencies.stats(now, callsStarted);
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

    // 9. The script: kill one instance, watch failover, the alert and the mail.
    // The kill comes at 30 % of the duration (or --kill-after), but late enough for calls to be
    // flowing and early enough for the alert and its mail to follow before the end; if the machine
    // was too slow for that, the end waits (a little) for the mail.
    const callsAt = Date.now();
    const endAt = opts.durationMs ? started + opts.durationMs : Infinity;
    const killAfter = opts.killAfterMs ?? (opts.durationMs ? Math.max(3000, Math.round(opts.durationMs * 0.3)) : 8000);
    const killAt = Math.max(callsAt + 1500, Math.min(started + killAfter, endAt - SCENARIO_TAIL_MS));
    let durationPassed = false;
    const finishWhenShown = () => {
      if (!summary.killed || state.mails.length > 0) shutdown.abort("duration reached");
    };
    catcher.onMail(() => {
      if (durationPassed) finishWhenShown();
    });
    const durationTimer = opts.durationMs
      ? setTimeout(() => {
          durationPassed = true;
          if (summary.killed && state.mails.length === 0) {
            note(`duration reached; waiting up to ${Math.round(MAIL_GRACE_MS / 1000)} s more for the alert's mail`);
            graceTimer = setTimeout(() => shutdown.abort("duration reached (no mail yet)"), MAIL_GRACE_MS);
          }
          finishWhenShown();
        }, Math.max(0, endAt - Date.now()))
      : undefined;
    let graceTimer: NodeJS.Timeout | undefined;
    cleanups.push({
      what: "timers",
      run: async () => {
        clearTimeout(durationTimer);
        clearTimeout(graceTimer);
      },
    });
    const killTimer = setTimeout(() => {
      const victim = procs[Math.min(1, procs.length - 1)];
      if (!victim || stopping) return;
      const failedBefore = state.failed;
      const callsBefore = state.calls;
      summary.killed = { n: victim.index + 1, id: victim.id, pid: victim.pid, atMs: Date.now() - started };
      note(`killing instance #${victim.index + 1} (${victim.id}, pid ${victim.pid}) with SIGKILL: no leave message, just silence`, {
        kind: "kill",
        id: victim.id,
        pid: victim.pid,
      });
      void killServiceProcess(victim).then(() => {
        setTimeout(() => {
          if (stopping) return;
          const failedSince = state.failed - failedBefore;
          note(
            `failover: ${state.calls - callsBefore} calls since the kill, ${failedSince} failed, ${client.stats().retries} retries in all` +
              (failedSince === 0 ? " — the killed instance cost latency, not errors" : ""),
            { kind: "failover", failed: failedSince },
          );
        }, 3000);
      });
    }, killAt - Date.now());
    cleanups.push({ what: "kill timer", run: async () => clearTimeout(killTimer) });

    summary.reason = await shutdown.promise;
  } catch (err) {
    if (err instanceof Interrupted) summary.reason = stopping ?? "interrupted";
    else {
      summary.reason = `failed: ${(err as Error).message}`;
      await cleanup(cleanups, note);
      clearInterval(redraw);
      view.release();
      await closeQuietly(nc);
      throw err;
    }
  }
  clearInterval(redraw);
  note(`stopping (${summary.reason})`);
  await cleanup(cleanups, note);
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

/** Thrown to leave startup early when a signal arrived. */
class Interrupted extends Error {}

/** Runs cleanups in reverse order of setup; one failing does not stop the others. */
async function cleanup(cleanups: Array<{ what: string; run: () => Promise<void> }>, note: (t: string) => void): Promise<void> {
  while (cleanups.length > 0) {
    const c = cleanups.pop()!;
    try {
      await c.run();
    } catch (err) {
      note(`could not stop ${c.what}: ${(err as Error).message}`);
    }
  }
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
