/**
 * The coordinators' leadership lease as everyone reads it: which coordinator leads, in which term, and
 * the last registry revision it reported. The lease is a key in a JetStream KV bucket that only
 * coordinators write; its KV revision is assigned by the server, so the term — the KV revision of the
 * write that acquired the lease — cannot be made up by someone who merely publishes on the bus.
 * Registry events and snapshots carry the leader's id and term; followers and client caches compare
 * them with what this reader returns before adopting anything.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import { decodeMessage } from "./decode.js";

/** Key of the lease in its bucket. */
export const LEASE_KEY = "leader";

/** Bucket holding the leadership lease of the installation with subject prefix `prefix` (its max age is the lease time). */
export function leaseBucketName(prefix: string): string {
  return `${prefix.replace(/\./g, "_")}_coordinator_lease`;
}

/** The lease as read: who leads, in which term, and the revision it last reported. */
export interface LeaseState {
  /** Id of the leading coordinator. */
  leader: string;
  /** Its term: the KV revision of the write that acquired the lease. */
  term: number;
  /** The registry revision the leader wrote at its last renewal. */
  revision: number;
  /** KV revision of the entry read (grows with every renewal). */
  kvRevision: number;
}

/** The lease in a KV entry, or null when the entry is a deletion or not a valid lease. */
export function leaseFromEntry(e: KvEntry | null): LeaseState | null {
  if (!e || e.operation !== "PUT") return null;
  const d = decodeMessage("coordinator-lease", e.value);
  if (!d.ok) return null;
  // The acquiring write cannot contain its own KV revision; renewals carry it.
  const term = d.value.term ?? e.revision;
  if (term > e.revision) return null;
  return { leader: d.value.coordinator, term, revision: d.value.revision, kvRevision: e.revision };
}

/** What a lease read found. */
export type LeaseRead =
  /** A leader holds the lease. */
  | { kind: "leader"; lease: LeaseState }
  /** The bucket exists but nobody holds the lease right now (expired or released). */
  | { kind: "none" }
  /** There is no lease bucket (or no JetStream at all): no coordinator runs with JetStream (a single coordinator with `jetstream: false`). */
  | { kind: "no-bucket" }
  /** The lease could not be read (timeout, permissions…): nothing can be verified now. */
  | { kind: "error"; error: string };

/** Reads the lease of one installation (read-only: needs `$JS.API.STREAM.MSG.GET.KV_<bucket>` only). */
export class LeaseReader {
  private kv: KV | undefined;
  readonly bucket: string;

  constructor(
    private readonly nc: NatsConnection,
    prefix: string,
    private readonly timeoutMs = 2000,
  ) {
    this.bucket = leaseBucketName(prefix);
  }

  /** Reads the lease now. Never throws. */
  async read(): Promise<LeaseRead> {
    try {
      // Bind without asking for stream info (no permission needed beyond the message get).
      this.kv ??= await new Kvm(jetstream(this.nc, { timeout: this.timeoutMs })).open(this.bucket, { allow_direct: false });
      const lease = leaseFromEntry(await this.kv.get(LEASE_KEY));
      return lease ? { kind: "leader", lease } : { kind: "none" };
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      if (/stream not found|jetstream is not enabled|jetstream not enabled/i.test(message)) return { kind: "no-bucket" };
      return { kind: "error", error: message };
    }
  }
}
