/**
 * Which registry events a client cache applies. After a snapshot verified against the lease, the cache
 * knows the leader, its term and a revision; from then on it applies only that leader's events of that
 * term whose revision is exactly the next one. A duplicate revision whose content differs from what
 * was applied under it is a conflict (someone injected an event in the leader's name). Everything else
 * is a reason to reload, never new truth. Pure: no I/O, no clock.
 */
import type { RegistryEvent } from "../../protocol/index.js";

/** Applied events remembered to recognise a conflicting duplicate. */
const REMEMBERED = 256;

/** The verdict on one event. */
export type GateVerdict =
  /** The leader's next event: apply it. */
  | "apply"
  /** Already applied (or included in the snapshot): nothing to do. */
  | "duplicate"
  /** A revision already applied, with other content: a forged or conflicting event; reload. */
  | "conflict"
  /** The leader's event, but revisions are missing before it: reload. */
  | "gap"
  /** A term above the one known: the lease may have changed; re-read it and reload. */
  | "newer-term"
  /** Not the leader the lease named, or an older term: refused; reload in case the cache is the one that is wrong. */
  | "not-leader";

/** Content of an event that a legitimate duplicate repeats exactly. */
function fingerprint(ev: RegistryEvent): string {
  const v = ev.instance;
  return `${ev.type}\u0000${ev.at}\u0000${v.instance.service}\u0000${v.instance.id}\u0000${v.lastSeen}\u0000${v.status}`;
}

/** The cache's gate: leader, term and revision it follows. */
export class EventGate {
  private leaderId: string | undefined;
  private leaderTerm = 0;
  private rev = 0;
  private readonly applied = new Map<number, string>();

  /** The leader followed (undefined before the first verified snapshot). */
  get leader(): string | undefined {
    return this.leaderId;
  }

  /** Its term. */
  get term(): number {
    return this.leaderTerm;
  }

  /** The revision reached. */
  get revision(): number {
    return this.rev;
  }

  /** A verified snapshot of `leader`'s term `term` at `revision` was adopted. */
  reset(leader: string, term: number, revision: number): void {
    this.leaderId = leader;
    this.leaderTerm = term;
    this.rev = revision;
    this.applied.clear();
  }

  /** Judges one event. */
  judge(ev: RegistryEvent): GateVerdict {
    if (this.leaderId === undefined) return ev.term > 0 ? "newer-term" : "not-leader";
    if (ev.term > this.leaderTerm) return "newer-term";
    if (ev.term !== this.leaderTerm || ev.coordinator !== this.leaderId) return "not-leader";
    if (ev.revision === this.rev + 1) return "apply";
    if (ev.revision > this.rev) return "gap";
    const seen = this.applied.get(ev.revision);
    return seen === undefined || seen === fingerprint(ev) ? "duplicate" : "conflict";
  }

  /** Records that `ev` (judged "apply") was applied. */
  accept(ev: RegistryEvent): void {
    this.rev = ev.revision;
    this.applied.set(ev.revision, fingerprint(ev));
    if (this.applied.size > REMEMBERED) this.applied.delete(this.applied.keys().next().value!);
  }
}
