/**
 * The page's data: one Server-Sent Events stream from the console (a `snapshot`, then `update`s at
 * most a few times a second), applied to plain maps. Views subscribe and re-render on a change;
 * nothing in the page polls.
 */
import type {
  ConsoleAlert,
  ConsoleCollectorStatus,
  ConsoleEvent,
  ConsoleRegistryStatus,
  ConsoleServiceDetail,
  ConsoleServiceSummary,
  ConsoleSnapshot,
  ConsoleUpdate,
  AlertAckReply,
  ConsoleError,
} from "../../src/protocol/types.generated.js";

export type Connection = "connecting" | "live" | "reconnecting" | "unauthorized";

/** Registry events kept in the page. */
const MAX_EVENTS = 5000;

export class Store {
  services = new Map<string, ConsoleServiceSummary>();
  alerts = new Map<string, ConsoleAlert>();
  events: ConsoleEvent[] = [];
  detail: ConsoleServiceDetail | undefined;
  detailService: string | undefined;
  registry: ConsoleRegistryStatus | undefined;
  collector: ConsoleCollectorStatus | undefined;
  prefix = "";
  metricsStepMs = 2000;
  /** Time of the newest metrics step (the right end of the charts). */
  get lastAt(): number {
    return this.collector?.at ?? Date.now();
  }
  connection: Connection = "connecting";
  /** Changes applied so far (a cheap "has anything changed" for views). */
  version = 0;
  /** Updates applied, and the time spent applying them (the benchmark reads these). */
  readonly stats = { updates: 0, applyMs: 0 };
  private source: EventSource | undefined;
  private readonly listeners = new Set<() => void>();
  private notifyQueued = false;

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Opens (or re-opens, for another watched service) the live stream. */
  connect(service: string | undefined): void {
    if (this.source && this.detailService === service) return;
    this.source?.close();
    this.detailService = service;
    this.detail = undefined;
    const url = service ? `/api/stream?service=${encodeURIComponent(service)}` : "/api/stream";
    const es = new EventSource(url);
    this.source = es;
    es.addEventListener("snapshot", (e) => this.applySnapshot(JSON.parse((e as MessageEvent<string>).data) as ConsoleSnapshot));
    es.addEventListener("update", (e) => this.applyUpdate(JSON.parse((e as MessageEvent<string>).data) as ConsoleUpdate));
    es.onerror = () => {
      if (this.source !== es) return;
      this.connection = "reconnecting";
      this.changed();
      // A 401 closes the stream for good: ask the server whether a token is needed.
      if (es.readyState === EventSource.CLOSED) void this.checkSession();
    };
  }

  disconnect(): void {
    this.source?.close();
    this.source = undefined;
  }

  async checkSession(): Promise<boolean> {
    const r = await fetch("/api/session", { credentials: "same-origin" });
    const s = (await r.json()) as { authRequired: boolean; authenticated: boolean };
    if (s.authRequired && !s.authenticated) {
      this.disconnect();
      this.connection = "unauthorized";
      this.changed();
      return false;
    }
    return true;
  }

  async login(token: string): Promise<boolean> {
    const r = await fetch("/api/session", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token }), credentials: "same-origin" });
    if (!r.ok) return false;
    this.connection = "connecting";
    this.source = undefined;
    this.connect(this.detailService);
    return true;
  }

  /** Acknowledges an alert through the console, which asks the notifiers over NATS. */
  async ack(fingerprint: string, durationMs: number, comment: string): Promise<{ ok: true; reply: AlertAckReply } | { ok: false; message: string }> {
    const body: Record<string, unknown> = { durationMs };
    if (comment.trim()) body.comment = comment.trim().slice(0, 1024);
    const r = await fetch(`/api/alerts/${encodeURIComponent(fingerprint)}/ack`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    const data = (await r.json()) as AlertAckReply | ConsoleError;
    if (!r.ok || "error" in data) return { ok: false, message: "error" in data ? `${data.error.code}: ${data.error.message}` : `HTTP ${r.status}` };
    return { ok: true, reply: data };
  }

  applySnapshot(s: ConsoleSnapshot): void {
    const t0 = performance.now();
    this.prefix = s.prefix;
    this.metricsStepMs = s.metricsStepMs;
    this.registry = s.registry;
    this.collector = s.collector;
    this.services = new Map(s.services.map((x) => [x.service, x]));
    this.alerts = new Map(s.alerts.map((a) => [a.fingerprint, a]));
    this.events = s.events.slice(-MAX_EVENTS);
    this.detail = s.detail;
    this.connection = "live";
    this.stats.applyMs += performance.now() - t0;
    this.changed();
  }

  applyUpdate(u: ConsoleUpdate): void {
    const t0 = performance.now();
    if (u.registry) this.registry = u.registry;
    if (u.collector) this.collector = u.collector;
    for (const s of u.services ?? []) this.services.set(s.service, s);
    for (const n of u.removedServices ?? []) this.services.delete(n);
    for (const a of u.alerts ?? []) this.alerts.set(a.fingerprint, a);
    if (u.events?.length) {
      this.events.push(...u.events);
      if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
    }
    if (u.detail && u.detail.service === this.detailService) this.detail = u.detail;
    this.connection = "live";
    this.stats.updates++;
    this.stats.applyMs += performance.now() - t0;
    this.changed();
  }

  /** Listeners run once per animation frame at most, however many updates arrived. */
  private changed(): void {
    this.version++;
    if (this.notifyQueued) return;
    this.notifyQueued = true;
    requestAnimationFrame(() => {
      this.notifyQueued = false;
      for (const l of this.listeners) l();
    });
  }
}

export const store = new Store();
