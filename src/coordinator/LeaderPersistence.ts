/**
 * What the leading coordinator saves in KV, and when: every published change of an instance (its view,
 * or a purge when it is gone) and the last published revision; on taking the lease, the whole registry
 * (the previous leader's last writes may be missing) and a purge of keys it does not hold. The bucket
 * itself — coalescing, batching, retries — is {@link RegistryStore}.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { CoordinatorLease, Logger, PersistedInstance } from "../protocol/index.js";
import { registryBucketName } from "./names.js";
import type { RegistryStateMachine } from "./RegistryStateMachine.js";
import { RegistryStore, instanceKey, type StoredRegistry } from "./RegistryStore.js";

/** Options of {@link LeaderPersistence.open}. */
export interface LeaderPersistenceOptions {
  prefix: string;
  replicas: number;
  /** Coalescing delay of writes, ms. */
  intervalMs: number;
  log: Logger;
  /** Id written with the revision. */
  coordinatorId: string;
  registry: RegistryStateMachine;
  now: () => number;
  /** The revision to save (the last one published). */
  revision: () => number;
}

/** The registry's persistence as the leader does it. */
export class LeaderPersistence {
  private constructor(
    private readonly store: RegistryStore,
    private readonly opts: LeaderPersistenceOptions,
  ) {}

  /** Opens (creating if needed) the registry bucket. */
  static async open(nc: NatsConnection, opts: LeaderPersistenceOptions): Promise<LeaderPersistence> {
    let self: LeaderPersistence | undefined;
    const store = await RegistryStore.open(
      nc,
      registryBucketName(opts.prefix),
      { replicas: opts.replicas, timeoutMs: 5000, intervalMs: opts.intervalMs, log: opts.log },
      { valueOf: (key) => self!.valueOf(key), revision: () => self!.revisionValue() },
    );
    self = new LeaderPersistence(store, opts);
    return self;
  }

  /** Writes and purges done, and failures. */
  get counters(): RegistryStore["counters"] {
    return this.store.counters;
  }

  /** What the bucket holds (a starting coordinator resumes with it). */
  load(): Promise<StoredRegistry> {
    return this.store.load();
  }

  /** A change of this instance was published: save its current view (or purge it). */
  changed(service: string, id: string): void {
    this.store.markDirty(service, id);
  }

  /** A new leader writes its whole registry and purges what it does not hold. */
  async rewrite(): Promise<void> {
    try {
      const held = new Set<string>();
      for (const e of this.opts.registry.entries()) {
        const k = instanceKey(e.record.service, e.record.id);
        held.add(k);
        this.store.markKey(k);
      }
      for (const k of await this.store.keys()) if (!held.has(k)) this.store.markKey(k);
      this.store.markRevision();
    } catch (err) {
      this.opts.log.warn({ err: String(err) }, "could not list the registry bucket");
    }
  }

  /** Writes what is pending now. */
  flush(): Promise<void> {
    return this.store.flush();
  }

  /** Stops writing. */
  close(): void {
    this.store.close();
  }

  private valueOf(key: string): PersistedInstance | null {
    const [, service, id] = key.split(".");
    const registry = this.opts.registry;
    const e = service && id ? registry.get(service, id) : undefined;
    if (!e) return null;
    const p: PersistedInstance = { v: 1, view: registry.view(e) };
    if (e.registered && e.ttlMs !== undefined) p.ttlMs = e.ttlMs;
    return p;
  }

  private revisionValue(): CoordinatorLease {
    return { v: 1, coordinator: this.opts.coordinatorId, revision: this.opts.revision(), at: this.opts.now() };
  }
}
