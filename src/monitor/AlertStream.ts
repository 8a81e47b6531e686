/**
 * The durable alert stream: a JetStream stream capturing `<prefix>.alerts.*.*` (alert events, not
 * acks) with a duplicate window, so that the same transition published by several collectors
 * (same `Nats-Msg-Id`) is stored once, and a notifier that was down catches up from it. Collectors
 * and notifiers both make sure it exists; whoever comes first creates it.
 */
import { JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager, type StreamInfo } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { AlertEvent, Subjects } from "../protocol/index.js";
import type { AlertStreamOptions } from "./types.js";

/** Default duplicate window: far longer than collectors can disagree on when they publish a transition. */
export const DEFAULT_DUPLICATE_WINDOW_MS = 10 * 60_000;
/** Default retention of alert events. */
export const DEFAULT_ALERT_MAX_AGE_MS = 7 * 24 * 3_600_000;

/** A name usable for streams and KV buckets derived from a subject prefix (`prod.sb` → `prod_sb`). */
export function prefixName(prefix: string): string {
  return prefix.replace(/\./g, "_");
}

/** Default stream name for a prefix: `<prefix>_alerts`. */
export function alertStreamName(prefix: string): string {
  return `${prefixName(prefix)}_alerts`;
}

/** The `Nats-Msg-Id` of an alert transition: fingerprint, status and start, so each transition is stored once. */
export function alertMsgId(ev: Pick<AlertEvent, "fingerprint" | "status" | "startsAt">): string {
  return `${ev.fingerprint}.${ev.status}.${ev.startsAt}`;
}

/** Creates the alert stream if it does not exist; returns its info. Refuses a same-named stream on other subjects. */
export async function ensureAlertStream(jsm: JetStreamManager, subjects: Subjects, opts: AlertStreamOptions = {}): Promise<StreamInfo> {
  const name = opts.name ?? alertStreamName(subjects.prefix);
  const subject = subjects.allAlerts;
  const check = (info: StreamInfo): StreamInfo => {
    if (!info.config.subjects?.includes(subject)) {
      throw new Error(`stream ${name} exists but does not capture ${subject} (it captures ${info.config.subjects?.join(", ") || "nothing"})`);
    }
    return info;
  };
  let existing: StreamInfo | undefined;
  try {
    existing = await jsm.streams.info(name);
  } catch (e) {
    if (!(e instanceof JetStreamApiError && e.status === 404)) throw jetStreamHint(e);
  }
  if (existing) return check(existing);
  try {
    return await jsm.streams.add({
      name,
      subjects: [subject],
      retention: RetentionPolicy.Limits,
      storage: opts.storage === "memory" ? StorageType.Memory : StorageType.File,
      num_replicas: opts.replicas ?? 1,
      duplicate_window: nanos(opts.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS),
      max_age: nanos(opts.maxAgeMs ?? DEFAULT_ALERT_MAX_AGE_MS),
      description: `Switchboard alert events (${subject}), one entry per transition`,
    });
  } catch (e) {
    // Another collector or notifier may have created it in the meantime.
    try {
      existing = await jsm.streams.info(name);
    } catch {
      throw jetStreamHint(e);
    }
    return check(existing);
  }
}

function jetStreamHint(e: unknown): Error {
  const msg = e instanceof Error ? e.message : String(e);
  return new Error(`cannot set up the alert stream: ${msg} (JetStream must be enabled on the NATS server for alerts)`);
}
