/**
 * Whether a coordinator adopts a registry event it hears on `<prefix>.registry.events`. Only the
 * leader named by the lease, in the term the lease states, is believed; a follower then takes the
 * event's revision only within a bounded distance of what the leader last wrote into the lease, so a
 * made-up revision (2^53, a big jump) can neither stall the count nor be persisted by a follower that
 * later leads. Pure: the coordinator passes what it knows.
 */

/** Largest revision step a follower takes from one event beyond what it knows (the leader's lease revision or its own). */
export const MAX_REVISION_JUMP = 100_000;

/** What a coordinator knows when an event arrives. */
export interface LeaderKnowledge {
  /** This coordinator's id. */
  self: string;
  /** True while this coordinator holds the lease. */
  leading: boolean;
  /** The leader named by the lease as last read (undefined: nobody, or not read yet). */
  holder: string | undefined;
  /** Its term (0 when unknown). */
  term: number;
  /** This coordinator's revision. */
  revision: number;
  /** The revision the leader last wrote into the lease. */
  leaseRevision: number;
}

/** The verdict on one event. */
export type LeaderEventVerdict =
  /** Ours, echoed back: nothing to do. */
  | "own"
  /** From the current leader in its term, revision within bounds: apply it. */
  | "apply"
  /** Another coordinator claims to lead while this one does: a rival or a forgery; re-check the lease. */
  | "rival"
  /** A term above the one known: the lease may have changed; re-read it, then judge again. */
  | "newer-term"
  /** Not the leader the lease names, or an older term: refused. */
  | "not-leader"
  /** The leader's event, but its revision jumps further than any real gap: refused. */
  | "revision-jump";

/** Judges an event of coordinator `coordinator`, term `term`, revision `revision`. */
export function judgeLeaderEvent(ev: { coordinator: string; term: number; revision: number }, k: LeaderKnowledge): LeaderEventVerdict {
  if (ev.coordinator === k.self) return "own";
  if (k.leading) return "rival";
  if (ev.term > k.term) return "newer-term";
  if (k.holder === undefined || ev.coordinator !== k.holder || ev.term !== k.term) return "not-leader";
  if (ev.revision > Math.max(k.revision, k.leaseRevision) + MAX_REVISION_JUMP) return "revision-jump";
  return "apply";
}
