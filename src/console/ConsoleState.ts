/**
 * What the console shows, kept up to date from its feeds and read by the HTTP API: per-service
 * summaries (instance counts, versions, traffic, sparklines, trouble), alerts with their acks and
 * mails, and the registry event log. Pure: the feeds push facts in, the caller owns time, and
 * {@link ConsoleState.takeChanges} hands out what changed since the last call so updates can be
 * batched (a few per second however busy the bus is).
 */
import type {
  AlertEvent,
  ConsoleAck,
  ConsoleAlert,
  ConsoleEndpoint,
  ConsoleEvent,
  ConsoleInstance,
  ConsoleMail,
  ConsoleServiceDetail,
  ConsoleServiceSummary,
  ConsoleStateCounts,
  InstanceView,
  MonitorSnapshot,
  TrafficStats,
} from "../protocol/index.js";
import { RingBuffer } from "./RingBuffer.js";

/** Where the console reads instances from (the registry cache). */
export interface InstanceSource {
  serviceNames(): string[];
  all(service: string): readonly InstanceView[];
}

/** One change of an instance, as the registry cache reports it. */
export interface InstanceChange {
  service: string;
  id: string;
  type: InstanceView["state"];
  previous: InstanceView["state"] | null;
  view: InstanceView;
  revision: number;
  source: "event" | "snapshot";
}

/** Limits and grouping of {@link ConsoleState}. */
export interface ConsoleStateOptions {
  /** Metric steps kept per sparkline (default 90). */
  sparkPoints?: number;
  /** Registry events kept in the global log (default 2000). */
  maxEvents?: number;
  /** Registry events kept per service for its timeline (default 100). */
  maxServiceEvents?: number;
  /** Resolved alerts kept (default 200); firing alerts are always kept. */
  maxResolved?: number;
  /** Labels the notifier groups by (default alertname, service, severity — the notifier's default). */
  groupBy?: readonly string[];
  /** Largest number of alerts tracked at all (default 10000): beyond it, the oldest resolved go first, then new ones are dropped. */
  maxAlerts?: number;
}

interface ServiceMetrics {
  total: TrafficStats;
  endpoints: Map<string, TrafficStats>;
  instances: Map<string, TrafficStats>;
}

interface AlertRecord {
  event: AlertEvent;
  ack: ConsoleAck | undefined;
  mails: ConsoleMail[];
}

/** What changed since the last {@link ConsoleState.takeChanges}. */
export interface ConsoleChanges {
  services: ConsoleServiceSummary[];
  removedServices: string[];
  alerts: ConsoleAlert[];
  events: ConsoleEvent[];
  /** Services whose detail (instances, endpoints, timeline) changed. */
  touched: Set<string>;
}

const FINGERPRINT = /^[0-9a-f]{16}$/;

/** See the module comment. */
export class ConsoleState {
  private readonly sparkPoints: number;
  private readonly maxResolved: number;
  private readonly maxAlerts: number;
  private readonly maxServiceEvents: number;
  private readonly groupBy: readonly string[];
  private readonly metrics = new Map<string, ServiceMetrics>();
  private readonly rateSpark = new Map<string, RingBuffer<number | null>>();
  private readonly endpointSpark = new Map<string, RingBuffer<number | null>>();
  private readonly events: RingBuffer<ConsoleEvent>;
  private readonly serviceEvents = new Map<string, RingBuffer<ConsoleEvent>>();
  private readonly alerts = new Map<string, AlertRecord>();
  /** Acks and mails seen before their alert (the KV watch may come first). */
  private readonly orphanAcks = new Map<string, ConsoleAck>();
  private readonly orphanMails = new Map<string, ConsoleMail[]>();
  private readonly heartbeats = new Map<string, { lastSeen: number; inFlight: number }>();
  private seq = 0;
  private readonly dirtyServices = new Set<string>();
  private readonly dirtyAlerts = new Set<string>();
  private readonly touched = new Set<string>();
  private readonly known = new Set<string>();
  private newEvents: ConsoleEvent[] = [];

  constructor(
    private readonly instances: InstanceSource,
    private readonly subjectOf: (service: string, id: string) => string,
    opts: ConsoleStateOptions = {},
  ) {
    this.sparkPoints = opts.sparkPoints ?? 90;
    this.maxResolved = opts.maxResolved ?? 200;
    this.maxAlerts = opts.maxAlerts ?? 10_000;
    this.maxServiceEvents = opts.maxServiceEvents ?? 100;
    this.groupBy = opts.groupBy ?? ["alertname", "service", "severity"];
    this.events = new RingBuffer(opts.maxEvents ?? 2000);
  }

  // ---- feeds -------------------------------------------------------------------------------

  /** A registry change (event or snapshot reload). */
  applyInstanceChange(c: InstanceChange, at: number): void {
    const ev: ConsoleEvent = {
      seq: ++this.seq,
      at: c.source === "event" ? Math.max(c.view.since, 0) || at : at,
      revision: c.revision,
      service: c.service,
      id: c.id,
      type: c.type,
      previous: c.previous,
      version: c.view.instance.version,
      source: c.source,
    };
    this.events.push(ev);
    let ring = this.serviceEvents.get(c.service);
    if (!ring) this.serviceEvents.set(c.service, (ring = new RingBuffer(this.maxServiceEvents)));
    ring.push(ev);
    this.newEvents.push(ev);
    if (this.newEvents.length > this.events.capacity) this.newEvents.shift();
    if (c.type === "removed") this.heartbeats.delete(c.id);
    this.markService(c.service);
  }

  /** A heartbeat of a known instance (the caller checked it names its own subject). */
  applyHeartbeat(service: string, id: string, sentAt: number, inFlight: number): void {
    this.heartbeats.set(id, { lastSeen: sentAt, inFlight });
    this.touched.add(service);
  }

  /** A collector's answer to a metrics query (all services, without instance rows unless asked). */
  applyMetrics(snap: MonitorSnapshot): void {
    const seen = new Set<string>();
    for (const s of snap.services) {
      seen.add(s.service);
      const prev = this.metrics.get(s.service);
      const m: ServiceMetrics = {
        total: s.total,
        endpoints: new Map(s.endpoints.map((e) => [e.endpoint, e.stats])),
        instances: s.instances ? new Map(s.instances.map((i) => [i.id, i.stats])) : (prev?.instances ?? new Map()),
      };
      this.metrics.set(s.service, m);
      this.spark(this.rateSpark, s.service).push(s.total.requestRate);
      for (const e of s.endpoints) this.spark(this.endpointSpark, `${s.service}\u0000${e.endpoint}`).push(e.stats.latencyP99);
      this.markService(s.service);
    }
    // Services the collector no longer reports: their traffic is gone, their sparkline gets a gap.
    for (const name of [...this.metrics.keys()]) {
      if (seen.has(name)) continue;
      this.metrics.delete(name);
      this.spark(this.rateSpark, name).push(null);
      this.markService(name);
    }
  }

  /** Per-instance rows of one service (a query with `service` and `instances`). */
  applyInstanceMetrics(service: string, rows: ReadonlyArray<{ id: string; stats: TrafficStats }>): void {
    const m = this.metrics.get(service);
    if (!m) return;
    m.instances = new Map(rows.map((r) => [r.id, r.stats]));
    this.touched.add(service);
  }

  /** An alert transition from the alert stream. Older transitions than the one known are ignored. */
  applyAlert(ev: AlertEvent): void {
    const rec = this.alerts.get(ev.fingerprint);
    if (rec) {
      const newer = ev.startsAt > rec.event.startsAt || (ev.startsAt === rec.event.startsAt && ev.status === "resolved" && rec.event.status === "firing");
      if (!newer) return;
      rec.event = ev;
    } else {
      if (this.alerts.size >= this.maxAlerts && !this.evictResolved(1)) return;
      this.alerts.set(ev.fingerprint, {
        event: ev,
        ack: this.orphanAcks.get(ev.fingerprint),
        mails: this.orphanMails.get(ev.fingerprint) ?? [],
      });
      this.orphanAcks.delete(ev.fingerprint);
      this.orphanMails.delete(ev.fingerprint);
    }
    this.dirtyAlerts.add(ev.fingerprint);
    this.markService(ev.service);
    this.trimResolved();
  }

  /** An acknowledgement as the notifier stored it (undefined: deleted). */
  applyAck(fingerprint: string, ack: ConsoleAck | undefined): void {
    if (!FINGERPRINT.test(fingerprint)) return;
    const rec = this.alerts.get(fingerprint);
    if (!rec) {
      if (ack) this.boundedSet(this.orphanAcks, fingerprint, ack);
      else this.orphanAcks.delete(fingerprint);
      return;
    }
    rec.ack = ack;
    this.dirtyAlerts.add(fingerprint);
  }

  /** A mail the notifier recorded as sent for one transition of an alert. */
  applyMail(fingerprint: string, mail: ConsoleMail): void {
    if (!FINGERPRINT.test(fingerprint)) return;
    const rec = this.alerts.get(fingerprint);
    const list = rec ? rec.mails : (this.orphanMails.get(fingerprint) ?? []);
    if (list.some((m) => m.route === mail.route && m.status === mail.status && m.at === mail.at)) return;
    list.push(mail);
    list.sort((a, b) => a.at - b.at);
    if (list.length > 64) list.splice(0, list.length - 64);
    if (rec) this.dirtyAlerts.add(fingerprint);
    else this.boundedSet(this.orphanMails, fingerprint, list);
  }

  // ---- reads -------------------------------------------------------------------------------

  /** Every service the registry or the collector knows, trouble first, then by name. */
  services(): ConsoleServiceSummary[] {
    const names = new Set([...this.instances.serviceNames(), ...this.metrics.keys()]);
    const out: ConsoleServiceSummary[] = [];
    for (const n of names) {
      const s = this.summary(n);
      if (s) out.push(s);
    }
    return out.sort(byTrouble);
  }

  /** One service's summary, or undefined when nothing is known about it. */
  summary(service: string): ConsoleServiceSummary | undefined {
    const views = this.instances.all(service);
    const m = this.metrics.get(service);
    if (views.length === 0 && !m && !this.firingCount(service)) return undefined;
    const counts: ConsoleStateCounts = { up: 0, suspect: 0, down: 0 };
    const versions = new Set<string>();
    for (const v of views) {
      if (v.state === "removed") continue;
      counts[v.state]++;
      if (versions.size < 16) versions.add(v.instance.version);
    }
    const firing = this.firingCount(service);
    const t = m?.total;
    const errorRate = t?.errorRate ?? null;
    const trouble = firing * 1_000_000 + counts.down * 1000 + counts.suspect * 100 + (errorRate ? Math.min(99, Math.ceil(errorRate * 100)) : 0);
    return {
      service,
      counts,
      versions: [...versions].sort(),
      requestRate: t?.requestRate ?? null,
      errorRate,
      p50: t?.latencyP50 ?? null,
      p99: t?.latencyP99 ?? null,
      spark: this.rateSpark.get(service)?.toArray() ?? [],
      firing,
      trouble,
    };
  }

  /** Everything about one service, or undefined when nothing is known about it. */
  detail(service: string): ConsoleServiceDetail | undefined {
    const summary = this.summary(service);
    if (!summary) return undefined;
    const m = this.metrics.get(service);
    const instances: ConsoleInstance[] = this.instances
      .all(service)
      .filter((v) => v.state !== "removed")
      .map((v) => {
        const hb = this.heartbeats.get(v.instance.id);
        const view = hb && hb.lastSeen > v.lastSeen ? { ...v, lastSeen: hb.lastSeen, inFlight: hb.inFlight } : v;
        const stats = m?.instances.get(v.instance.id);
        return { view, subject: this.subjectOf(service, v.instance.id), ...(stats ? { stats } : {}) };
      })
      .sort((a, b) => stateRank(a.view.state) - stateRank(b.view.state) || a.view.instance.id.localeCompare(b.view.instance.id));
    const endpoints: ConsoleEndpoint[] = m
      ? [...m.endpoints].map(([endpoint, stats]) => ({ endpoint, stats, spark: this.endpointSpark.get(`${service}\u0000${endpoint}`)?.toArray() ?? [] }))
      : [];
    return { service, summary, instances, endpoints, events: this.serviceEvents.get(service)?.toArray().reverse() ?? [] };
  }

  /** Firing alerts first (newest first), then resolved ones (most recently resolved first). */
  alertList(): ConsoleAlert[] {
    return [...this.alerts.values()].map((r) => this.alertView(r)).sort(byAlertOrder);
  }

  /** The latest registry events, newest last. */
  eventLog(limit = 500): ConsoleEvent[] {
    const all = this.events.toArray();
    return all.slice(Math.max(0, all.length - limit));
  }

  /** The alert with this fingerprint, if known. */
  alert(fingerprint: string): ConsoleAlert | undefined {
    const r = this.alerts.get(fingerprint);
    return r ? this.alertView(r) : undefined;
  }

  /** Changes since the last call (each change is handed out once). */
  takeChanges(): ConsoleChanges {
    const services: ConsoleServiceSummary[] = [];
    const removedServices: string[] = [];
    for (const n of this.dirtyServices) {
      const s = this.summary(n);
      if (s) {
        services.push(s);
        this.known.add(n);
      } else if (this.known.delete(n)) removedServices.push(n);
    }
    const alerts: ConsoleAlert[] = [];
    for (const fp of this.dirtyAlerts) {
      const r = this.alerts.get(fp);
      if (r) alerts.push(this.alertView(r));
    }
    const changes = { services, removedServices, alerts, events: this.newEvents, touched: new Set(this.touched) };
    this.dirtyServices.clear();
    this.dirtyAlerts.clear();
    this.touched.clear();
    this.newEvents = [];
    return changes;
  }

  // ---- internals ---------------------------------------------------------------------------

  private markService(service: string): void {
    this.dirtyServices.add(service);
    this.touched.add(service);
  }

  private spark(map: Map<string, RingBuffer<number | null>>, key: string): RingBuffer<number | null> {
    let r = map.get(key);
    if (!r) map.set(key, (r = new RingBuffer(this.sparkPoints)));
    return r;
  }

  private firingCount(service: string): number {
    let n = 0;
    for (const r of this.alerts.values()) if (r.event.status === "firing" && r.event.service === service) n++;
    return n;
  }

  private alertView(r: AlertRecord): ConsoleAlert {
    const e = r.event;
    const group = this.groupBy.map((l) => `${l}=${JSON.stringify(e.labels[l] ?? "")}`).join(", ");
    return {
      fingerprint: e.fingerprint,
      status: e.status,
      rule: e.rule,
      service: e.service,
      severity: e.severity,
      ...(e.instance ? { instance: e.instance } : {}),
      labels: e.labels,
      annotations: e.annotations,
      startsAt: e.startsAt,
      ...(e.endsAt !== undefined ? { endsAt: e.endsAt } : {}),
      value: e.value ?? null,
      group: group.slice(0, 4096),
      ...(r.ack ? { ack: r.ack } : {}),
      mails: r.mails,
    };
  }

  private trimResolved(): void {
    let resolved = 0;
    for (const r of this.alerts.values()) if (r.event.status === "resolved") resolved++;
    if (resolved > this.maxResolved) this.evictResolved(resolved - this.maxResolved);
  }

  /** Drops the `n` longest-resolved alerts; false when there was none to drop. */
  private evictResolved(n: number): boolean {
    const resolved = [...this.alerts.values()].filter((r) => r.event.status === "resolved").sort((a, b) => (a.event.endsAt ?? 0) - (b.event.endsAt ?? 0));
    for (const r of resolved.slice(0, n)) this.alerts.delete(r.event.fingerprint);
    return resolved.length > 0;
  }

  private boundedSet<V>(map: Map<string, V>, key: string, value: V): void {
    if (!map.has(key) && map.size >= this.maxAlerts) {
      const oldest = map.keys().next().value;
      if (oldest !== undefined) map.delete(oldest);
    }
    map.set(key, value);
  }
}

function stateRank(s: InstanceView["state"]): number {
  return s === "down" ? 0 : s === "suspect" ? 1 : s === "up" ? 2 : 3;
}

function byTrouble(a: ConsoleServiceSummary, b: ConsoleServiceSummary): number {
  return b.trouble - a.trouble || (a.service < b.service ? -1 : a.service > b.service ? 1 : 0);
}

function byAlertOrder(a: ConsoleAlert, b: ConsoleAlert): number {
  if (a.status !== b.status) return a.status === "firing" ? -1 : 1;
  return a.status === "firing" ? b.startsAt - a.startsAt : (b.endsAt ?? 0) - (a.endsAt ?? 0);
}
