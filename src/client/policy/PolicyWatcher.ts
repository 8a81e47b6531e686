/**
 * Keeps every client's traffic policies current: watches the KV bucket `<prefix>_routes` (one key per
 * service, written by `switchboard route set|clear`) and holds the last valid policy of each service.
 * A value that fails validation (written by someone else, truncated, hostile) is refused: logged once,
 * counted, and the previous valid policy of that service stays in force. Without JetStream or
 * without the bucket, calls simply have no policy; the watcher keeps trying to open the bucket.
 */
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV, type KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { QueuedIterator } from "@nats-io/transport-node";
import { isToken, type Logger } from "../../protocol/index.js";
import { decodePolicy, InvalidPolicyError, type CompiledPolicy } from "./TrafficPolicy.js";

/** KV bucket of the traffic policies of an installation (prefix dots become `_`). */
export function routesBucketName(prefix: string): string {
  return `${prefix.replace(/\./g, "_")}_routes`;
}

/** Options of {@link PolicyWatcher}. */
export interface PolicyWatcherOptions {
  prefix: string;
  logger: Logger;
  /** While the bucket cannot be opened, try again this often (ms, default 2000). */
  retryMs?: number;
  /** Called after every applied change (service name). */
  onChange?: (service: string) => void;
}

/** Counters of a watcher. */
export interface PolicyWatcherStats {
  /** Services with a policy in force. */
  policies: number;
  /** Stored values refused (invalid). */
  invalid: number;
  /** Changes applied (sets and clears). */
  applied: number;
  /** True while the bucket is watched. */
  watching: boolean;
}

/** The traffic policies in force, by service. */
export class PolicyWatcher {
  private readonly policies = new Map<string, CompiledPolicy>();
  private readonly counters = { invalid: 0, applied: 0 };
  private iter: QueuedIterator<KvWatchEntry> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly refused = new Set<string>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: PolicyWatcherOptions,
  ) {}

  /** The policy in force for `service`, if any. */
  get(service: string): CompiledPolicy | undefined {
    return this.policies.size === 0 ? undefined : this.policies.get(service);
  }

  /** Every policy in force. */
  all(): CompiledPolicy[] {
    return [...this.policies.values()];
  }

  stats(): PolicyWatcherStats {
    return { policies: this.policies.size, invalid: this.counters.invalid, applied: this.counters.applied, watching: this.iter !== undefined };
  }

  /**
   * Opens the bucket and applies what it holds, waiting at most `initialMs` for that (the client's
   * first calls then already follow the policies). Never rejects.
   */
  async start(initialMs = 1000): Promise<this> {
    await Promise.race([this.open(), new Promise((r) => setTimeout(r, initialMs).unref?.())]);
    return this;
  }

  /** Stops watching. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.iter?.stop();
    this.iter = undefined;
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    let iter: QueuedIterator<KvWatchEntry>;
    let stored: number;
    try {
      const kv: KV = await new Kvm(jetstream(this.nc, { timeout: 2000 })).open(routesBucketName(this.opts.prefix));
      stored = (await kv.status()).values;
      iter = await kv.watch({ key: ">" });
    } catch {
      // No JetStream, no bucket yet (no policy was ever set), or no permission: no policies.
      this.scheduleRetry();
      return;
    }
    if (this.stopped) {
      iter.stop();
      return;
    }
    this.iter = iter;
    // Resolves once the values stored when the watch began are applied (delta 0), at once for an empty bucket.
    let loaded!: () => void;
    const initial = new Promise<void>((r) => (loaded = r));
    if (stored === 0) loaded();
    void (async () => {
      try {
        for await (const e of iter) {
          this.apply(e);
          if (e.delta === 0 || e.isUpdate) loaded();
        }
      } catch (err) {
        this.opts.logger.warn({ err }, "traffic policy watch ended");
      } finally {
        loaded();
        if (this.iter === iter) this.iter = undefined;
        this.scheduleRetry();
      }
    })();
    await initial;
  }

  private scheduleRetry(): void {
    if (this.stopped || this.nc.isClosed()) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.open(), this.opts.retryMs ?? 2000);
    this.retryTimer.unref?.();
  }

  private apply(e: KvWatchEntry): void {
    const key = e.key;
    if (!isToken(key)) {
      this.refuse(key, e.revision, "the key is not a service name");
      return;
    }
    if (e.operation === "DEL" || e.operation === "PURGE") {
      if (this.policies.delete(key)) {
        this.counters.applied++;
        this.opts.logger.info({ service: key }, "traffic policy cleared");
        this.opts.onChange?.(key);
      }
      return;
    }
    try {
      const policy = decodePolicy(key, e.value, e.revision);
      this.policies.set(key, policy);
      this.counters.applied++;
      this.opts.logger.info({ service: key, revision: e.revision, subsets: policy.subsets.map((s) => `${s.name}:${s.weight}`) }, "traffic policy in force");
      this.opts.onChange?.(key);
    } catch (err) {
      this.refuse(key, e.revision, err instanceof InvalidPolicyError ? err.message : String(err));
    }
  }

  /** Counts a refused value and logs it once per key (until a valid value for that key arrives). */
  private refuse(key: string, revision: number, reason: string): void {
    this.counters.invalid++;
    const k = key.slice(0, 64);
    if (this.refused.has(k)) return;
    if (this.refused.size > 1000) this.refused.clear();
    this.refused.add(k);
    this.opts.logger.warn(
      { key: JSON.stringify(k), revision, reason: reason.slice(0, 300), keeps: this.policies.has(key) ? "the previous valid policy" : "no policy" },
      "refused an invalid traffic policy",
    );
  }
}
