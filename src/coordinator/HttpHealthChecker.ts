/**
 * Active HTTP health checks of instances registered with a `healthCheck`, run by the leading
 * coordinator: every `intervalMs` a GET on `<address><path>`; a 2xx within `timeoutMs` is published as
 * a heartbeat of the instance on its own heartbeat subject. Every coordinator (followers too) applies
 * that heartbeat like an agent's, so missed checks move the instance up → suspect → down → removed in
 * the same state machine, and a passing check revives it. Only the leader checks (no check twice);
 * a new leader starts checking everything its registry holds at once (none lost when one dies), with
 * sequence numbers continuing from the last heartbeat the registry accepted.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { encodeJson, type Heartbeat, type HttpHealthCheck, type InstanceRecord, type Logger, type Subjects } from "../protocol/index.js";
import { httpExchange } from "../http/probeHttp.js";
import type { RegistryStateMachine } from "./RegistryStateMachine.js";
import type { RegistryChange } from "./types.js";

/** Options of {@link HttpHealthChecker}. */
export interface HttpHealthCheckerOptions {
  nc: () => NatsConnection;
  subjects: Subjects;
  registry: RegistryStateMachine;
  log: Logger;
  now?: () => number;
}

interface Target {
  service: string;
  id: string;
  url: string;
  check: HttpHealthCheck;
  timer: NodeJS.Timeout | undefined;
  running: boolean;
  seq: number;
}

/** Counters of the checker. */
export interface HttpHealthCheckStats {
  checking: number;
  passed: number;
  failed: number;
}

const key = (service: string, id: string) => `${service}\u0000${id}`;

/** Target URL of a record's check, or undefined when it has none. */
function checkUrl(record: InstanceRecord): string | undefined {
  if (!record.healthCheck || !record.address || !/^https?:\/\//.test(record.address)) return undefined;
  return record.address.replace(/\/+$/, "") + record.healthCheck.path;
}

/** See the module comment. */
export class HttpHealthChecker {
  private readonly targets = new Map<string, Target>();
  private active = false;
  private readonly counters = { passed: 0, failed: 0 };
  private lastFailureLog = 0;
  private readonly now: () => number;

  constructor(private readonly opts: HttpHealthCheckerOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Starts checking every health-checked instance of the registry (this coordinator leads). */
  start(): void {
    if (this.active) return;
    this.active = true;
    for (const e of this.opts.registry.entries()) this.track(e.record);
  }

  /** Stops every check (this coordinator no longer leads, or stops). */
  stop(): void {
    this.active = false;
    for (const t of this.targets.values()) clearTimeout(t.timer);
    this.targets.clear();
  }

  /** Follows a registry change: new, changed and removed instances. */
  onChange(c: RegistryChange): void {
    if (!this.active) return;
    if (c.type === "removed") this.untrack(c.view.instance.service, c.view.instance.id);
    else this.track(c.view.instance);
  }

  stats(): HttpHealthCheckStats {
    return { checking: this.targets.size, ...this.counters };
  }

  private track(record: InstanceRecord): void {
    const url = checkUrl(record);
    const k = key(record.service, record.id);
    const existing = this.targets.get(k);
    if (!url) {
      if (existing) this.untrack(record.service, record.id);
      return;
    }
    if (existing) {
      existing.url = url;
      existing.check = record.healthCheck!;
      return;
    }
    const t: Target = { service: record.service, id: record.id, url, check: record.healthCheck!, timer: undefined, running: false, seq: 0 };
    this.targets.set(k, t);
    // Check at once: a new leader must not let the instance age while it waits an interval.
    this.schedule(t, 0);
  }

  private untrack(service: string, id: string): void {
    const k = key(service, id);
    const t = this.targets.get(k);
    if (!t) return;
    clearTimeout(t.timer);
    this.targets.delete(k);
  }

  private schedule(t: Target, delayMs: number): void {
    clearTimeout(t.timer);
    t.timer = setTimeout(() => void this.run(t), delayMs);
    t.timer.unref?.();
  }

  private async run(t: Target): Promise<void> {
    if (!this.active || this.targets.get(key(t.service, t.id)) !== t || t.running) return;
    t.running = true;
    const started = this.now();
    const out = await httpExchange(t.url, { method: "GET", timeoutMs: t.check.timeoutMs, maxBytes: 64 * 1024, headers: { "User-Agent": "switchboard-health-check" } });
    t.running = false;
    if (!this.active || this.targets.get(key(t.service, t.id)) !== t) return;
    if (out.kind === "response" && out.status >= 200 && out.status < 300) {
      this.counters.passed++;
      this.publishPass(t);
    } else {
      this.counters.failed++;
      const now = this.now();
      if (now - this.lastFailureLog > 10_000) {
        this.lastFailureLog = now;
        this.opts.log.info(
          { service: t.service, id: t.id, url: t.url, result: out.kind === "response" ? `HTTP ${out.status}` : out.message },
          "HTTP health check failed (further failures within 10 s are not logged)",
        );
      }
    }
    this.schedule(t, Math.max(0, t.check.intervalMs - (this.now() - started)));
  }

  private publishPass(t: Target): void {
    const entry = this.opts.registry.get(t.service, t.id);
    if (!entry) return;
    // Continue from the registry's last accepted heartbeat: after a leader change the new leader's
    // heartbeats must not be "stale".
    t.seq = Math.max(t.seq, entry.seq) + 1;
    const hb: Heartbeat = { v: 1, id: t.id, service: t.service, seq: t.seq, sentAt: Math.floor(this.now()), inFlight: 0, status: "ok" };
    try {
      this.opts.nc().publish(this.opts.subjects.heartbeat(t.service, t.id), encodeJson(hb));
    } catch (err) {
      this.opts.log.warn({ err: String(err) }, "could not publish a health-check heartbeat");
    }
  }
}
