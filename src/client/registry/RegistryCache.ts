/**
 * The client's local copy of the registry: a snapshot from a coordinator, then the leader's events.
 * The call path reads it (`instances(service)`) without any network round trip, so the coordinator is
 * never on a call path; with no coordinator at all the cache is simply empty and callers fall back to
 * the queue-group subjects.
 *
 * Consistency: it subscribes to events before asking for the snapshot and buffers them meanwhile, so
 * nothing published during the load is lost; events at or below the snapshot's revision are already in
 * it. A revision gap, a revision that goes backwards under another coordinator, or a reconnect makes it
 * reload the snapshot.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  DEFAULT_PREFIX,
  InvalidInputLog,
  Subjects,
  createLogger,
  decodeMessage,
  openNats,
  type InstanceView,
  type Logger,
  type RegistryEvent,
  type RegistrySnapshot,
} from "../../protocol/index.js";
import { ChangeQueue } from "./ChangeQueue.js";
import { queryRegistry } from "./queryRegistry.js";
import type { CachedState, RegistryCacheChange, RegistryCacheOptions, RegistryCacheStats } from "./types.js";

const EMPTY: readonly InstanceView[] = Object.freeze([]);
/** Smallest pause between two snapshot loads caused by gaps, so a lagging coordinator cannot cause a reload storm. */
const MIN_RESYNC_SPACING_MS = 100;

/** The instances of one service, with the `up` list cached until the service changes. */
interface ServiceViews {
  readonly all: Map<string, InstanceView>;
  up: readonly InstanceView[] | null;
  every: readonly InstanceView[] | null;
}

/** A subscription to cache changes; `dispose()` removes the listener. */
export interface CacheListener {
  dispose(): void;
}

/** Local registry cache. Create with {@link createRegistryCache}, then `start()`. */
export class RegistryCache {
  /** Subjects of this installation. */
  readonly subjects: Subjects;
  /** Invalid events, counted. */
  readonly invalid: InvalidInputLog;

  private readonly log: Logger;
  private connection: NatsConnection | undefined;
  private ownsConnection = false;
  private sub: Subscription | undefined;
  private readonly services = new Map<string, ServiceViews>();
  private count = 0;
  private revision = 0;
  /** Coordinator of the last applied event: a revision going backwards under another one means a reset. */
  private lastEventCoordinator: string | undefined;
  private buffer: RegistryEvent[] | null = null;
  private syncing: Promise<boolean> | undefined;
  private again = false;
  private lastSyncStarted = 0;
  private isSynced = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly listeners = new Set<(c: RegistryCacheChange) => void>();
  private readonly queues = new Set<ChangeQueue<RegistryCacheChange>>();
  private readonly counters = { events: 0, gaps: 0, snapshots: 0, failedSyncs: 0 };

  constructor(private readonly opts: RegistryCacheOptions = {}) {
    this.subjects = new Subjects(opts.prefix ?? DEFAULT_PREFIX);
    this.log = opts.logger ?? createLogger("registry-cache");
    this.invalid = new InvalidInputLog(this.log);
  }

  /** The NATS connection; throws before {@link start}. */
  get nc(): NatsConnection {
    if (!this.connection) throw new Error("registry cache is not started");
    return this.connection;
  }

  /** Revision of the registry this cache reflects. */
  get currentRevision(): number {
    return this.revision;
  }

  /** True once a snapshot has been loaded. */
  get synced(): boolean {
    return this.isSynced;
  }

  /** Instances in the cache, all states. */
  get size(): number {
    return this.count;
  }

  /**
   * Subscribes to events, loads a snapshot, and resolves — also when no coordinator answers (the cache
   * then stays empty and retries every `retryMs`).
   */
  async start(): Promise<this> {
    if (this.connection) throw new Error("registry cache already started");
    const { nc, owned } = await openNats(this.opts.nats ? { nats: this.opts.nats } : { name: "sb-registry-cache", ...this.opts, nats: undefined });
    this.connection = nc;
    this.ownsConnection = owned;
    const maxBytes = this.opts.maxBytes ?? 64 * 1024 * 1024;
    this.sub = nc.subscribe(this.subjects.registryEvents, {
      callback: (err, msg) => {
        if (err) return;
        const d = decodeMessage("registry-event", msg.data, maxBytes);
        if (!d.ok) {
          this.invalid.record("registry-event", d.error, msg.subject);
          return;
        }
        try {
          if (this.buffer) this.buffer.push(d.value);
          else this.applyEvent(d.value);
        } catch (e) {
          this.log.error({ err: e }, "applying a registry event failed");
        }
      },
    });
    // The subscription must be in place before the snapshot is taken, or events in between are lost.
    await nc.flush();
    await this.resync();
    void this.watchStatus(nc);
    const refreshMs = this.opts.refreshMs ?? 0;
    if (refreshMs > 0) {
      this.refreshTimer = setInterval(() => void this.resync(), refreshMs);
      this.refreshTimer.unref?.();
    }
    return this;
  }

  /** Live (`up`) instances of a service. The same array object until the service changes; no allocation per call. */
  instances(service: string): readonly InstanceView[] {
    const s = this.services.get(service);
    if (!s) return EMPTY;
    if (s.up === null) {
      const up: InstanceView[] = [];
      for (const v of s.all.values()) if (v.state === "up") up.push(v);
      s.up = Object.freeze(up);
    }
    return s.up;
  }

  /** Every instance of a service, in any state (up, suspect, down). */
  all(service: string): readonly InstanceView[] {
    const s = this.services.get(service);
    if (!s) return EMPTY;
    return (s.every ??= Object.freeze([...s.all.values()]));
  }

  /** One instance, if cached. */
  get(service: string, id: string): InstanceView | undefined {
    return this.services.get(service)?.all.get(id);
  }

  /** Services with at least one cached instance. */
  serviceNames(): string[] {
    return [...this.services.keys()];
  }

  /** Calls `listener` for every change (listener errors are caught). */
  onChange(listener: (c: RegistryCacheChange) => void): CacheListener {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /**
   * An async iterator of changes from now on (`for await (const c of cache.changes())`). It ends when
   * the cache closes or the loop breaks. Changes queue up until the consumer takes them.
   */
  changes(): AsyncIterableIterator<RegistryCacheChange> {
    const q = new ChangeQueue<RegistryCacheChange>(() => this.queues.delete(q));
    this.queues.add(q);
    return q;
  }

  /** Counters. */
  stats(): RegistryCacheStats {
    return { revision: this.revision, synced: this.isSynced, instances: this.count, ...this.counters, invalid: this.invalid.total };
  }

  /**
   * Reloads the snapshot (events meanwhile are buffered and applied after it). Resolves true when a
   * coordinator answered. Concurrent calls share one load, plus one more if asked during it.
   */
  resync(): Promise<boolean> {
    if (this.closed || !this.connection) return Promise.resolve(false);
    if (this.syncing) {
      this.again = true;
      return this.syncing;
    }
    const wait = Math.max(0, this.lastSyncStarted + MIN_RESYNC_SPACING_MS - Date.now());
    this.syncing = (async () => {
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      let ok = await this.load();
      while (this.again && !this.closed) {
        this.again = false;
        await new Promise((r) => setTimeout(r, MIN_RESYNC_SPACING_MS));
        ok = await this.load();
      }
      return ok;
    })().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private async load(): Promise<boolean> {
    if (this.closed) return false;
    this.lastSyncStarted = Date.now();
    this.buffer = this.buffer ?? [];
    let snapshot: RegistrySnapshot | undefined;
    try {
      snapshot = await queryRegistry(this.nc, this.subjects, {}, { timeoutMs: this.opts.queryTimeoutMs ?? 2000, maxBytes: this.opts.maxBytes });
    } catch (err) {
      this.counters.failedSyncs++;
      this.log.debug({ err: String(err) }, "registry snapshot failed");
    }
    const buffered = this.buffer;
    this.buffer = null;
    if (this.closed) return false;
    if (snapshot) {
      this.applySnapshot(snapshot);
      for (const ev of buffered) if (ev.revision > snapshot.revision) this.applyEvent(ev);
      this.isSynced = true;
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      return true;
    }
    for (const ev of buffered) this.applyEvent(ev);
    this.scheduleRetry();
    return false;
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.resync();
    }, this.opts.retryMs ?? 2000);
    this.retryTimer.unref?.();
  }

  private applySnapshot(s: RegistrySnapshot): void {
    this.counters.snapshots++;
    const seen = new Set<string>();
    const changes: RegistryCacheChange[] = [];
    for (const v of s.instances) {
      if (v.state === "removed") continue;
      const service = v.instance.service;
      const id = v.instance.id;
      seen.add(`${service}\u0000${id}`);
      const views = this.viewsOf(service);
      const prev = views.all.get(id);
      if (!prev) this.count++;
      views.all.set(id, v);
      views.up = views.every = null;
      if (!prev || prev.state !== v.state || prev.status !== v.status || JSON.stringify(prev.instance) !== JSON.stringify(v.instance)) {
        changes.push({ service, id, type: v.state, previous: prev?.state ?? null, view: v, revision: s.revision, source: "snapshot" });
      }
    }
    for (const [service, views] of this.services) {
      for (const [id, prev] of views.all) {
        if (seen.has(`${service}\u0000${id}`)) continue;
        views.all.delete(id);
        views.up = views.every = null;
        this.count--;
        changes.push({ service, id, type: "removed", previous: prev.state, view: { ...prev, state: "removed" }, revision: s.revision, source: "snapshot" });
      }
      if (views.all.size === 0) this.services.delete(service);
    }
    this.revision = s.revision;
    this.lastEventCoordinator = undefined;
    for (const c of changes) this.emit(c);
  }

  private applyEvent(ev: RegistryEvent): void {
    if (ev.revision <= this.revision) {
      // A duplicate — unless another coordinator restarted the count (its registry was lost): reload.
      if (this.lastEventCoordinator !== undefined && ev.coordinator !== this.lastEventCoordinator) {
        this.log.info({ revision: ev.revision, have: this.revision, coordinator: ev.coordinator }, "registry revision went backwards; reloading");
        void this.resync();
      }
      return;
    }
    const gap = ev.revision > this.revision + 1 && this.isSynced;
    this.counters.events++;
    this.revision = ev.revision;
    this.lastEventCoordinator = ev.coordinator;
    const view = ev.instance;
    const service = view.instance.service;
    const id = view.instance.id;
    if (ev.type === "removed") {
      const views = this.services.get(service);
      const prev = views?.all.get(id);
      if (views && prev) {
        views.all.delete(id);
        views.up = views.every = null;
        this.count--;
        if (views.all.size === 0) this.services.delete(service);
        this.emit({ service, id, type: "removed", previous: prev.state, view, revision: ev.revision, source: "event" });
      }
    } else {
      const views = this.viewsOf(service);
      const prev = views.all.get(id);
      if (!prev) this.count++;
      const v = view.state === ev.type ? view : { ...view, state: ev.type };
      views.all.set(id, v);
      views.up = views.every = null;
      this.emit({ service, id, type: ev.type, previous: prev?.state ?? null, view: v, revision: ev.revision, source: "event" });
    }
    if (gap) {
      this.counters.gaps++;
      this.log.debug({ revision: ev.revision }, "registry revision gap; reloading");
      void this.resync();
    }
  }

  private viewsOf(service: string): ServiceViews {
    let v = this.services.get(service);
    if (!v) this.services.set(service, (v = { all: new Map(), up: null, every: null }));
    return v;
  }

  private emit(c: RegistryCacheChange): void {
    for (const l of this.listeners) {
      try {
        l(c);
      } catch (err) {
        this.log.warn({ err }, "registry change listener failed");
      }
    }
    for (const q of this.queues) q.push(c);
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (this.closed) break;
      if (s.type === "reconnect") {
        // Events published while disconnected are gone: reload.
        void this.resync();
      }
    }
  }

  /** Stops listening, ends every `changes()` iterator, and closes the connection if the cache opened it. */
  async stop(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.refreshTimer);
    for (const q of [...this.queues]) q.end();
    this.queues.clear();
    this.listeners.clear();
    const nc = this.connection;
    if (nc && !nc.isClosed()) {
      this.sub?.unsubscribe();
      if (this.ownsConnection) await nc.drain().catch(() => nc.close());
    }
  }

  /** @deprecated use {@link stop} (kept while code written before the one-lifecycle change is migrated). */
  close(): Promise<void> {
    return this.stop();
  }
}

/** Creates a registry cache (synchronously): `const cache = await createRegistryCache(opts).start()`. */
export function createRegistryCache(opts: RegistryCacheOptions = {}): RegistryCache {
  return new RegistryCache(opts);
}

export type { CachedState };
