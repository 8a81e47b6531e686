/**
 * Leadership among coordinators: a lease in a JetStream KV bucket. nats-server 2.9 has no per-key TTL,
 * so the bucket's max age is the lease time: a lease that is not renewed disappears by itself.
 * Acquire = `create` (fails while someone holds it); renew = `update` with the revision we wrote (a
 * compare-and-set: it fails if anyone else wrote since); graceful release = delete with that revision.
 * The lease value carries the leader's registry revision, so whoever leads next continues from it.
 * The term of a leadership is the KV revision of the `create` that acquired it: assigned by the server,
 * growing with every acquisition, and written into every renewal so that readers see it.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { JetStreamApiCodes, JetStreamApiError, jetstream } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { LEASE_KEY, encodeJson, leaseFromEntry, type CoordinatorLease, type Logger } from "../protocol/index.js";

/** Options of {@link Leadership}. */
export interface LeadershipOptions {
  id: string;
  leaseMs: number;
  replicas: number;
  now: () => number;
  log: Logger;
  /** The revision to write into the lease (the leader's current one). */
  revision: () => number;
  /** Called when this coordinator gains or loses the lease; `observedRevision` is the last revision seen in a lease value. */
  onChange: (leader: boolean, observedRevision: number) => void;
}

/** Holds or watches the leadership lease. */
export class Leadership {
  private kvRevision = 0;
  private lastRenewed = 0;
  private leader = false;
  private timer: NodeJS.Timeout | undefined;
  private stepping: Promise<void> | undefined;
  private stopped = false;
  /** Revision in the last lease value read or written. */
  observedRevision = 0;
  /** Coordinator named by the last lease value read or written (undefined: nobody holds the lease). */
  holder: string | undefined;
  /** Term of that holder (0 when nobody holds the lease). */
  term = 0;
  /** The effective lease time: the bucket's max age (a bucket created earlier wins over the option). */
  readonly leaseMs: number;

  private constructor(
    private readonly kv: KV,
    private readonly opts: LeadershipOptions,
    leaseMs: number,
  ) {
    this.leaseMs = leaseMs;
  }

  /** Opens (creating if needed) the lease bucket. */
  static async open(nc: NatsConnection, bucket: string, opts: LeadershipOptions): Promise<Leadership> {
    const js = jetstream(nc, { timeout: Math.max(500, Math.min(5000, opts.leaseMs)) });
    const kv = await new Kvm(js).create(bucket, {
      history: 1,
      ttl: opts.leaseMs,
      replicas: opts.replicas,
      description: "Switchboard coordinator leadership lease",
    });
    const status = await kv.status();
    let leaseMs = opts.leaseMs;
    if (status.ttl > 0 && status.ttl !== opts.leaseMs) {
      opts.log.warn({ bucket, bucketTtl: status.ttl, leaseMs: opts.leaseMs }, "lease bucket exists with another max age; using the bucket's");
      leaseMs = status.ttl;
    }
    return new Leadership(kv, opts, leaseMs);
  }

  /** True while this coordinator holds the lease. */
  get isLeader(): boolean {
    return this.leader;
  }

  /** Tries to acquire at once, then renews or retries every leaseMs/3. */
  async start(): Promise<void> {
    await this.step();
    this.timer = setInterval(() => void this.step(), Math.max(50, Math.floor(this.leaseMs / 3)));
    this.timer.unref?.();
  }

  /** One round: renew when leading, else try to acquire. Never overlaps itself. */
  step(): Promise<void> {
    if (this.stepping || this.stopped) return this.stepping ?? Promise.resolve();
    this.stepping = this.round().finally(() => {
      this.stepping = undefined;
    });
    return this.stepping;
  }

  private value(): Uint8Array {
    const v: CoordinatorLease = { v: 1, coordinator: this.opts.id, revision: this.opts.revision(), at: this.opts.now() };
    if (this.leader && this.term > 0) v.term = this.term;
    return encodeJson(v);
  }

  private async round(): Promise<void> {
    if (this.leader) {
      try {
        this.kvRevision = await this.kv.update(LEASE_KEY, this.value(), this.kvRevision);
        this.lastRenewed = this.opts.now();
      } catch (err) {
        if (isWrongSequence(err)) {
          this.opts.log.warn("leadership lease was taken over or expired");
          this.setLeader(false);
        } else if (this.opts.now() - this.lastRenewed >= this.leaseMs) {
          // Cannot prove we still hold it: by now another coordinator may.
          this.opts.log.warn({ err: String(err) }, "could not renew the leadership lease in time; stepping down");
          this.setLeader(false);
        }
      }
      return;
    }
    try {
      this.kvRevision = await this.kv.create(LEASE_KEY, this.value());
      this.lastRenewed = this.opts.now();
      this.holder = this.opts.id;
      this.term = this.kvRevision;
      this.setLeader(true);
      return;
    } catch (err) {
      if (!isWrongSequence(err)) {
        this.opts.log.debug({ err: String(err) }, "lease acquisition failed");
        return;
      }
    }
    // Someone holds it: remember their revision, so that we continue from it if we lead next.
    try {
      const lease = leaseFromEntry(await this.kv.get(LEASE_KEY));
      if (lease) {
        this.holder = lease.leader;
        this.term = lease.term;
        if (lease.revision > this.observedRevision) this.observedRevision = lease.revision;
      } else {
        this.holder = undefined;
        this.term = 0;
      }
    } catch {
      // Next round.
    }
  }

  private setLeader(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    if (!leader) {
      // Until the next read tells who leads now.
      this.holder = undefined;
      this.term = 0;
    }
    this.opts.onChange(leader, this.observedRevision);
  }

  /** Stops renewing. With `release`, deletes the lease (if still ours) so another coordinator takes over at once. */
  async stop(release: boolean): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.stepping?.catch(() => {});
    if (release && this.leader) {
      try {
        await this.kv.delete(LEASE_KEY, { previousSeq: this.kvRevision });
      } catch {
        // Someone else's lease now, or JetStream unreachable: it expires by itself.
      }
    }
    this.leader = false;
  }
}

/** The JetStream "wrong last sequence" error of a failed compare-and-set. */
function isWrongSequence(err: unknown): boolean {
  if (err instanceof JetStreamApiError) {
    return err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown;
  }
  return /wrong last sequence/i.test((err as Error)?.message ?? "");
}
