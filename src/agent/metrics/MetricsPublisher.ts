/**
 * Publishes an agent's metrics snapshot on `<prefix>.metrics.<service>.<instance>` every interval,
 * and once more on stop so the last counts are not lost. Plain NATS publish: collectors fan in by
 * subscription (no queue group), every collector sees every snapshot, and since counters are
 * cumulative a lost snapshot costs resolution, not data.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { encodeJson, type Logger } from "../../protocol/index.js";
import type { AgentMetrics } from "./AgentMetrics.js";

/** What {@link MetricsPublisher} needs from its agent. */
export interface MetricsPublisherDeps {
  metrics: AgentMetrics;
  /** The agent's connection (read each time: it exists only once the agent started). */
  nc: () => NatsConnection;
  subject: string;
  service: string;
  id: string;
  startedAt: number;
  intervalMs: number;
  log: Logger;
  /** Endpoints to include even before their first request. */
  endpoints: () => Iterable<string>;
  now?: () => number;
}

/** See the module comment. */
export class MetricsPublisher {
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private busy = false;
  private failures = 0;

  constructor(private readonly deps: MetricsPublisherDeps) {}

  /** Snapshots published so far. */
  get published(): number {
    return this.seq;
  }

  start(): void {
    if (this.timer) return;
    void this.publishNow();
    this.timer = setInterval(() => void this.publishNow(), this.deps.intervalMs);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.publishNow();
  }

  /** Builds and publishes one snapshot (skipped if the previous one is still being built). */
  async publishNow(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const nc = this.deps.nc();
      if (nc.isClosed()) return;
      for (const ep of this.deps.endpoints()) this.deps.metrics.ensureEndpoint(ep);
      const snap = await this.deps.metrics.snapshot({
        service: this.deps.service,
        id: this.deps.id,
        seq: this.seq + 1,
        sentAt: (this.deps.now ?? Date.now)(),
        startedAt: this.deps.startedAt,
        intervalMs: this.deps.intervalMs,
      });
      nc.publish(this.deps.subject, encodeJson(snap));
      this.seq++;
      this.failures = 0;
    } catch (err) {
      // Publishing fails only while the connection is closing or the payload is too large; say so once per streak.
      if (this.failures++ === 0) this.deps.log.warn({ err }, "could not publish metrics snapshot");
    } finally {
      this.busy = false;
    }
  }
}
