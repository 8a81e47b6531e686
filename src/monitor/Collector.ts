/**
 * The collector: fans in every instance's metric snapshots (plain subscription, no queue group, so
 * every collector sees everything), aggregates them per service and instance, serves Prometheus
 * text at `GET /metrics`, answers `<prefix>.monitor.query`, follows registry events for
 * instance-down alerts, and evaluates alert rules in clock-aligned steps, publishing each alert
 * transition into the alert stream.
 *
 * Replicas agree without talking to each other: a step `t` is evaluated `evaluationDelayMs` after
 * `t`, over the snapshots stamped (by their agents) at or before `t`, so collectors holding the
 * same snapshots compute the same values, the same transitions and the same start times, and the
 * stream's duplicate window keeps one copy of each.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { v4 as uuidv4 } from "uuid";
import {
  DEFAULT_PREFIX,
  InvalidInputLog,
  ReplyGuard,
  Subjects,
  createLogger,
  decodeMessage,
  encodeJson,
  openNats,
  type AlertEvent,
  type Logger,
  type MonitorSnapshot,
  type RegistrySnapshot,
  EventEmitter,
  type Event,
} from "../protocol/index.js";
import { AlertPublisher } from "./AlertPublisher.js";
import { loadAlertRules } from "./AlertRules.js";
import { openAlertStateBucket } from "./AlertStateBucket.js";
import { ensureAlertStream } from "./AlertStream.js";
import { InstanceDownTracker } from "./InstanceDownTracker.js";
import { MetricStore } from "./MetricStore.js";
import { buildMonitorSnapshot } from "./MonitorSnapshot.js";
import { renderExposition } from "./PromExposition.js";
import { RuleEvaluator } from "./RuleEvaluator.js";
import type { Collector, CollectorOptions, CollectorStats, CompiledRule, RestoredAlert } from "./types.js";

/** Queue group of collectors answering monitor queries (any collector can answer: all see everything). */
export const COLLECTOR_QUEUE = "sb-collectors";

/** `<prefix>.monitor.query`: where collectors answer monitor queries. */
export function monitorQuerySubject(subjects: Subjects): string {
  return `${subjects.prefix}.monitor.query`;
}

const DEFAULT_MAX_METRICS_BYTES = 1024 * 1024;

class CollectorImpl implements Collector {
  readonly id: string;
  readonly rules: readonly CompiledRule[];
  private readonly subjects: Subjects;
  private readonly log: Logger;
  private readonly invalid: InvalidInputLog;
  /** Reply-subject policy and never-throwing replies for monitor queries. */
  private readonly replies: ReplyGuard;
  private readonly now: () => number;
  private readonly stepMs: number;
  private readonly delayMs: number;
  private readonly store: MetricStore;
  private readonly down: InstanceDownTracker;
  private readonly evaluator: RuleEvaluator;
  private readonly alerts: EventEmitter<AlertEvent>;
  /** Fires for every alert transition this collector evaluated (before it is published). */
  readonly onAlert: Event<AlertEvent>;
  private nc: NatsConnection | undefined;
  private owned = false;
  private subs: Subscription[] = [];
  private http: Server | undefined;
  private publisher: AlertPublisher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastStep: number | undefined;
  private state: "new" | "running" | "stopped" = "new";
  private received = 0;
  private duplicates = 0;
  private evaluations = 0;
  private lastGc = 0;
  private readonly maxWindowMs: number;
  private readonly retentionMs: number;
  port: number | undefined;

  constructor(private readonly opts: CollectorOptions) {
    this.id = opts.id ?? `collector-${uuidv4().slice(0, 8)}`;
    this.subjects = new Subjects(opts.prefix ?? DEFAULT_PREFIX);
    this.log = (opts.logger ?? createLogger("collector")).child({ collector: this.id });
    this.alerts = new EventEmitter<AlertEvent>((err) => this.log.warn({ err }, "alert listener threw"));
    this.onAlert = this.alerts.event;
    this.invalid = new InvalidInputLog(this.log);
    this.replies = new ReplyGuard({ prefix: this.subjects.prefix, invalid: this.invalid, log: this.log });
    this.now = opts.now ?? Date.now;
    this.stepMs = opts.evaluationIntervalMs ?? 500;
    this.down = new InstanceDownTracker(this.stepMs);
    this.delayMs = opts.evaluationDelayMs ?? 200;
    if (!Number.isInteger(this.stepMs) || this.stepMs < 10) throw new RangeError("evaluationIntervalMs must be an integer ≥ 10");
    if (!Number.isInteger(this.delayMs) || this.delayMs < 0) throw new RangeError("evaluationDelayMs must be a non-negative integer");
    // A bad rules file stops the collector here, before it connects to anything.
    this.rules = typeof opts.rules === "string" ? loadAlertRules(opts.rules) : (opts.rules ?? []);
    this.maxWindowMs = Math.max(60_000, ...this.rules.map((r) => r.windowMs));
    this.retentionMs = this.maxWindowMs + 2 * this.stepMs + this.delayMs + 1000;
    this.store = new MetricStore({
      retentionMs: this.retentionMs,
      staleIntervals: opts.staleIntervals ?? 3,
      staleSlackMs: this.stepMs,
      minSpacingMs: this.stepMs / 2,
      // Fine resolution where the shortest window starts, about 16 samples over the longest one.
      fineHorizonMs: Math.min(...this.rules.map((r) => r.windowMs), 60_000) + 2 * this.stepMs + this.delayMs + 1000,
      coarseSpacingMs: Math.max(this.stepMs, Math.ceil(this.maxWindowMs / 16)),
    });
    this.evaluator = new RuleEvaluator({ generator: this.id });
  }

  get url(): string | undefined {
    return this.port === undefined ? undefined : `http://${this.opts.httpHost && this.opts.httpHost !== "0.0.0.0" ? this.opts.httpHost : "127.0.0.1"}:${this.port}`;
  }

  async start(): Promise<this> {
    if (this.state !== "new") throw new Error(`collector cannot start from state ${this.state}`);
    const { nc, owned } = await openNats(this.opts.nats ? { nats: this.opts.nats } : { name: `sb-collector ${this.id}`, ...this.opts, nats: undefined });
    this.nc = nc;
    this.owned = owned;
    try {
      if (this.rules.length > 0) await this.setUpAlerting(nc);
      const s = this.subjects;
      this.subs.push(nc.subscribe(s.allInstanceEvents("metrics"), { callback: (err, msg) => {
            if (!err) this.onMetrics(msg);
          },
        }));
      this.subs.push(nc.subscribe(s.registryEvents, { callback: (err, msg) => {
            if (!err) this.onRegistryEvent(msg);
          },
        }));
      this.subs.push(nc.subscribe(monitorQuerySubject(s), { queue: COLLECTOR_QUEUE, callback: (err, msg) => {
            if (!err) this.onQuery(msg);
          },
        }));
      await nc.flush();
      if (this.rules.some((r) => r.metric === "instance_down") && this.opts.registrySnapshotOnStart !== false) await this.loadDownInstances(nc);
      if (this.opts.httpPort !== undefined) await this.listen(this.opts.httpPort, this.opts.httpHost ?? "0.0.0.0");
    } catch (err) {
      await this.teardown();
      throw err;
    }
    this.state = "running";
    if (this.rules.length > 0) this.schedule();
    this.log.info({ rules: this.rules.length, url: this.url, prefix: this.subjects.prefix }, "collector started");
    return this;
  }

  private async setUpAlerting(nc: NatsConnection): Promise<void> {
    const jsm = await jetstreamManager(nc);
    await ensureAlertStream(jsm, this.subjects, this.opts.stream);
    const js = jetstream(nc);
    let state: KV | undefined;
    if (this.opts.persistAlerts !== false) {
      state = await openAlertStateBucket(js, this.subjects.prefix, this.opts.stream?.replicas ?? 1);
      const restored: RestoredAlert[] = [];
      const keys = await state.keys();
      for await (const k of keys) {
        const e = await state.get(k);
        if (!e || e.operation !== "PUT") continue;
        const decoded = decodeMessage("alert", e.value);
        if (decoded.ok && decoded.value.status === "firing") restored.push(decoded.value as RestoredAlert);
      }
      // Judge restored alerts only once a full window of data could have arrived.
      this.evaluator.restore(restored, this.now() + this.maxWindowMs + 2 * this.stepMs + this.delayMs);
      if (restored.length) this.log.info({ restored: restored.length }, "restored firing alerts");
    }
    this.publisher = new AlertPublisher({ js, subjects: this.subjects, state, log: this.log });
  }

  private async loadDownInstances(nc: NatsConnection): Promise<void> {
    try {
      const reply = await nc.request(this.subjects.registryQuery, encodeJson({ v: 1, states: ["down"] }), { timeout: 1000 });
      const decoded = decodeMessage("registry-snapshot", reply.data, 64 * 1024 * 1024);
      if (!decoded.ok) return;
      for (const view of (decoded.value as RegistrySnapshot).instances) this.down.apply({ type: view.state, at: view.since, instance: view });
    } catch {
      // No coordinator yet: registry events will tell.
    }
  }

  private listen(port: number, host: string): Promise<void> {
    const server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (req.method === "GET" && path === "/metrics") {
        this.metricsExposition()
          .then(({ text, contentType }) => {
            res.writeHead(200, { "Content-Type": contentType });
            res.end(text);
          })
          .catch((err) => {
            this.log.warn({ err }, "metrics exposition failed");
            res.writeHead(500).end();
          });
      } else if (req.method === "GET" && path === "/healthz") {
        res.writeHead(200, { "Content-Type": "text/plain" }).end("ok\n");
      } else {
        res.writeHead(404, { "Content-Type": "text/plain" }).end("not found: try GET /metrics\n");
      }
    });
    this.http = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        this.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private onMetrics(msg: Msg): void {
    const where = this.subjects.parseInstanceEvent(msg.subject);
    if (!where) {
      this.invalid.record("metrics", "subject is not <prefix>.metrics.<service>.<instance>", msg.subject);
      return;
    }
    const decoded = decodeMessage("metrics", msg.data, this.opts.maxMetricsBytes ?? DEFAULT_MAX_METRICS_BYTES);
    if (!decoded.ok) {
      this.invalid.record("metrics", decoded.error, msg.subject);
      return;
    }
    const snap = decoded.value;
    if (snap.service !== where.service || snap.id !== where.instance) {
      this.invalid.record("metrics", `body names ${snap.service}/${snap.id}, subject ${where.service}/${where.instance}`, msg.subject);
      return;
    }
    const result = this.store.ingest(snap, this.now());
    if (result === "malformed") this.invalid.record("metrics", "inconsistent histogram or duplicate endpoint", msg.subject);
    else if (result === "duplicate") this.duplicates++;
    else this.received++;
  }

  private onRegistryEvent(msg: Msg): void {
    const decoded = decodeMessage("registry-event", msg.data);
    if (!decoded.ok) {
      this.invalid.record("registry-event", decoded.error, msg.subject);
      return;
    }
    this.down.apply(decoded.value);
  }

  private onQuery(msg: Msg): void {
    if (this.replies.refuses(msg)) return;
    const decoded = decodeMessage("monitor-query", msg.data);
    if (!decoded.ok) {
      this.invalid.record("monitor-query", decoded.error, msg.subject);
      this.replies.respondError(msg, "BAD_REQUEST", decoded.error);
      return;
    }
    try {
      const q = decoded.value;
      const opts: { service?: string; windowMs?: number; instances?: boolean } = {};
      if (q.service !== undefined) opts.service = q.service;
      if (q.windowMs !== undefined) opts.windowMs = q.windowMs;
      if (q.instances !== undefined) opts.instances = q.instances;
      this.replies.respond(msg, encodeJson(this.snapshot(opts)));
    } catch (err) {
      this.log.warn({ err }, "monitor query failed");
      this.replies.respondError(msg, "INTERNAL", (err as Error).message);
    }
  }

  private schedule(): void {
    if (this.state !== "running") return;
    const now = this.now();
    const nextStep = Math.floor((now - this.delayMs) / this.stepMs) * this.stepMs + this.stepMs;
    this.timer = setTimeout(() => this.tick(), Math.max(0, nextStep + this.delayMs - now));
    this.timer.unref?.();
  }

  private tick(): void {
    if (this.state !== "running") return;
    const latest = Math.floor((this.now() - this.delayMs) / this.stepMs) * this.stepMs;
    // Catch up on steps a busy event loop made us miss (a few at most), so pending durations stay exact.
    let t = this.lastStep === undefined ? latest : Math.max(this.lastStep + this.stepMs, latest - 10 * this.stepMs);
    for (; t <= latest; t += this.stepMs) this.evaluateAt(t);
    this.lastStep = latest;
    const now = this.now();
    if (now - this.lastGc > 10_000) {
      this.lastGc = now;
      this.store.gc(now, this.retentionMs + 60_000);
      this.down.gc(now - 24 * 3_600_000);
    }
    this.schedule();
  }

  /** Evaluates every rule at step `t` and publishes the transitions. */
  private evaluateAt(t: number): void {
    this.evaluations++;
    const events: AlertEvent[] = [];
    for (const rule of this.rules) {
      try {
        const series = rule.metric === "instance_down" ? this.down.seriesAt(t, rule.service) : this.store.seriesFor(rule, t);
        events.push(...this.evaluator.evaluate(rule, t, series));
      } catch (err) {
        this.log.error({ err, rule: rule.name }, "rule evaluation failed");
      }
    }
    this.down.evaluatedUpTo(t);
    events.push(...this.evaluator.expireRestored(t));
    for (const ev of events) {
      this.log.info({ fingerprint: ev.fingerprint, status: ev.status, rule: ev.rule, service: ev.service, value: ev.value }, `alert ${ev.status}`);
      this.publisher?.enqueue(ev);
      this.alerts.fire(ev);
    }
  }

  snapshot(opts: { service?: string; windowMs?: number; instances?: boolean } = {}): MonitorSnapshot {
    return buildMonitorSnapshot(this.store, this.evaluator.active(), { collector: this.id, received: this.received, invalid: this.invalid.snapshot() }, this.now(), opts);
  }

  private metricsExposition(): Promise<{ text: string; contentType: string }> {
    const st = this.stats();
    return renderExposition(this.store, this.evaluator.active(), { ...st, duplicates: this.duplicates }, this.now());
  }

  async metricsText(): Promise<string> {
    return (await this.metricsExposition()).text;
  }


  stats(): CollectorStats {
    return {
      received: this.received,
      invalid: this.invalid.snapshot(),
      alertsPublished: this.publisher?.published ?? 0,
      alertsDuplicate: this.publisher?.duplicates ?? 0,
      alertsPendingPublish: this.publisher?.pending ?? 0,
      evaluations: this.evaluations,
    };
  }

  async stop(timeoutMs = 5000): Promise<void> {
    if (this.state === "stopped") return;
    this.state = "stopped";
    clearTimeout(this.timer);
    if (this.publisher && !(await this.publisher.flush(timeoutMs))) {
      const lost = this.publisher.stop();
      this.log.warn({ count: lost.length }, "stopping with alert events JetStream has not confirmed; other collectors will publish them");
    }
    this.publisher?.stop();
    await this.teardown();
    this.log.info("collector stopped");
  }

  private async teardown(): Promise<void> {
    for (const sub of this.subs.splice(0)) sub.unsubscribe();
    if (this.http) {
      const server = this.http;
      this.http = undefined;
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    if (this.owned && this.nc && !this.nc.isClosed()) await this.nc.drain().catch(() => this.nc?.close());
  }
}

/**
 * Creates a collector. Throws `AlertRulesError` at once when `rules` names a bad file. Call
 * `start()` to subscribe, serve `/metrics` and evaluate rules.
 */
export function createCollector(opts: CollectorOptions = {}): Collector {
  return new CollectorImpl(opts);
}
