/**
 * Persistence of the registry in a JetStream KV bucket, so a restarted coordinator answers with what
 * it knew instead of an empty registry. One key per instance (`i.<service>.<id>`: a registry of 10 000
 * instances does not fit in one message) and one key for the revision. Only state changes are written,
 * never heartbeats, and writes are coalesced and done off the message path. A removed instance is
 * purged from the stream (no delete marker left behind), so the bucket holds exactly the registry.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { decodeMessage, encodeJson, type CoordinatorLease, type Logger, type PersistedInstance } from "../protocol/index.js";
import type { LoadedInstance } from "./types.js";

/** Key of the last published revision. */
const REVISION_KEY = "revision";
/** Writes in flight at once during a flush. */
const WRITE_CONCURRENCY = 256;

/** Key of one instance. Service and id are subject tokens, so the key is valid. */
export function instanceKey(service: string, id: string): string {
  return `i.${service}.${id}`;
}

/** What a loaded bucket held. */
export interface StoredRegistry {
  instances: LoadedInstance[];
  revision: number;
  /** Values that failed validation (skipped). */
  invalid: number;
}

/** The registry bucket. */
export class RegistryStore {
  private readonly dirty = new Set<string>();
  private revisionDirty = false;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  /** Successful writes/purges, and failed ones (retried on the next flush). */
  readonly counters = { written: 0, failed: 0 };

  private constructor(
    private readonly kv: KV,
    private readonly jsm: JetStreamManager,
    private readonly bucket: string,
    private readonly source: {
      /** The value to store for a key, or null when the instance is gone. */
      valueOf(key: string): PersistedInstance | null;
      revision(): CoordinatorLease;
    },
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  /** Opens (creating if needed) the bucket. */
  static async open(
    nc: NatsConnection,
    bucket: string,
    opts: { replicas: number; timeoutMs: number; intervalMs: number; log: Logger },
    source: RegistryStore["source"],
  ): Promise<RegistryStore> {
    const js = jetstream(nc, { timeout: opts.timeoutMs });
    const kv = await new Kvm(js).create(bucket, { history: 1, replicas: opts.replicas, description: "Switchboard registry" });
    const jsm = await jetstreamManager(nc, { timeout: opts.timeoutMs });
    return new RegistryStore(kv, jsm, bucket, source, opts.intervalMs, opts.log);
  }

  /** Reads every stored instance and the revision. Values that fail validation are skipped and counted. */
  async load(timeoutMs = 10_000): Promise<StoredRegistry> {
    const out: StoredRegistry = { instances: [], revision: 0, invalid: 0 };
    const status = await this.kv.status();
    if (status.values === 0) return out;
    const iter = await this.kv.watch({ key: ">" });
    const timer = setTimeout(() => iter.stop(), timeoutMs);
    try {
      for await (const e of iter) {
        if (e.operation === "PUT") {
          if (e.key === REVISION_KEY) {
            const d = decodeMessage("coordinator-lease", e.value);
            if (d.ok) out.revision = d.value.revision;
            else out.invalid++;
          } else {
            const d = decodeMessage("persisted-instance", e.value);
            if (d.ok && instanceKey(d.value.view.instance.service, d.value.view.instance.id) === e.key) {
              const li: LoadedInstance = { view: d.value.view };
              if (d.value.ttlMs !== undefined) li.ttlMs = d.value.ttlMs;
              out.instances.push(li);
            } else out.invalid++;
          }
        }
        if (e.isUpdate || e.delta === 0) break;
      }
    } finally {
      clearTimeout(timer);
      iter.stop();
    }
    if (out.invalid > 0) this.log.warn({ invalid: out.invalid }, "skipped invalid values in the registry bucket");
    return out;
  }

  /** Every key stored now (to purge what a new leader's registry does not hold). */
  async keys(): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await this.kv.keys("i.>")) out.push(k);
    return out;
  }

  /** Schedules the key of an instance for writing (its current value, or a purge when gone). */
  markDirty(service: string, id: string): void {
    this.markKey(instanceKey(service, id));
  }

  /** Schedules a key for writing. */
  markKey(key: string): void {
    this.dirty.add(key);
    this.revisionDirty = true;
    this.schedule();
  }

  /** Schedules the revision for writing. */
  markRevision(): void {
    this.revisionDirty = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.intervalMs);
    this.timer.unref?.();
  }

  /** Writes everything pending now; resolves when done (failed keys stay pending). */
  flush(): Promise<void> {
    if (this.flushing) {
      // One flush at a time; what was marked meanwhile goes in the next one.
      return this.flushing.then(() => (this.dirty.size > 0 || this.revisionDirty ? this.flush() : undefined));
    }
    this.flushing = this.doFlush().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async doFlush(): Promise<void> {
    const keys = [...this.dirty];
    this.dirty.clear();
    const writeRevision = this.revisionDirty;
    this.revisionDirty = false;
    const failed: string[] = [];
    for (let i = 0; i < keys.length; i += WRITE_CONCURRENCY) {
      const batch = keys.slice(i, i + WRITE_CONCURRENCY);
      const results = await Promise.allSettled(batch.map((k) => this.write(k)));
      results.forEach((r, j) => {
        if (r.status === "rejected") failed.push(batch[j]!);
      });
    }
    if (writeRevision) {
      try {
        await this.kv.put(REVISION_KEY, encodeJson(this.source.revision()));
        this.counters.written++;
      } catch {
        failed.push("");
      }
    }
    if (failed.length > 0) {
      this.counters.failed += failed.length;
      this.log.warn({ failed: failed.length }, "registry writes to KV failed; will retry");
      for (const k of failed) if (k) this.dirty.add(k);
      this.revisionDirty = true;
      if (!this.closed) this.schedule();
    }
  }

  private async write(key: string): Promise<void> {
    const value = this.source.valueOf(key);
    if (value) await this.kv.put(key, encodeJson(value));
    else await this.jsm.streams.purge(`KV_${this.bucket}`, { filter: `$KV.${this.bucket}.${key}` });
    this.counters.written++;
  }

  /** Stops scheduling writes; call {@link flush} first to write what is pending. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
