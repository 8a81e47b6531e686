/**
 * The coordinator: the NATS adapter around the registry state machine. It feeds the machine with
 * announce/heartbeat/leave/register input, lets time pass, answers registry queries, and — while it
 * holds the leadership lease — publishes every change on `<prefix>.registry.events` with a revision
 * and saves the registry in KV. Every coordinator applies the same input, so replicas answer alike;
 * followers also apply the leader's events, which are authoritative.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { v4 as uuidv4 } from "uuid";
import {
  COORDINATOR_QUEUE,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_PREFIX,
  EventEmitter,
  InvalidInputLog,
  ReplyGuard,
  Subjects,
  compileSelector,
  createLogger,
  decodeMessage,
  encodeJson,
  openNats,
  StateSigner,
  StateVerifier,
  type InstanceView,
  type Logger,
  type RegisterReply,
  type RegistryEvent,
  type RegistryQuery,
  type RegistrySnapshot,
  type Sync,
  type Event,
} from "../protocol/index.js";
import { HeartbeatIngest } from "./HeartbeatIngest.js";
import { judgeLeaderEvent, type LeaderKnowledge } from "./LeaderEventCheck.js";
import { HttpHealthChecker, type HttpHealthCheckStats } from "./HttpHealthChecker.js";
import { LeaderPersistence } from "./LeaderPersistence.js";
import { Leadership } from "./Leadership.js";
import { leaseBucketName, registrationId } from "./names.js";
import { registrationRecord } from "./registrationRecord.js";
import { RegistryLimits, type LimitExceeded } from "./RegistryLimits.js";
import { RegistryStateMachine } from "./RegistryStateMachine.js";
import { encodeSnapshot, type SnapshotHeader } from "./SnapshotEncoder.js";
import { SyncLimiter } from "./SyncLimiter.js";
import type { CoordinatorOptions, CoordinatorStats, LeadershipChange, RegistryChange, RegistryFilter } from "./types.js";

const EMPTY_QUERY: RegistryQuery = { v: 1 };
/** Events of a newer term held while the lease is re-read (beyond this, they are dropped: the lease read settles it). */
const MAX_PENDING_EVENTS = 1024;
/** Smallest pause between two lease reads caused by events. */
const LEASE_REFRESH_SPACING_MS = 250;


/** A running coordinator. Create with {@link createCoordinator}. */
export class Coordinator {
  /** This coordinator's id. */
  readonly id: string;
  /** Subjects of this installation. */
  readonly subjects: Subjects;
  /** Refused input, counted per kind. */
  readonly invalid: InvalidInputLog;
  /** Announces and registrations refused by a limit, counted per limit (`maxInstances`, `maxRecordBytes`, …). */
  readonly refusedByLimit: InvalidInputLog;
  /** The registry's limits. */
  readonly limits: RegistryLimits;
  /** Well-formed registry events refused because they do not come from the current leader (or are unsigned), counted per reason. */
  readonly untrusted: InvalidInputLog;
  /** The registry (read it; the coordinator alone feeds it). */
  readonly registry: RegistryStateMachine;

  private readonly log: Logger;
  private readonly now: () => number;
  private readonly maxBytes: number;
  private readonly leaseMs: number;
  private readonly tickMs: number | undefined;
  private readonly defaultTtlMs: number | undefined;
  private readonly heartbeats: HeartbeatIngest;
  private readonly syncLimiter: SyncLimiter;
  private readonly httpChecks: HttpHealthChecker | undefined;
  private connection: NatsConnection | undefined;
  private ownsConnection = false;
  private readonly subs: Subscription[] = [];
  private leadership: Leadership | undefined;
  private store: LeaderPersistence | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private state: "new" | "starting" | "running" | "stopped" = "new";
  private leader = false;
  private revision = 0;
  private connected = true;
  private eventsPublished = 0;
  private readonly changes: EventEmitter<RegistryChange>;
  private readonly leadershipChanges: EventEmitter<LeadershipChange>;
  /** Fires for every change of this coordinator's registry (leader or not). */
  readonly onChange: Event<RegistryChange>;
  /** Fires when this coordinator gains or loses leadership. */
  readonly onLeadershipChange: Event<LeadershipChange>;
  /** Reply-subject policy and never-throwing replies for queries and registrations. */
  private readonly replies: ReplyGuard;
  private readonly signer: StateSigner | undefined;
  private readonly verifier: StateVerifier | undefined;
  private pendingEvents: RegistryEvent[] = [];
  private leaseRefresh: Promise<void> | undefined;
  private lastLeaseRefresh = 0;

  constructor(private readonly opts: CoordinatorOptions = {}) {
    this.id = opts.id ?? `coord-${uuidv4().slice(0, 8)}`;
    if (this.id.length === 0 || this.id.length > 128) throw new RangeError("coordinator id must be 1-128 characters");
    this.subjects = new Subjects(opts.prefix ?? DEFAULT_PREFIX);
    this.log = (opts.logger ?? createLogger("coordinator")).child({ coordinator: this.id });
    this.changes = new EventEmitter<RegistryChange>((err) => this.log.warn({ err }, "registry change listener failed"));
    this.leadershipChanges = new EventEmitter<LeadershipChange>((err) => this.log.warn({ err }, "leadership listener failed"));
    this.onChange = this.changes.event;
    this.onLeadershipChange = this.leadershipChanges.event;
    this.invalid = new InvalidInputLog(this.log);
    this.replies = new ReplyGuard({ prefix: this.subjects.prefix, invalid: this.invalid, log: this.log });
    this.untrusted = new InvalidInputLog(this.log);
    this.refusedByLimit = new InvalidInputLog(this.log);
    this.limits = new RegistryLimits(opts.limits);
    if (opts.signingSeed !== undefined) {
      this.signer = new StateSigner(opts.signingSeed);
      this.verifier = new StateVerifier([this.signer.publicKey, ...(opts.trustedSigners ?? [])]);
    }
    this.registry = new RegistryStateMachine(opts);
    this.now = opts.now ?? Date.now;
    this.maxBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.leaseMs = opts.leaseMs ?? 3000;
    if (!(this.leaseMs >= 100)) throw new RangeError("leaseMs must be ≥ 100");
    this.tickMs = opts.tickMs;
    if (this.tickMs !== undefined && !(this.tickMs >= 1)) throw new RangeError("tickMs must be ≥ 1");
    this.defaultTtlMs = opts.defaultRegisterTtlMs;
    this.syncLimiter = new SyncLimiter(opts.unknownSyncIntervalMs ?? 1000);
    this.heartbeats = new HeartbeatIngest({
      prefix: this.subjects.prefix,
      maxBytes: this.maxBytes,
      invalid: this.invalid,
      registry: this.registry,
      now: this.now,
      onUnknown: (service, id) => this.askToAnnounce(service, id),
      onChange: (c) => this.emit(c),
    });
    if (opts.httpHealthChecks !== false) {
      // Its own file, wired through the public listeners: the leader checks, followers apply the heartbeats.
      const checker = new HttpHealthChecker({ nc: () => this.nc, subjects: this.subjects, registry: this.registry, log: this.log });
      this.httpChecks = checker;
      this.onChange((c) => checker.onChange(c));
      this.onLeadershipChange((l) => (l.leader && this.state !== "stopped" ? checker.start() : checker.stop()));
    }
  }

  /** Counters of the HTTP health checks this coordinator runs (while it leads). */
  httpCheckStats(): HttpHealthCheckStats {
    return this.httpChecks?.stats() ?? { checking: 0, passed: 0, failed: 0 };
  }

  /** The NATS connection; throws before {@link start}. */
  get nc(): NatsConnection {
    if (!this.connection) throw new Error("coordinator is not started");
    return this.connection;
  }

  /** True while this coordinator holds the leadership lease (and publishes events). */
  get isLeader(): boolean {
    return this.leader;
  }

  /** The last registry revision this coordinator published or saw. */
  get currentRevision(): number {
    return this.revision;
  }

  /** The leadership term this coordinator leads in, or follows (0: none known, or no lease without JetStream). */
  get term(): number {
    return this.leadership?.term ?? 0;
  }

  /** The leader this coordinator follows (itself while leading; undefined when none is known). */
  get leaderId(): string | undefined {
    if (!this.leadership) return this.id;
    return this.leader ? this.id : this.leadership.holder;
  }

  /** The public NKey this coordinator signs registry state with (undefined: unsigned). */
  get signerPublicKey(): string | undefined {
    return this.signer?.publicKey;
  }

  /**
   * Connects, loads the saved registry (answering with it at once), subscribes, competes for the lease
   * and asks every agent to re-announce.
   */
  async start(): Promise<this> {
    if (this.state !== "new") throw new Error(`coordinator cannot start from state ${this.state}`);
    this.state = "starting";
    const { nc, owned } = await openNats(this.opts.nats ? { nats: this.opts.nats } : { name: `sb-coordinator ${this.id}`, ...this.opts, nats: undefined });
    this.connection = nc;
    this.ownsConnection = owned;
    try {
      if (this.opts.jetstream !== false) await this.openJetStream(nc);
      this.subscribe(nc);
      await nc.flush();
      if (this.leadership) await this.leadership.start();
      else this.setLeader(true, this.revision);
      this.state = "running";
      this.publishSync("start");
      this.scheduleTick();
      void this.watchStatus(nc);
      this.log.info({ prefix: this.subjects.prefix, leader: this.leader, instances: this.registry.size, revision: this.revision }, "coordinator started");
      return this;
    } catch (err) {
      await this.halt(false);
      throw err;
    }
  }

  private async openJetStream(nc: NatsConnection): Promise<void> {
    const replicas = this.opts.kvReplicas ?? 1;
    const prefix = this.subjects.prefix;
    try {
      this.store = await LeaderPersistence.open(nc, {
        prefix,
        replicas,
        intervalMs: this.opts.persistIntervalMs ?? 250,
        log: this.log,
        coordinatorId: this.id,
        registry: this.registry,
        now: this.now,
        revision: () => this.revision,
      });
    } catch (err) {
      throw new Error(
        `coordinator needs JetStream (KV) for persistence and leadership: ${(err as Error).message}. ` +
          `Enable JetStream on nats-server (-js), or pass jetstream: false to run a single coordinator without them.`,
        { cause: err },
      );
    }
    const stored = await this.store.load();
    const now = this.now();
    this.registry.load(stored.instances, now);
    this.revision = stored.revision;
    this.leadership = await Leadership.open(nc, leaseBucketName(prefix), {
      id: this.id,
      leaseMs: this.leaseMs,
      replicas,
      now: this.now,
      log: this.log,
      revision: () => this.revision,
      onChange: (leader, observed) => this.setLeader(leader, observed),
    });
  }

  private subscribe(nc: NatsConnection): void {
    const s = this.subjects;
    const on = (subject: string, handler: (msg: Msg) => void, queue?: string) => {
      this.subs.push(
        nc.subscribe(subject, {
          ...(queue ? { queue } : {}),
          callback: (err, msg) => {
            if (err) return;
            try {
              handler(msg);
            } catch (e) {
              // A bug must not take the coordinator down with it; the message is lost, nothing else.
              this.log.error({ err: e, subject: msg.subject }, "coordinator handler failed");
            }
          },
        }),
      );
    };
    on(s.allInstanceEvents("heartbeat"), (m) => this.heartbeats.handle(m));
    on(s.allInstanceEvents("announce"), (m) => this.onAnnounce(m));
    on(s.allInstanceEvents("leave"), (m) => this.onLeave(m));
    on(s.registryEvents, (m) => this.onEvent(m));
    on(s.registryQuery, (m) => this.onQuery(m), COORDINATOR_QUEUE);
    // Not a queue group: every coordinator applies every registration (the id is derived, so they agree);
    // the requester takes the first of the identical replies.
    on(s.registryRegister, (m) => this.onRegister(m));
  }

  // ---- input -------------------------------------------------------------------------------------

  private onAnnounce(msg: Msg): void {
    const d = decodeMessage("announce", msg.data, this.maxBytes);
    if (!d.ok) {
      this.invalid.record("announce", d.error, msg.subject);
      return;
    }
    const record = d.value.instance;
    if (!this.subjectNames(msg.subject, record.service, record.id)) {
      this.invalid.record("announce", `announce body names ${record.service}/${record.id}, not the instance of its subject`, msg.subject);
      return;
    }
    const refused = this.limits.check(record, this.registry, true);
    if (refused) {
      this.refuse(refused, msg.subject);
      return;
    }
    const c = this.registry.announce(record, this.now());
    if (c) this.emit(c);
  }

  private onLeave(msg: Msg): void {
    const d = decodeMessage("leave", msg.data, this.maxBytes);
    if (!d.ok) {
      this.invalid.record("leave", d.error, msg.subject);
      return;
    }
    const { service, id } = d.value;
    if (!this.subjectNames(msg.subject, service, id)) {
      this.invalid.record("leave", `leave body names ${service}/${id}, not the instance of its subject`, msg.subject);
      return;
    }
    const c = this.registry.leave(service, id, this.now());
    if (c) this.emit(c);
  }

  private onRegister(msg: Msg): void {
    if (!msg.reply) {
      this.invalid.record("register", "register request without a reply subject", msg.subject);
      return;
    }
    // Refused before the registration is applied: the requester asked for an answer on a subject
    // only the infrastructure may publish on (a KV key, a JetStream API call, an instance event…).
    if (this.replies.refuses(msg)) return;
    const d = decodeMessage("register", msg.data, this.maxBytes);
    if (!d.ok) {
      this.invalid.record("register", d.error, msg.subject);
      this.replies.respondError(msg, "BAD_REQUEST", d.error);
      return;
    }
    const now = this.now();
    const r = d.value;
    const existing = this.registry.get(r.serviceName, registrationId(r.serviceName, r.serviceAddress));
    const { record, ttlMs } = registrationRecord(r, now, this.defaultTtlMs, existing?.record.startedAt);
    if (existing && existing.registered !== (ttlMs !== undefined)) {
      // Switching between health-checked and not: a new life in the registry.
      const gone = this.registry.leave(record.service, record.id, now);
      if (gone) this.emit(gone);
    }
    const refused = this.limits.check(record, this.registry, ttlMs === undefined);
    if (refused) {
      this.refuse(refused, msg.subject);
      // Capacity limits are the registry's state (retry later or elsewhere); the others are the request's fault.
      const capacity = refused.limit === "maxInstances" || refused.limit === "maxInstancesPerService";
      this.replies.respondError(msg, capacity ? "OVERLOADED" : "BAD_REQUEST", `limit exceeded (${refused.limit}): ${refused.message}`);
      return;
    }
    const c = ttlMs === undefined ? this.registry.announce(record, now) : this.registry.register(record, ttlMs, now);
    if (c) this.emit(c);
    const reply: RegisterReply = { v: 1, status: "success", id: record.id, service: record.service };
    this.replies.respond(msg, encodeJson(reply));
  }

  private onQuery(msg: Msg): void {
    if (!msg.reply) {
      this.invalid.record("registry-query", "registry query without a reply subject", msg.subject);
      return;
    }
    if (this.replies.refuses(msg)) return;
    let query = EMPTY_QUERY;
    // An empty body asks for everything (handy from the nats CLI).
    if (msg.data.length > 0) {
      const d = decodeMessage("registry-query", msg.data, this.maxBytes);
      if (!d.ok) {
        this.invalid.record("registry-query", d.error, msg.subject);
        this.replies.respondError(msg, "BAD_REQUEST", d.error);
        return;
      }
      query = d.value;
    }
    const filter: RegistryFilter = {};
    if (query.service !== undefined) filter.service = query.service;
    if (query.states !== undefined) filter.states = query.states;
    try {
      filter.selector = compileSelector(query);
    } catch (err) {
      this.invalid.record("registry-query", (err as Error).message, msg.subject);
      this.replies.respondError(msg, "BAD_REQUEST", (err as Error).message);
      return;
    }
    const timed = this.opts.onQueryAnswered;
    const t0 = timed ? performance.now() : 0;
    const c0 = timed ? process.cpuUsage() : undefined;
    const parts = encodeSnapshot(this.registry, filter, this.snapshotHeader(), this.nc.info?.max_payload ?? 1024 * 1024);
    for (const p of parts) {
      const headers = this.signer && msg.reply ? this.signer.sign(msg.reply, p) : undefined;
      if (this.replies.respond(msg, p, headers) !== "sent") break;
    }
    if (timed) {
      const cpu = process.cpuUsage(c0);
      timed({ wallMs: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000, parts: parts.length });
    }
  }

  /**
   * A registry event: a follower applies the current leader's (see LeaderEventCheck); anything else is
   * refused, counted and logged once per burst, and never changes the revision.
   */
  private onEvent(msg: Msg): void {
    const d = decodeMessage("registry-event", msg.data, this.maxBytes + 4096);
    if (!d.ok) {
      this.invalid.record("registry-event", d.error, msg.subject);
      return;
    }
    const ev = d.value;
    if (this.verifier && ev.coordinator !== this.id) {
      const why = this.verifier.verify(msg.subject, msg.data, msg.headers);
      if (why) {
        this.untrusted.record("registry-event", `${why} event (revision ${ev.revision}, coordinator ${JSON.stringify(ev.coordinator)})`, msg.subject);
        return;
      }
    }
    this.judgeEvent(ev, true);
  }

  private knowledge(): LeaderKnowledge {
    const l = this.leadership;
    return {
      self: this.id,
      leading: this.leader,
      holder: l ? l.holder : this.id,
      term: l ? l.term : 0,
      revision: this.revision,
      leaseRevision: l ? l.observedRevision : 0,
    };
  }

  private judgeEvent(ev: RegistryEvent, first: boolean): void {
    const verdict = judgeLeaderEvent(ev, this.knowledge());
    switch (verdict) {
      case "own":
        return;
      case "apply": {
        if (ev.revision > this.revision) this.revision = ev.revision;
        const c = this.registry.applyLeaderEvent(ev.type, ev.instance, ev.at, this.now());
        if (c) this.emit(c);
        return;
      }
      case "rival":
        // Two leaders for a moment (a lease expiring under a paused process), or a forgery: the lease settles it.
        void this.refreshLease();
        break;
      case "newer-term":
        if (first && this.pendingEvents.length < MAX_PENDING_EVENTS) {
          // A new leader, most likely: hold the event until the lease is read again, then judge it once more.
          this.pendingEvents.push(ev);
          void this.refreshLease().then(() => this.drainPending());
          return;
        }
        break;
    }
    const why = verdict === "revision-jump" ? "revision jump" : verdict === "rival" ? "another coordinator's event while this one leads" : "not the current leader";
    this.untrusted.record(
      "registry-event",
      `${why}: revision ${ev.revision}, term ${ev.term}, coordinator ${JSON.stringify(ev.coordinator)} (lease: ${this.leadership?.holder ?? "none"}, term ${this.term}, revision ${this.revision})`,
    );
  }

  private drainPending(): void {
    const pending = this.pendingEvents;
    this.pendingEvents = [];
    for (const ev of pending) this.judgeEvent(ev, false);
  }

  /** Re-reads the lease (at most every LEASE_REFRESH_SPACING_MS, whatever the rate of events asking for it). */
  private refreshLease(): Promise<void> {
    const l = this.leadership;
    if (!l) return Promise.resolve();
    const now = this.now();
    if (this.leaseRefresh && now - this.lastLeaseRefresh < LEASE_REFRESH_SPACING_MS) return this.leaseRefresh;
    this.lastLeaseRefresh = now;
    this.leaseRefresh = l.step();
    return this.leaseRefresh;
  }

  /** Counts and logs (once per burst per limit) an announce or registration a limit refused. */
  private refuse(refused: LimitExceeded, subject: string): void {
    this.refusedByLimit.record(refused.limit, `limit exceeded (${refused.limit}): ${refused.message}`, subject);
  }

  /** True when `subject` is `<prefix>.<kind>.<service>.<id>`. */
  private subjectNames(subject: string, service: string, id: string): boolean {
    const where = this.subjects.parseInstanceEvent(subject);
    return where !== null && where.service === service && where.instance === id;
  }

  // ---- output ------------------------------------------------------------------------------------

  private emit(c: RegistryChange): void {
    // A follower publishes nothing; the state machine remembers what was never published, for a takeover.
    if (this.leader) this.publish(c);
    if (this.changes.hasListeners) this.changes.fire(c);
  }

  private publish(c: RegistryChange): void {
    const v = c.view.instance;
    const event: RegistryEvent = { v: 1, revision: ++this.revision, term: this.term, type: c.type, at: c.at, coordinator: this.id, instance: c.view };
    try {
      const subject = this.subjects.registryEvents;
      const body = encodeJson(event);
      if (this.signer) this.nc.publish(subject, body, { headers: this.signer.sign(subject, body) });
      else this.nc.publish(subject, body);
      this.eventsPublished++;
    } catch (err) {
      this.log.warn({ err }, "could not publish registry event");
    }
    this.registry.markPublished(v.service, v.id, c.type);
    this.store?.changed(v.service, v.id);
  }

  private publishSync(reason: Sync["reason"], service?: string, id?: string): void {
    const sync: Sync = { v: 1, coordinator: this.id, reason };
    if (service !== undefined) sync.service = service;
    if (id !== undefined) sync.id = id;
    try {
      this.nc.publish(this.subjects.sync, encodeJson(sync));
    } catch (err) {
      this.log.warn({ err }, "could not publish sync");
    }
    if (service === undefined) this.syncLimiter.broadcastSent(this.now());
  }

  /** An unknown instance heartbeats: ask it (alone) to re-announce, rate-limited per instance and overall. */
  private askToAnnounce(service: string, id: string): void {
    if (this.syncLimiter.tryAsk(service, id, this.now())) this.publishSync("unknown-instance", service, id);
  }

  // ---- time --------------------------------------------------------------------------------------

  private scheduleTick(): void {
    if (this.state !== "running") return;
    const shortest = this.registry.shortestInterval;
    const interval = this.tickMs ?? (Number.isFinite(shortest) ? Math.min(250, Math.max(10, Math.round(shortest / 10))) : 250);
    // Wake at the earliest deadline when it comes before the next periodic tick: an instance that stops
    // heartbeating leaves routing after exactly (1 + suspectGrace) intervals, not up to a tick later.
    const due = this.registry.nextDueAt - this.now();
    const delay = due < interval ? Math.max(1, Math.ceil(due)) : interval;
    this.tickTimer = setTimeout(() => {
      try {
        this.tick();
      } catch (err) {
        this.log.error({ err }, "registry tick failed");
      }
      this.scheduleTick();
    }, delay);
    this.tickTimer.unref?.();
  }

  private tick(): void {
    // Without a connection nobody can be heard: silence is not evidence (see the reconnect handling).
    if (!this.connected) return;
    const now = this.now();
    for (const c of this.registry.tick(now)) this.emit(c);
    this.syncLimiter.prune(now);
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (this.state !== "running") continue;
      if (s.type === "disconnect") {
        this.connected = false;
        this.log.warn({ server: s.server }, "disconnected from NATS; liveness evaluation paused");
      } else if (s.type === "reconnect") {
        this.connected = true;
        // Everyone gets a fresh interval: the live re-announce and heartbeat, the dead are detected normally.
        this.registry.touchAll(this.now());
        this.publishSync("reconnect");
        void this.leadership?.step();
        this.log.info({ server: s.server }, "reconnected; asked every agent to re-announce");
      }
    }
  }

  // ---- leadership and persistence ------------------------------------------------------------------

  private setLeader(leader: boolean, observedRevision: number): void {
    if (leader === this.leader) return;
    this.leader = leader;
    if (leader) {
      if (observedRevision > this.revision) this.revision = observedRevision;
      this.log.info({ revision: this.revision }, "leading: publishing registry events");
      // Tell clients what no leader told them (a leaderless window, a leader that died mid-way): every
      // state on the way, so that an instance that fell and was removed meanwhile is still seen `down`.
      for (const c of this.registry.unpublished(this.now())) this.publish(c);
      void this.store?.rewrite();
    } else {
      this.log.info("following: another coordinator publishes registry events");
    }
    this.leadershipChanges.fire({ leader, revision: this.revision });
  }

  // ---- reading -------------------------------------------------------------------------------------

  /** The registry as a snapshot (what a query with the same filter answers). */
  snapshot(filter: RegistryFilter = {}): RegistrySnapshot {
    const instances: InstanceView[] = [];
    this.registry.forEach(filter, (e) => instances.push(this.registry.view(e)));
    return { ...this.snapshotHeader(), v: 1, instances };
  }

  private snapshotHeader(): SnapshotHeader {
    const h: SnapshotHeader = { revision: this.revision, coordinator: this.id, leader: this.leader, term: this.term, at: this.now() };
    const leaderId = this.leaderId;
    if (leaderId !== undefined) h.leaderId = leaderId;
    return h;
  }

  /** Counters: inputs, refusals, events, persistence. */
  stats(): CoordinatorStats {
    const c = this.registry.counters;
    return {
      id: this.id,
      leader: this.leader,
      revision: this.revision,
      instances: this.registry.size,
      heartbeats: c.heartbeats,
      staleHeartbeats: c.stale,
      unknownHeartbeats: c.unknown,
      eventsPublished: this.eventsPublished,
      invalid: this.invalid.snapshot(),
      invalidTotal: this.invalid.total,
      untrusted: this.untrusted.snapshot(),
      refusedByLimit: this.refusedByLimit.snapshot(),
      untrustedTotal: this.untrusted.total,
      persisted: this.store?.counters.written ?? 0,
      persistFailures: this.store?.counters.failed ?? 0,
    };
  }

  // ---- stopping --------------------------------------------------------------------------------------

  /**
   * Stops gracefully: stops taking input, writes what is pending to KV, releases the lease so another
   * coordinator takes over at once, and closes the connection if the coordinator opened it.
   */
  async stop(): Promise<void> {
    if (this.state === "stopped" || this.state === "new") return;
    await this.halt(true);
    this.log.info("coordinator stopped");
  }

  private async halt(graceful: boolean): Promise<void> {
    this.state = "stopped";
    this.httpChecks?.stop();
    clearTimeout(this.tickTimer);
    const nc = this.connection;
    if (nc && !nc.isClosed()) await Promise.allSettled(this.subs.map((s) => s.drain()));
    this.subs.length = 0;
    if (this.store) {
      if (graceful && this.leader && nc && !nc.isClosed()) await this.store.flush().catch(() => {});
      this.store.close();
    }
    await this.leadership?.stop(graceful).catch(() => {});
    this.leader = false;
    if (nc && this.ownsConnection && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }
}

/** Creates a coordinator. Call `start()` to run it. */
export function createCoordinator(opts: CoordinatorOptions = {}): Coordinator {
  return new Coordinator(opts);
}
