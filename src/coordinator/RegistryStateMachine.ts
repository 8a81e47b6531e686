/**
 * The registry as a pure state machine: inputs (announce, heartbeat, leave, register, the leader's
 * events, a persisted view) and the passage of time (`tick(now)`) in, change events out. No I/O and
 * no clock of its own, so every transition is tested with a fake clock, and every coordinator that
 * feeds it the same inputs holds the same registry.
 *
 *   up ──(1 interval + grace)──▶ suspect ──(k intervals)──▶ down ──(retention)──▶ removed
 *    ▲                              │                         │
 *    └────── heartbeat / announce ──┴─────────────────────────┘        leave ──▶ removed at once
 *
 * All thresholds count from the last proof of life and scale with each instance's own heartbeatMs.
 * Registrations without an agent skip suspect/down: they are up until their TTL passes, then removed.
 */
import type { InstanceRecord, InstanceView } from "../protocol/index.js";
import type {
  HealthStatus,
  HeartbeatResult,
  InstanceState,
  LoadedInstance,
  RegistryChange,
  RegistryEntry,
  RegistryFilter,
  RegistryThresholds,
} from "./types.js";

type LiveState = Exclude<InstanceState, "removed">;

/** Mutable entry; the outside sees it as a read-only {@link RegistryEntry}. */
class Entry implements RegistryEntry {
  record: InstanceRecord;
  state: LiveState = "up";
  since: number;
  lastSeen: number;
  seq = -1;
  /** When `seq` was last accepted (bounds how far the next one may jump). */
  seqAt = 0;
  /** Last off-sequence seq heard (-1: none): a sequence that keeps counting from it replaces `seq`. */
  altSeq = -1;
  inFlight = 0;
  status: HealthStatus = "ok";
  registered: boolean;
  ttlMs: number | undefined;
  published: InstanceState | null = null;
  /** Thresholds in ms from lastSeen, derived from the record's heartbeatMs (or the TTL). */
  suspectAfter = 0;
  downAfter = 0;
  removeAfter = 0;
  /** Serialized record and its UTF-8 length, cached for snapshots; cleared when the record changes. */
  recordJson: string | undefined;
  recordBytes = -1;

  constructor(record: InstanceRecord, now: number, ttlMs: number | undefined) {
    this.record = record;
    this.since = now;
    this.lastSeen = now;
    this.registered = ttlMs !== undefined;
    this.ttlMs = ttlMs;
  }
}

const EMPTY: readonly RegistryChange[] = Object.freeze([]);

/**
 * The TTL of a registration learnt from a leader's event (which carries the record, not the TTL): a
 * registration's heartbeatMs is its TTL, capped at the schema's one hour; at the cap the registration
 * is durable (registered without a TTL, or with one of an hour or more). Agents and health-checked
 * registrations have none: they live by heartbeats, or by passed checks.
 */
function registrationTtlOf(record: InstanceRecord): number | undefined {
  if (record.address === undefined || record.healthCheck !== undefined) return undefined;
  return record.heartbeatMs >= 3_600_000 ? 2 ** 52 : record.heartbeatMs;
}

/** How long an unpublished removal is remembered (a leader publishes it within milliseconds; a follower keeps it for a takeover). */
const TOMBSTONE_MS = 60_000;

/** An instance removed here whose removal nobody has published yet. */
interface Tombstone {
  view: InstanceView;
  /** What clients last heard about it. */
  published: InstanceState | null;
  reason: "leave" | "timeout" | "expired";
  at: number;
}

function tombstoneKey(service: string, id: string): string {
  return `${service}\u0000${id}`;
}

const ORDER: Record<InstanceState, number> = { up: 0, suspect: 1, down: 2, removed: 3 };
const FALL: readonly InstanceState[] = ["up", "suspect", "down"];

/**
 * The states clients should see to go from `from` to `to`: each step of the fall (up → suspect → down)
 * after `from`, or just `to` for a revival or an instance they never heard of.
 */
function pathBetween(from: InstanceState | null, to: InstanceState): InstanceState[] {
  if (from === null || from === "removed" || ORDER[to] <= ORDER[from]) return from === to ? [] : [to];
  return FALL.slice(ORDER[from] + 1, ORDER[to] + 1);
}



/** Stable JSON-ish comparison of two records: any announced difference is a change clients must see. */
function sameRecord(a: InstanceRecord, b: InstanceRecord): boolean {
  if (a === b) return true;
  if (
    a.id !== b.id ||
    a.service !== b.service ||
    a.version !== b.version ||
    a.heartbeatMs !== b.heartbeatMs ||
    a.startedAt !== b.startedAt ||
    a.weight !== b.weight ||
    a.address !== b.address
  ) {
    return false;
  }
  if (!sameList(a.endpoints, b.endpoints) || !sameList(a.tags, b.tags)) return false;
  return sameMap(a.metadata, b.metadata) && sameMap(a.codecs, b.codecs);
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if ((a?.length ?? 0) !== (b?.length ?? 0)) return false;
  if (!a || !b) return true;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameMap(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ak = a ? Object.keys(a) : [];
  const bk = b ? Object.keys(b) : [];
  if (ak.length !== bk.length) return false;
  for (const k of ak) if (a![k] !== b![k]) return false;
  return true;
}

/** The registry's failure detector and membership table. */
export class RegistryStateMachine {
  /** service → instance id → entry: per-service lookups without building keys, and per-service queries. */
  private readonly services = new Map<string, Map<string, Entry>>();
  private count = 0;
  private readonly suspectGrace: number;
  private readonly downAfterIntervals: number;
  private readonly removeAfterIntervals: number;
  /** No entry can change state before this time, so `tick` can skip its scan until then. */
  private nextDeadline = Infinity;
  private minHeartbeat = Infinity;

  /** Removals nobody published yet: what a new leader still has to tell clients. */
  private readonly tombstones = new Map<string, Tombstone>();

  /** Heartbeats accepted / ignored as stale / from unknown instances, since creation. */
  readonly counters = { heartbeats: 0, stale: 0, unknown: 0 };

  constructor(thresholds: RegistryThresholds = {}) {
    this.suspectGrace = thresholds.suspectGrace ?? 0.5;
    this.downAfterIntervals = thresholds.downAfterIntervals ?? 3;
    this.removeAfterIntervals = thresholds.removeAfterIntervals ?? 10;
    if (!(this.suspectGrace >= 0)) throw new RangeError("suspectGrace must be ≥ 0");
    if (!(this.downAfterIntervals > 1 + this.suspectGrace)) {
      throw new RangeError(`downAfterIntervals (${this.downAfterIntervals}) must exceed 1 + suspectGrace (${1 + this.suspectGrace})`);
    }
    if (!(this.removeAfterIntervals > this.downAfterIntervals)) {
      throw new RangeError(`removeAfterIntervals (${this.removeAfterIntervals}) must exceed downAfterIntervals (${this.downAfterIntervals})`);
    }
  }

  /** Number of instances in the registry. */
  get size(): number {
    return this.count;
  }

  /**
   * No instance can change state before this time (a lower bound: heartbeats only move deadlines later).
   * The adapter schedules its next tick no later than this, so transitions happen on time, not up to a
   * tick period late.
   */
  get nextDueAt(): number {
    return this.nextDeadline;
  }

  /** Shortest heartbeat interval of any instance in the registry (Infinity when empty); the adapter sizes its tick from it. */
  get shortestInterval(): number {
    return this.minHeartbeat;
  }

  /** The thresholds, in ms after the last proof of life, for an interval of `heartbeatMs`. */
  thresholdsFor(heartbeatMs: number): { suspectAfter: number; downAfter: number; removeAfter: number } {
    return {
      suspectAfter: Math.round(heartbeatMs * (1 + this.suspectGrace)),
      downAfter: Math.round(heartbeatMs * this.downAfterIntervals),
      removeAfter: Math.round(heartbeatMs * this.removeAfterIntervals),
    };
  }

  /** The entry of one instance, if known. */
  get(service: string, id: string): RegistryEntry | undefined {
    return this.services.get(service)?.get(id);
  }

  /** Instances of one service. */
  serviceSize(service: string): number {
    return this.services.get(service)?.size ?? 0;
  }

  /** True when the instance is in the registry. */
  has(service: string, id: string): boolean {
    return this.services.get(service)?.has(id) ?? false;
  }

  /** Names of the services with at least one instance. */
  serviceNames(): IterableIterator<string> {
    return this.services.keys();
  }

  /** Every entry (of one service, when given), in insertion order. */
  *entries(service?: string): IterableIterator<RegistryEntry> {
    if (service !== undefined) {
      const m = this.services.get(service);
      if (m) yield* m.values();
      return;
    }
    for (const m of this.services.values()) yield* m.values();
  }

  /** Calls `fn` for every entry matching `filter` (no generator overhead: queries of 10 000 instances use it). */
  forEach(filter: RegistryFilter, fn: (entry: RegistryEntry) => void): void {
    const states = filter.states && filter.states.length > 0 ? filter.states : undefined;
    const visit = (m: Map<string, Entry>) => {
      const selector = filter.selector;
      for (const e of m.values()) if ((!states || states.includes(e.state)) && (!selector || selector.matches(e.record))) fn(e);
    };
    if (filter.service !== undefined) {
      const m = this.services.get(filter.service);
      if (m) visit(m);
    } else {
      for (const m of this.services.values()) visit(m);
    }
  }

  /** The wire view of an entry. */
  view(entry: RegistryEntry): InstanceView {
    return {
      instance: entry.record,
      state: entry.state,
      since: entry.since,
      lastSeen: entry.lastSeen,
      seq: Math.max(entry.seq, 0),
      inFlight: entry.inFlight,
      status: entry.status,
    };
  }

  /** The record of an entry as JSON, computed once per record (snapshots of 10 000 instances reuse it). */
  recordJson(entry: RegistryEntry): string {
    const e = entry as Entry;
    return (e.recordJson ??= JSON.stringify(e.record));
  }

  /** UTF-8 length of {@link recordJson}, cached with it. */
  recordByteLength(entry: RegistryEntry): number {
    const e = entry as Entry;
    if (e.recordBytes < 0 || e.recordJson === undefined) e.recordBytes = Buffer.byteLength(this.recordJson(e));
    return e.recordBytes;
  }

  /**
   * An instance announced itself (start, sync, reconnect). New → up. Known → proof of life: a suspect
   * or down instance is revived, a changed record (endpoints, version, metadata…) is a change. A new
   * `startedAt` is a new incarnation, so heartbeat sequence numbers start over.
   */
  announce(record: InstanceRecord, now: number): RegistryChange | null {
    return this.upsert(record, now, undefined, "announce");
  }

  /**
   * Registration without an agent (the seed's register). The record carries `address`; the entry lives
   * until `ttlMs` passes without a refresh (another register, or a heartbeat on its subject).
   * A refresh keeps the first `startedAt`.
   */
  register(record: InstanceRecord, ttlMs: number, now: number): RegistryChange | null {
    const existing = this.services.get(record.service)?.get(record.id);
    const r = existing && existing.record.startedAt !== record.startedAt ? { ...record, startedAt: existing.record.startedAt } : record;
    return this.upsert(r, now, ttlMs, "register");
  }

  private upsert(record: InstanceRecord, now: number, ttlMs: number | undefined, reason: "announce" | "register"): RegistryChange | null {
    let m = this.services.get(record.service);
    const existing = m?.get(record.id);
    if (!existing) {
      const e = new Entry(record, now, ttlMs);
      this.derive(e);
      if (!m) this.services.set(record.service, (m = new Map()));
      m.set(record.id, e);
      this.count++;
      this.schedule(e);
      return this.change(e, null, reason, now);
    }
    const e = existing;
    e.lastSeen = now;
    const recordChanged = !sameRecord(e.record, record);
    if (recordChanged) {
      if (e.record.startedAt !== record.startedAt) e.seq = e.altSeq = -1;
      e.record = record;
      e.recordJson = undefined;
      e.recordBytes = -1;
    }
    if (ttlMs !== undefined || e.registered) {
      e.registered = true;
      e.ttlMs = ttlMs ?? e.ttlMs;
    }
    if (recordChanged || ttlMs !== undefined) this.derive(e);
    if (e.state !== "up") {
      const previous = e.state;
      e.state = "up";
      e.since = now;
      this.schedule(e);
      return this.change(e, previous, reason, now);
    }
    this.schedule(e);
    return recordChanged ? this.change(e, "up", reason, now) : null;
  }

  /**
   * A heartbeat. Hot path: primitives in, no allocation unless something changes.
   * Unknown instance → "unknown" (ask it to re-announce). Any heartbeat on the instance's subject is
   * proof of life (a suspect or down instance is revived); only one that continues the sequence updates
   * seq, load and status. It continues the sequence when its seq is above the last accepted one by at
   * most what the time since allows (two per interval, plus two): a forged or buggy seq (2^53 − 1, a big
   * jump) is "stale" — counted, not adopted — and the real sequence goes on being accepted. A run of
   * off-sequence heartbeats that counts by one (a restarted agent that did not announce) takes over the
   * sequence at its second heartbeat, so no single message can stall the updates for longer than that.
   */
  heartbeat(service: string, id: string, seq: number, inFlight: number, status: HealthStatus, now: number): HeartbeatResult {
    const e = this.services.get(service)?.get(id);
    if (e === undefined) {
      this.counters.unknown++;
      return "unknown";
    }
    const inSequence = seq > e.seq && (e.seq < 0 || seq - e.seq <= 2 + Math.ceil((2 * (now - e.seqAt)) / e.record.heartbeatMs));
    if (!inSequence && !(e.altSeq >= 0 && seq === e.altSeq + 1 && seq !== e.seq)) {
      this.counters.stale++;
      e.altSeq = seq;
      e.lastSeen = now;
      if (e.state === "up") return "stale";
      return this.revive(e, "heartbeat", now);
    }
    this.counters.heartbeats++;
    e.seq = seq;
    e.seqAt = now;
    e.altSeq = -1;
    e.lastSeen = now;
    e.inFlight = inFlight;
    if (e.state !== "up") {
      e.status = status;
      return this.revive(e, "heartbeat", now);
    }
    if (e.status !== status) {
      e.status = status;
      return this.change(e, "up", "status", now);
    }
    return "ok";
  }

  private revive(e: Entry, reason: "heartbeat", now: number): RegistryChange {
    const previous = e.state;
    e.state = "up";
    e.since = now;
    this.schedule(e);
    return this.change(e, previous, reason, now);
  }

  /** A graceful goodbye: removed at once. Null for an instance the registry does not know. */
  leave(service: string, id: string, now: number): RegistryChange | null {
    const e = this.services.get(service)?.get(id);
    if (!e) return null;
    return this.remove(e, "leave", now);
  }

  /**
   * Lets time pass: moves every instance whose last proof of life is old enough to suspect, down or
   * removed. After a long pause (a blocked event loop) several steps can be due at once: each is its own
   * change, in order. Cheap when nothing can be due: it skips the scan until the earliest deadline.
   */
  tick(now: number): readonly RegistryChange[] {
    if (this.tombstones.size > 0) {
      for (const [k, t] of this.tombstones) if (now - t.at >= TOMBSTONE_MS) this.tombstones.delete(k);
    }
    if (now < this.nextDeadline) return EMPTY;
    let changes: RegistryChange[] | undefined;
    let next = Infinity;
    let minHb = Infinity;
    for (const m of this.services.values()) {
      for (const e of m.values()) {
        const elapsed = now - e.lastSeen;
        // Every state on the way is a change of its own, even when a long pause (a blocked event loop)
        // makes several due at once: consumers such as alerting rely on seeing `down` before `removed`.
        if (!e.registered) {
          if (e.state === "up" && elapsed >= e.suspectAfter) (changes ??= []).push(this.transition(e, "suspect", now));
          if (e.state === "suspect" && elapsed >= e.downAfter) (changes ??= []).push(this.transition(e, "down", now));
        }
        const removed = elapsed >= e.removeAfter;
        if (removed) (changes ??= []).push(this.remove(e, e.registered ? "expired" : "timeout", now));
        else {
          const d = this.deadlineOf(e);
          if (d < next) next = d;
          if (!e.registered && e.record.heartbeatMs < minHb) minHb = e.record.heartbeatMs;
        }
      }
    }
    this.nextDeadline = next;
    this.minHeartbeat = minHb;
    return changes ?? EMPTY;
  }

  /**
   * Applies an event of the leading coordinator (followers reconcile with the leader, which is
   * authoritative). `eventAt` is the leader's time of the event: the leader's idea of the last proof of
   * life is translated to this registry's clock by its age, so clock offsets between hosts do not matter.
   */
  applyLeaderEvent(type: InstanceState, view: InstanceView, eventAt: number, now: number): RegistryChange | null {
    const record = view.instance;
    const m = this.services.get(record.service);
    const e = m?.get(record.id);
    if (type === "removed") {
      if (!e) {
        // Already removed here (by our own tick): the leader has now published it.
        if (this.tombstones.size > 0) this.tombstones.delete(tombstoneKey(record.service, record.id));
        return null;
      }
      return this.remove(e, "leader", now);
    }
    const age = Math.max(0, eventAt - view.lastSeen);
    const lastSeen = now - age;
    if (!e) {
      const created = new Entry(record, now, registrationTtlOf(record));
      created.state = type;
      created.lastSeen = lastSeen;
      created.inFlight = view.inFlight;
      created.status = view.status;
      created.published = type;
      this.derive(created);
      let sm = m;
      if (!sm) this.services.set(record.service, (sm = new Map()));
      sm.set(record.id, created);
      this.count++;
      this.schedule(created);
      return this.change(created, null, "leader", now);
    }
    const previous = e.state;
    const recordChanged = !sameRecord(e.record, record);
    if (recordChanged) {
      if (e.record.startedAt !== record.startedAt) e.seq = e.altSeq = -1;
      e.record = record;
      e.recordJson = undefined;
      e.recordBytes = -1;
      this.derive(e);
    }
    if (lastSeen > e.lastSeen) e.lastSeen = lastSeen;
    e.published = type;
    const statusChanged = e.status !== view.status;
    e.status = view.status;
    if (previous !== type) {
      e.state = type;
      e.since = now;
    }
    this.schedule(e);
    if (previous === type && !recordChanged && !statusChanged) return null;
    return this.change(e, previous, "leader", now);
  }

  /**
   * Loads a persisted registry (a restarting coordinator). States are kept; every instance gets a fresh
   * interval (lastSeen = now), since nobody heard anything while the coordinator was away: the live ones
   * heartbeat within an interval, the dead ones are detected one interval and a grace later.
   * Instances already in the registry are left alone. Returns how many were added.
   */
  load(instances: Iterable<LoadedInstance>, now: number): number {
    let added = 0;
    for (const { view, ttlMs } of instances) {
      if (view.state === "removed") continue;
      const record = view.instance;
      let m = this.services.get(record.service);
      if (m?.has(record.id)) continue;
      const e = new Entry(record, now, ttlMs);
      e.state = view.state;
      e.since = view.since;
      e.inFlight = view.inFlight;
      e.status = view.status;
      e.published = view.state;
      this.derive(e);
      if (!m) this.services.set(record.service, (m = new Map()));
      m.set(record.id, e);
      this.count++;
      this.schedule(e);
      added++;
    }
    return added;
  }

  /**
   * Gives every instance a fresh interval without changing any state: after the coordinator could not
   * hear anyone (its NATS connection was down), silence is not evidence of failure.
   */
  touchAll(now: number): void {
    for (const m of this.services.values()) {
      for (const e of m.values()) if (e.lastSeen < now) e.lastSeen = now;
    }
    this.nextDeadline = Math.min(this.nextDeadline, now);
  }

  /** Records that `state` of an instance was published (or heard from the leader). */
  markPublished(service: string, id: string, state: InstanceState): void {
    if (state === "removed") {
      if (this.tombstones.size > 0) this.tombstones.delete(tombstoneKey(service, id));
      return;
    }
    const e = this.services.get(service)?.get(id);
    if (e) e.published = state;
  }

  /**
   * What clients have not been told, as the changes a coordinator that becomes leader publishes first:
   * for every instance whose state differs from the last one published, each state on the way from that
   * one to the current one (up → suspect → down), and for instances removed here but never published as
   * removed, the rest of their fall (a timed-out instance passes through `down`) and then `removed`.
   * Instances clients never heard of are published in their current state only; removed ones not at all.
   */
  unpublished(now: number): RegistryChange[] {
    const out: RegistryChange[] = [];
    for (const m of this.services.values()) {
      for (const e of m.values()) {
        if (e.published === e.state) continue;
        this.reconcile(out, this.view(e), e.published, pathBetween(e.published, e.state), e.since, now);
      }
    }
    for (const t of this.tombstones.values()) {
      if (t.published === null) continue;
      const states: InstanceState[] = t.reason === "timeout" ? [...pathBetween(t.published, "down"), "removed"] : ["removed"];
      this.reconcile(out, t.view, t.published, states, t.at, now);
    }
    this.tombstones.clear();
    return out;
  }

  /** Removals not yet published, kept (for {@link unpublished}) until published or `TOMBSTONE_MS` old. */
  get pendingRemovals(): number {
    return this.tombstones.size;
  }

  /**
   * Appends one "reconcile" change per state of `states`, each following the previous one, dated when
   * it happened: a step of the fall when its threshold passed after the last proof of life, the last
   * state when the instance entered it (`lastAt`).
   */
  private reconcile(out: RegistryChange[], view: InstanceView, from: InstanceState | null, states: InstanceState[], lastAt: number, now: number): void {
    const t = this.thresholdsFor(view.instance.heartbeatMs);
    let previous = from;
    states.forEach((state, i) => {
      let at = lastAt;
      if (i < states.length - 1) at = state === "suspect" ? view.lastSeen + t.suspectAfter : state === "down" ? view.lastSeen + t.downAfter : lastAt;
      at = Math.min(at, now);
      out.push({ type: state, previous, reason: "reconcile", view: { ...view, state, since: at }, at });
      previous = state;
    });
  }

  private transition(e: Entry, to: LiveState, now: number): RegistryChange {
    const previous = e.state;
    e.state = to;
    e.since = now;
    return this.change(e, previous, "timeout", now);
  }

  private remove(e: Entry, reason: "leave" | "timeout" | "expired" | "leader", now: number): RegistryChange {
    const m = this.services.get(e.record.service)!;
    m.delete(e.record.id);
    if (m.size === 0) this.services.delete(e.record.service);
    this.count--;
    const view: InstanceView = { ...this.view(e), state: "removed", since: now };
    // Until someone publishes this removal (markPublished), a future leader must be able to.
    if (reason !== "leader") this.tombstones.set(tombstoneKey(e.record.service, e.record.id), { view, published: e.published, reason, at: now });
    return { type: "removed", previous: e.state, reason, view, at: now };
  }

  private change(e: Entry, previous: InstanceState | null, reason: RegistryChange["reason"], now: number): RegistryChange {
    return { type: e.state, previous, reason, view: this.view(e), at: now };
  }

  /** Thresholds of one entry, from its heartbeat interval (agents) or its TTL (registrations). */
  private derive(e: Entry): void {
    if (e.registered) {
      e.suspectAfter = e.downAfter = e.removeAfter = e.ttlMs!;
      return;
    }
    const t = this.thresholdsFor(e.record.heartbeatMs);
    e.suspectAfter = t.suspectAfter;
    e.downAfter = t.downAfter;
    e.removeAfter = t.removeAfter;
    if (e.record.heartbeatMs < this.minHeartbeat) this.minHeartbeat = e.record.heartbeatMs;
  }

  /** Next time this entry can change state without new input. */
  private deadlineOf(e: Entry): number {
    if (e.registered) return e.lastSeen + e.removeAfter;
    switch (e.state) {
      case "up":
        return e.lastSeen + e.suspectAfter;
      case "suspect":
        return e.lastSeen + e.downAfter;
      default:
        return e.lastSeen + e.removeAfter;
    }
  }

  /** Keeps `nextDeadline` a lower bound after an entry's deadline moved earlier (heartbeats only move it later). */
  private schedule(e: Entry): void {
    const d = this.deadlineOf(e);
    if (d < this.nextDeadline) this.nextDeadline = d;
  }
}
