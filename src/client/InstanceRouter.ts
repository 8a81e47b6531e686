/**
 * Chooses where each attempt of a call goes. Per service it follows the registry's live instances
 * and keeps one circuit breaker per instance (outlier ejection); per route (service + endpoint) it
 * keeps the instances serving that endpoint with their load statistics and one strategy object per
 * strategy in use. Before a strategy picks, the router removes ejected instances and, on a retry,
 * the instances the call already tried, so every strategy skips them without knowing about them.
 * No NATS I/O here; time and randomness come from the caller.
 */
import type { CompiledSelector, Disposable, InstanceRecord, InstanceView, Subjects } from "../protocol/index.js";
import { CircuitBreaker, type BreakerOptions, type BreakerStateChange } from "./CircuitBreaker.js";
import { InstanceStats, type InstanceStatsOptions } from "./InstanceStats.js";
import { createStrategy, type Candidate, type PickContext, type RandomSource, type Strategy, type StrategyName } from "./strategies/index.js";
import type { RegistrySource, RegistrySourceChange } from "./types.js";

/** A breaker state change of one instance (instance null: the service's queue-group fallback). */
export interface InstanceStateChange extends BreakerStateChange {
  service: string;
  instance: string | null;
}

/** Options of {@link InstanceRouter}. */
export interface InstanceRouterOptions {
  source?: RegistrySource | undefined;
  subjects: Subjects;
  breaker?: BreakerOptions;
  stats?: InstanceStatsOptions;
  random?: RandomSource;
  /** Ring points per instance for `consistent-hash`. */
  virtualNodes?: number;
  /** Called on every breaker state change. */
  onStateChange?: (change: InstanceStateChange) => void;
  /**
   * How often (ms) a route re-reads the registry source even without a change notification, as a
   * safety net for sources without `onChange` or a missed notification (default 1000).
   */
  recheckMs?: number;
}

/** An instance of a route, as strategies and the call path see it. Stable per instance id. */
export class Member implements Candidate {
  readonly stats: InstanceStats;
  constructor(
    readonly id: string,
    public weight: number,
    /** What the instance announced (version, tags, zone): selectors and traffic policies read it. */
    public record: InstanceRecord,
    /** The instance's breaker (shared by every endpoint of the instance). */
    readonly breaker: CircuitBreaker,
    /** `<prefix>.inst.<service>.<id>.<endpoint>`. */
    readonly subject: string,
    statsOptions: InstanceStatsOptions | undefined,
  ) {
    this.stats = new InstanceStats(statsOptions);
  }
}

/** The instances of one service as last read from the registry source, and their breakers. */
class ServiceState {
  /** Grows whenever the live set changes; routes rebuild when theirs is older. */
  version = 0;
  dirty = true;
  live: readonly InstanceView[] = [];
  private views: readonly InstanceView[] | undefined;
  private signature = "";
  private checkedAt = -Infinity;
  readonly breakers = new Map<string, CircuitBreaker>();
  /** Breakers not closed (open or half-open): when zero, no filtering is needed. */
  notClosed = 0;
  /** Breaker of the queue-group fallback path, used while the registry knows no instance. */
  readonly fallback: CircuitBreaker;

  constructor(
    readonly name: string,
    private readonly router: InstanceRouter,
  ) {
    this.fallback = this.router.newBreaker(name, null, this);
  }

  refresh(source: RegistrySource | undefined, now: number, notified: boolean, recheckMs: number): void {
    if (!source) return;
    // With change notifications, re-read only when told (or as a periodic safety net); without
    // data, re-read on every call so the first snapshot is picked up at once.
    if (notified && !this.dirty && this.live.length > 0 && now - this.checkedAt < recheckMs) return;
    this.checkedAt = now;
    let views: readonly InstanceView[];
    try {
      views = source.instances(this.name) ?? [];
    } catch {
      views = [];
    }
    if (views === this.views && !this.dirty) return;
    this.dirty = false;
    this.views = views;
    const live = liveViews(views);
    let sig = "";
    for (const v of live) {
      const r = v.instance;
      sig += `${r.id}:${r.weight ?? 1}:${r.endpoints.join(",")}:${r.version}:${r.zone ?? ""}:${r.tags?.join(",") ?? ""}:${r.codecs ? JSON.stringify(r.codecs) : ""}|`;
    }
    if (sig === this.signature) return;
    this.signature = sig;
    this.live = live;
    this.version++;
    // Forget breakers of instances that left the registry (ids are per process, they do not come back).
    if (this.breakers.size > live.length) {
      const ids = new Set(live.map((v) => v.instance.id));
      for (const [id, b] of this.breakers) {
        if (!ids.has(id)) {
          if (b.state !== "closed") this.notClosed--;
          this.breakers.delete(id);
        }
      }
    }
  }

  breaker(id: string): CircuitBreaker {
    let b = this.breakers.get(id);
    if (!b) {
      b = this.router.newBreaker(this.name, id, this);
      this.breakers.set(id, b);
    }
    return b;
  }
}

/** Routable instances: `up` and not draining; if none, `suspect` ones (better than nothing). */
function liveViews(views: readonly InstanceView[]): InstanceView[] {
  const up = views.filter((v) => v.state === "up" && v.status !== "draining");
  return up.length > 0 ? up : views.filter((v) => v.state === "suspect" && v.status !== "draining");
}

/** Members of a route that match a selector, rebuilt when the route's members change. */
interface Subset {
  builtVersion: number;
  members: Member[];
}

/** Most selector subsets kept per route (a caller choosing selectors from user input cannot grow memory without bound). */
const MAX_SUBSETS = 256;

/**
 * What a call asks of the instances besides the endpoint: selectors that must match (the call's own
 * version/tags, a traffic-policy subset) and a preferred zone.
 */
export interface Selection {
  /** Selectors every candidate must match. */
  filters?: readonly CompiledSelector[] | undefined;
  /** Preferred zone: instances of this zone are used while one of them is admitted and not overloaded. */
  zone?: string | undefined;
  /** An instance with at least this many requests in flight counts as overloaded for the zone preference. */
  zoneSpillInFlight?: number | undefined;
}

/** One service endpoint: its members, strategies and subjects. */
export class Route {
  members: Member[] = [];
  /**
   * Body codec the instances of this endpoint announce (undefined: `json`, or no instance ever
   * known); while no instance is live, the last one announced. When instances disagree (a rolling
   * change of codec), the first live one's: pass the call's `codec` explicitly during such a change.
   */
  codec: string | undefined;
  private builtVersion = -1;
  private readonly subsets = new Map<string, Subset>();
  /** Reused for the zone preference (picks are synchronous). */
  private readonly local: Member[] = [];
  private readonly byId = new Map<string, Member>();
  private readonly strategies = new Map<StrategyName, Strategy>();
  /** Reused for filtered candidate lists (picks are synchronous). */
  private readonly scratch: Member[] = [];
  private readonly ctx: PickContext = { now: 0, key: undefined, all: [] };

  constructor(
    readonly service: ServiceState,
    readonly endpoint: string,
    /** `<prefix>.svc.<service>.<endpoint>`: the queue-group fallback. */
    readonly fallbackSubject: string,
    private readonly router: InstanceRouter,
  ) {}

  /** Rebuilds the members when the service's live set changed. */
  sync(): void {
    if (this.builtVersion === this.service.version) return;
    this.builtVersion = this.service.version;
    const next: Member[] = [];
    const seen = new Set<string>();
    let codec: string | undefined;
    for (const v of this.service.live) {
      const rec = v.instance;
      if (seen.has(rec.id) || !rec.endpoints.includes(this.endpoint)) continue;
      seen.add(rec.id);
      // A name from the wire: own properties only (never `constructor` or `__proto__` of Object.prototype).
      if (next.length === 0 && rec.codecs !== undefined && Object.hasOwn(rec.codecs, this.endpoint)) codec = rec.codecs[this.endpoint];
      const weight = typeof rec.weight === "number" && Number.isFinite(rec.weight) ? rec.weight : 1;
      let m = this.byId.get(rec.id);
      if (m) {
        m.weight = weight;
        m.record = rec;
      } else {
        let subject: string;
        try {
          subject = this.router.subjects.instance(this.service.name, rec.id, this.endpoint);
        } catch {
          continue; // not a valid subject token: cannot be called
        }
        m = new Member(rec.id, weight, rec, this.service.breaker(rec.id), subject, this.router.statsOptions);
        this.byId.set(rec.id, m);
      }
      next.push(m);
    }
    for (const id of this.byId.keys()) if (!seen.has(id)) this.byId.delete(id);
    this.members = next;
    // With no live instance (the queue-group fallback), keep the codec last announced: the endpoint did not change it.
    if (next.length > 0) this.codec = codec;
  }

  strategy(name: StrategyName): Strategy {
    let s = this.strategies.get(name);
    if (!s) {
      s = createStrategy(name, { random: this.router.random, virtualNodes: this.router.virtualNodes });
      this.strategies.set(name, s);
    }
    return s;
  }

  /** The candidates of `zone` that are not overloaded, or all candidates when there is none. */
  private preferZone(candidates: Member[], zone: string, spillInFlight: number | undefined): Member[] {
    const local = this.local;
    local.length = 0;
    for (const m of candidates) {
      if (m.record.zone === zone && (spillInFlight === undefined || m.stats.inFlight < spillInFlight)) local.push(m);
    }
    return local.length === 0 || local.length === candidates.length ? candidates : local;
  }

  /** The earliest time any instance of this route (or the fallback subject, with none) may be admitted again. */
  earliestAdmission(now: number): number {
    if (this.members.length === 0) return this.service.fallback.admitsAt(now);
    let at = Infinity;
    for (const m of this.members) {
      const t = m.breaker.admitsAt(now);
      if (t < at) at = t;
    }
    return at;
  }

  /**
   * The members matching every selector of `filters` (the same array object while membership does
   * not change, so consistent-hash keeps its ring).
   */
  select(filters: readonly CompiledSelector[] | undefined): Member[] {
    if (filters === undefined || filters.length === 0) return this.members;
    const key = filters.length === 1 ? filters[0]!.key : filters.map((f) => f.key).join("&");
    let s = this.subsets.get(key);
    if (s === undefined || s.builtVersion !== this.builtVersion) {
      const members = this.members.filter((m) => filters.every((f) => f.matches(m.record)));
      if (s === undefined) {
        if (this.subsets.size >= MAX_SUBSETS) this.subsets.clear();
        s = { builtVersion: this.builtVersion, members };
        this.subsets.set(key, s);
      } else {
        s.builtVersion = this.builtVersion;
        s.members = members;
      }
    }
    return s.members;
  }

  /**
   * Chooses an instance for an attempt. Returns `"fallback"` when the registry knows no instance
   * serving this endpoint (and the call selects none), `"none"` when instances serve it but none
   * matches the selection, or null when every matching instance is ejected. `tried` lists the
   * instances this call already tried, oldest first: untried ones are preferred, and the last one is
   * never chosen again while another is admitted. With a preferred zone, the instances of that zone
   * are used while one of them is admitted and not overloaded; the others only then (spill-over).
   */
  pick(
    strategy: StrategyName,
    key: string | undefined,
    tried: readonly string[] | undefined,
    now: number,
    selection?: Selection,
  ): Member | "fallback" | "none" | null {
    const filters = selection?.filters;
    if (this.members.length === 0) return filters !== undefined && filters.length > 0 ? "none" : "fallback";
    const all = this.select(filters);
    if (all.length === 0) return "none";
    let candidates: Member[] = all;
    if (this.service.notClosed > 0 || tried !== undefined) {
      const s = this.scratch;
      s.length = 0;
      for (const m of all) if (m.breaker.admits(now) && (tried === undefined || !tried.includes(m.id))) s.push(m);
      if (s.length === 0 && tried !== undefined) {
        const last = tried[tried.length - 1];
        for (const m of all) if (m.id !== last && m.breaker.admits(now)) s.push(m);
        if (s.length === 0) for (const m of all) if (m.breaker.admits(now)) s.push(m);
      }
      if (s.length === 0) return null;
      // The unfiltered array lets consistent-hash skip its membership checks.
      if (s.length < all.length) candidates = s;
    }
    const zone = selection?.zone;
    if (zone !== undefined) candidates = this.preferZone(candidates, zone, selection?.zoneSpillInFlight);
    const ctx = this.ctx;
    ctx.now = now;
    ctx.key = key;
    ctx.all = all;
    return this.strategy(strategy).pick(candidates, ctx) as Member;
  }
}

/** Routing state of one client: which instance of a service each attempt goes to. */
export class InstanceRouter {
  readonly subjects: Subjects;
  readonly random: RandomSource;
  readonly virtualNodes: number | undefined;
  readonly statsOptions: InstanceStatsOptions | undefined;
  private readonly source: RegistrySource | undefined;
  private readonly breakerOptions: BreakerOptions | undefined;
  private readonly onStateChange: ((change: InstanceStateChange) => void) | undefined;
  private readonly services = new Map<string, ServiceState>();
  private readonly routes = new Map<string, Map<string, Route>>();
  private readonly recheckMs: number;
  private notified = false;
  private subscription: Disposable | undefined;

  constructor(opts: InstanceRouterOptions) {
    this.subjects = opts.subjects;
    this.source = opts.source;
    this.breakerOptions = opts.breaker;
    this.statsOptions = opts.stats;
    this.random = opts.random ?? Math.random;
    this.virtualNodes = opts.virtualNodes;
    this.onStateChange = opts.onStateChange;
    this.recheckMs = opts.recheckMs ?? 1000;
    if (this.source?.onChange) {
      this.notified = true;
      this.subscription = this.source.onChange((change) => this.changed(change));
    }
  }

  /** The route of `service`/`endpoint`, created on first use; throws InvalidNameError for bad names. */
  route(service: string, endpoint: string, now: number): Route {
    let byEndpoint = this.routes.get(service);
    let r = byEndpoint?.get(endpoint);
    if (!r) {
      const fallbackSubject = this.subjects.service(service, endpoint); // validates both names
      let svc = this.services.get(service);
      if (!svc) {
        svc = new ServiceState(service, this);
        this.services.set(service, svc);
      }
      r = new Route(svc, endpoint, fallbackSubject, this);
      if (!byEndpoint) {
        byEndpoint = new Map();
        this.routes.set(service, byEndpoint);
      }
      byEndpoint.set(endpoint, r);
    }
    r.service.refresh(this.source, now, this.notified, this.recheckMs);
    r.sync();
    return r;
  }

  /** Breakers of a service's instances (for stats and tests). */
  breakers(service: string): ReadonlyMap<string, CircuitBreaker> {
    return this.services.get(service)?.breakers ?? new Map();
  }

  /** The queue-group fallback breaker of a service, if the service was called. */
  fallbackBreaker(service: string): CircuitBreaker | undefined {
    return this.services.get(service)?.fallback;
  }

  /** Every breaker's counters summed. */
  breakerTotals(): { opened: number; halfOpened: number; closed: number; open: number } {
    const t = { opened: 0, halfOpened: 0, closed: 0, open: 0 };
    for (const svc of this.services.values()) {
      for (const b of [svc.fallback, ...svc.breakers.values()]) {
        t.opened += b.counters.opened;
        t.halfOpened += b.counters.halfOpened;
        t.closed += b.counters.closed;
        if (b.state !== "closed") t.open++;
      }
    }
    return t;
  }

  /**
   * Closes every breaker and forgets their failures (see {@link CircuitBreaker.forgive}): after the
   * client's own connection came back, the attempts that failed while it was down are no evidence
   * against any instance.
   */
  forgiveAll(now: number, reason: string): void {
    for (const svc of this.services.values()) {
      svc.fallback.forgive(now, reason);
      for (const b of svc.breakers.values()) b.forgive(now, reason);
    }
  }

  /** Stops listening to the registry source. */
  close(): void {
    this.subscription?.dispose();
    this.subscription = undefined;
  }

  /** @internal Creates a breaker wired to the service's counters and the state-change callback. */
  newBreaker(service: string, instance: string | null, state: ServiceState): CircuitBreaker {
    const b = new CircuitBreaker(this.breakerOptions);
    b.onStateChange((c) => {
      // A breaker already forgotten (its instance left) may still see a late outcome: not counted.
      if (instance !== null && state.breakers.get(instance) === b) {
        if (c.from === "closed") state.notClosed++;
        else if (c.to === "closed") state.notClosed--;
      }
      this.onStateChange?.({ ...c, service, instance });
    });
    return b;
  }

  private changed(change: RegistrySourceChange | undefined): void {
    // A source may name the service that changed; otherwise re-read all.
    const name = typeof change?.service === "string" ? change.service : undefined;
    const svc = name !== undefined ? this.services.get(name) : undefined;
    if (svc) svc.dirty = true;
    else if (name === undefined) for (const s of this.services.values()) s.dirty = true;
  }
}
