/**
 * Traffic figures for the console: asks a collector (`<prefix>.monitor.query`) every step for all
 * services, and for the services someone is looking at with per-instance rows. The console's
 * server polls the collector; browsers only receive the results.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { monitorQuerySubject } from "../monitor/index.js";
import { decodeMessage, encodeJson, readErrorReply, type ConsoleCollectorStatus, type MonitorQuery, type MonitorSnapshot, type Subjects } from "../protocol/index.js";
import type { ConsoleState } from "./ConsoleState.js";

/** Options of {@link MetricsFeed}. */
export interface MetricsFeedOptions {
  subjects: Subjects;
  /** Query interval in ms (default 2000). */
  stepMs: number;
  /** Reply timeout in ms. */
  timeoutMs: number;
  /** Services to query with per-instance rows. */
  watched: () => Iterable<string>;
  onChange: () => void;
}

/** Largest collector reply accepted (1,000 services with endpoints fit well below). */
const MAX_REPLY_BYTES = 32 * 1024 * 1024;

/** See the module comment. */
export class MetricsFeed {
  /** Whether the last query was answered. */
  status: ConsoleCollectorStatus = { ok: false, error: "no collector queried yet" };
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly state: ConsoleState,
    private readonly opts: MetricsFeedOptions,
  ) {}

  start(): this {
    const tick = () => {
      this.running ??= this.poll().finally(() => (this.running = undefined));
    };
    tick();
    this.timer = setInterval(tick, this.opts.stepMs);
    return this;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One round: all services, then each watched service's instances. */
  async poll(): Promise<void> {
    try {
      const snap = await this.query({ v: 1 });
      this.state.applyMetrics(snap);
      this.status = { ok: true, collector: snap.collector.slice(0, 128), at: snap.at };
      for (const service of this.opts.watched()) {
        const one = await this.query({ v: 1, service, instances: true });
        const s = one.services.find((x) => x.service === service);
        if (s?.instances) this.state.applyInstanceMetrics(service, s.instances);
      }
    } catch (err) {
      this.status = { ok: false, error: (err as Error).message.slice(0, 1024) };
    }
    this.opts.onChange();
  }

  private async query(q: MonitorQuery): Promise<MonitorSnapshot> {
    if (this.nc.isClosed()) throw new Error("connection closed");
    const msg = await this.nc.request(monitorQuerySubject(this.opts.subjects), encodeJson(q), { timeout: this.opts.timeoutMs });
    const err = readErrorReply(msg);
    if (err) throw new Error(`collector refused the query: ${err.code}: ${err.message}`);
    const d = decodeMessage("monitor-snapshot", msg.data, MAX_REPLY_BYTES);
    if (!d.ok) throw new Error(`unusable collector reply: ${d.error}`);
    return d.value;
  }
}
