/**
 * The client's local copy of the registry: a snapshot from a coordinator, then the leader's events.
 * The call path reads it (`instances(service)`) without any network round trip, so the coordinator is
 * never on a call path; with no coordinator at all the cache is simply empty and callers fall back to
 * the queue-group subjects.
 *
 * Consistency: it subscribes to events before asking for the snapshot and buffers them meanwhile, so
 * nothing published during the load is lost; events at or below the snapshot's revision are already in
 * it. A revision gap, a new term, or a reconnect makes it reload the snapshot.
 *
 * Trust: state comes only from the legitimate leader. Each load first reads the leadership lease (KV),
 * then takes only a snapshot that names the lease's leader and term (answers by anyone else on the inbox
 * are skipped); afterwards only that leader's events of that term with exactly the next revision are
 * applied (EventGate). Anything else is counted, logged once per burst and answered with a reload, never
 * adopted. With `signerPublicKeys`, every event and snapshot part must also carry a valid signature.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  DEFAULT_PREFIX,
  InvalidInputLog,
  Subjects,
  createLogger,
  decodeMessage,
  openNats,
  LeaseReader,
  StateVerifier,
  type InstanceView,
  type LeaseRead,
  type Logger,
  type RegistryEvent,
  type RegistrySnapshot,
  EventEmitter,
  type Event,
} from "../../protocol/index.js";
import { ChangeQueue } from "./ChangeQueue.js";
import { EventGate, type GateVerdict } from "./EventGate.js";
import { queryRegistry } from "./queryRegistry.js";
import type { CachedState, RegistryCacheChange, RegistryCacheOptions, RegistryCacheStats } from "./types.js";

const EMPTY: readonly InstanceView[] = Object.freeze([]);
/** Smallest pause between two snapshot loads caused by gaps, so a lagging coordinator cannot cause a reload storm. */
const MIN_RESYNC_SPACING_MS = 100;
/** Smallest pause between two loads caused by refused events, so forged events cannot cause a reload storm. */
const SUSPICIOUS_RESYNC_SPACING_MS = 1000;
/** How far a snapshot's revision may be ahead of the revision the leader last wrote into the lease. */
const MAX_SNAPSHOT_AHEAD = 100_000;
/** Retry delay while the lease names no leader (a failover in progress). */
const NO_LEADER_RETRY_MS = 250;

/** The instances of one service, with the `up` list cached until the service changes. */
interface ServiceViews {
  readonly all: Map<string, InstanceView>;
  up: readonly InstanceView[] | null;
  every: readonly InstanceView[] | null;
}



/** Local registry cache. Create with {@link createRegistryCache}, then `start()`. */
export class RegistryCache {
  /** Subjects of this installation. */
  readonly subjects: Subjects;
  /** Invalid events, counted. */
  readonly invalid: InvalidInputLog;
  /** Well-formed events and snapshots refused as not from the current leader (or unsigned), counted per reason. */
  readonly untrusted: InvalidInputLog;

  private readonly log: Logger;
  private connection: NatsConnection | undefined;
  private ownsConnection = false;
  private sub: Subscription | undefined;
  private readonly services = new Map<string, ServiceViews>();
  private count = 0;
  private readonly gate = new EventGate();
  private lease: LeaseReader | undefined;
  private readonly verifier: StateVerifier | undefined;
  private suspiciousTimer: NodeJS.Timeout | undefined;
  private buffer: RegistryEvent[] | null = null;
  private syncing: Promise<boolean> | undefined;
  private again = false;
  private lastSyncStarted = 0;
  private isSynced = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly changeEvents: EventEmitter<RegistryCacheChange>;
  /** Fires for every change of the cache (listener errors are caught and logged). */
  readonly onChange: Event<RegistryCacheChange>;
  private readonly queues = new Set<ChangeQueue<RegistryCacheChange>>();
  private readonly counters = { events: 0, gaps: 0, snapshots: 0, failedSyncs: 0, newTerms: 0, refusedEvents: 0, refusedSnapshots: 0 };

  constructor(private readonly opts: RegistryCacheOptions = {}) {
    this.subjects = new Subjects(opts.prefix ?? DEFAULT_PREFIX);
    this.log = opts.logger ?? createLogger("registry-cache");
    this.changeEvents = new EventEmitter<RegistryCacheChange>((err) => this.log.warn({ err }, "registry change listener failed"));
    this.onChange = this.changeEvents.event;
    this.invalid = new InvalidInputLog(this.log);
    this.untrusted = new InvalidInputLog(this.log);
    if (opts.signerPublicKeys !== undefined) this.verifier = new StateVerifier(opts.signerPublicKeys);
  }

  /** The NATS connection; throws before {@link start}. */
  get nc(): NatsConnection {
    if (!this.connection) throw new Error("registry cache is not started");
    return this.connection;
  }

  /** Revision of the registry this cache reflects. */
  get currentRevision(): number {
    return this.gate.revision;
  }

  /** The leader and term the cache follows (undefined before the first verified snapshot). */
  get leader(): { id: string; term: number } | undefined {
    const id = this.gate.leader;
    return id === undefined ? undefined : { id, term: this.gate.term };
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
    this.lease = new LeaseReader(nc, this.subjects.prefix, this.opts.queryTimeoutMs ?? 2000);
    const maxBytes = this.opts.maxBytes ?? 64 * 1024 * 1024;
    this.sub = nc.subscribe(this.subjects.registryEvents, {
      callback: (err, msg) => {
        if (err) return;
        const d = decodeMessage("registry-event", msg.data, maxBytes);
        if (!d.ok) {
          this.invalid.record("registry-event", d.error, msg.subject);
          return;
        }
        if (this.verifier) {
          const why = this.verifier.verify(msg.subject, msg.data, msg.headers);
          if (why) {
            // Not worth a reload: an unsigned message cannot mean anything here.
            this.counters.refusedEvents++;
            this.untrusted.record("registry-event", `${why} event (revision ${d.value.revision}, coordinator ${JSON.stringify(d.value.coordinator)})`, msg.subject);
            return;
          }
        }
        try {
          if (this.buffer) this.buffer.push(d.value);
          else this.onEvent(d.value);
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
    return {
      revision: this.gate.revision,
      synced: this.isSynced,
      instances: this.count,
      ...this.counters,
      invalid: this.invalid.total,
      untrusted: this.untrusted.snapshot(),
    };
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
    const lease = await this.lease!.read();
    let snapshot: RegistrySnapshot | undefined;
    let retryMs: number | undefined;
    if (lease.kind === "leader" || lease.kind === "no-bucket") {
      try {
        snapshot = await queryRegistry(this.nc, this.subjects, {}, {
          timeoutMs: this.opts.queryTimeoutMs ?? 2000,
          maxBytes: this.opts.maxBytes,
          accept: (part, msg) => this.snapshotProblem(lease, part, msg.subject, msg.data, msg.headers),
          onRejected: (why, part) => {
            this.counters.refusedSnapshots++;
            this.untrusted.record("registry-snapshot", `${why} (revision ${part.revision}, term ${part.term}, coordinator ${JSON.stringify(part.coordinator)})`);
          },
        });
      } catch (err) {
        this.counters.failedSyncs++;
        this.log.debug({ err: String(err) }, "registry snapshot failed");
      }
    } else {
      this.counters.failedSyncs++;
      if (lease.kind === "none") retryMs = NO_LEADER_RETRY_MS;
      else this.untrusted.record("lease", `cannot read the leadership lease (${this.lease!.bucket}): ${lease.error}; the cache keeps what it has`);
    }
    const buffered = this.buffer;
    this.buffer = null;
    if (this.closed) return false;
    if (snapshot) {
      this.applySnapshot(snapshot);
      this.gate.reset(snapshot.leaderId ?? snapshot.coordinator, snapshot.term, snapshot.revision);
      this.isSynced = true;
      for (const ev of buffered) this.onEvent(ev);
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      return true;
    }
    // Events of the leader this cache already follows are still good; the rest waits for the next load.
    if (this.gate.leader !== undefined) for (const ev of buffered) this.onEvent(ev);
    this.scheduleRetry(retryMs);
    return false;
  }

  /** Why a snapshot part cannot be adopted under `lease`, or null. */
  private snapshotProblem(lease: LeaseRead, part: RegistrySnapshot, subject: string, data: Uint8Array, h: Msg["headers"]): string | null {
    if (this.verifier) {
      const why = this.verifier.verify(subject, data, h);
      if (why) return `${why} snapshot`;
    }
    if (lease.kind === "leader") {
      const l = lease.lease;
      if (part.term !== l.term || part.leaderId !== l.leader) {
        return `snapshot follows ${JSON.stringify(part.leaderId ?? "no leader")} in term ${part.term}, the lease names ${JSON.stringify(l.leader)} in term ${l.term}`;
      }
      if (part.revision > l.revision + MAX_SNAPSHOT_AHEAD) return `snapshot revision ${part.revision} is far ahead of the leader's ${l.revision}`;
      return null;
    }
    // No lease to read: either no coordinator uses JetStream, or this connection cannot reach JetStream at
    // all (a leaf-node site without it). A snapshot signed by a trusted coordinator key (verified above)
    // is then the anchor; unsigned, only a coordinator without JetStream (its own leader, term 0) is taken.
    if (this.verifier) return null;
    return part.term === 0 && part.leader && part.leaderId === part.coordinator ? null : "snapshot claims a term, but there is no lease";
  }

  private scheduleRetry(delayMs?: number): void {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.resync();
    }, Math.min(delayMs ?? Infinity, this.opts.retryMs ?? 2000));
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
    for (const c of changes) this.emit(c);
  }

  /** An event (signature verified, if required): applied only when the gate says so, otherwise a reload. */
  private onEvent(ev: RegistryEvent): void {
    const verdict = this.gate.judge(ev);
    if (verdict === "apply") {
      this.gate.accept(ev);
      this.applyEvent(ev);
      return;
    }
    if (verdict === "duplicate") return;
    this.refused(verdict, ev);
  }

  private refused(verdict: Exclude<GateVerdict, "apply" | "duplicate">, ev: RegistryEvent): void {
    switch (verdict) {
      case "gap":
        this.counters.gaps++;
        this.log.debug({ revision: ev.revision, have: this.gate.revision }, "registry revision gap; reloading");
        void this.resync();
        return;
      case "newer-term":
        // A new leader, most likely: the reload reads the lease first.
        this.counters.newTerms++;
        if (this.isSynced) this.log.info({ term: ev.term, coordinator: ev.coordinator }, "registry events of a new term; reloading");
        void this.resync();
        return;
      default:
        this.counters.refusedEvents++;
        this.untrusted.record(
          "registry-event",
          `${verdict === "conflict" ? "conflicting duplicate" : "not the current leader"}: revision ${ev.revision}, term ${ev.term}, ` +
            `coordinator ${JSON.stringify(ev.coordinator)}; following ${JSON.stringify(this.gate.leader ?? "nobody")} in term ${this.gate.term} at revision ${this.gate.revision}`,
        );
        this.resyncSuspicious();
    }
  }

  /** A reload after a refused event, at most once per SUSPICIOUS_RESYNC_SPACING_MS. */
  private resyncSuspicious(): void {
    if (this.suspiciousTimer || this.closed) return;
    const wait = Math.max(0, this.lastSyncStarted + SUSPICIOUS_RESYNC_SPACING_MS - Date.now());
    this.suspiciousTimer = setTimeout(() => {
      this.suspiciousTimer = undefined;
      void this.resync();
    }, wait);
    this.suspiciousTimer.unref?.();
  }

  /** Applies an event the gate accepted. */
  private applyEvent(ev: RegistryEvent): void {
    this.counters.events++;
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
  }

  private viewsOf(service: string): ServiceViews {
    let v = this.services.get(service);
    if (!v) this.services.set(service, (v = { all: new Map(), up: null, every: null }));
    return v;
  }

  private emit(c: RegistryCacheChange): void {
    if (this.changeEvents.hasListeners) this.changeEvents.fire(c);
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
    clearTimeout(this.suspiciousTimer);
    clearInterval(this.refreshTimer);
    for (const q of [...this.queues]) q.end();
    this.queues.clear();
    this.changeEvents.clear();
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
