/**
 * Silences in the KV bucket `<prefix>_silences` (one entry per silence id), followed by every
 * notifier through a watch, so a silence added through any notifier mutes mail in all of them.
 * Entries are validated (schema, key = id, matchers compile, end after start) before they count.
 * Silences that ended more than {@link SILENCE_RETENTION_MS} ago are purged from the stream
 * (no delete marker is left), so the bucket holds only silences in force or recently ended.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { prefixName } from "../monitor/index.js";
import { decodeMessage, encodeJson, type InvalidInputLog, type Logger, type Silence } from "../protocol/index.js";
import { KvView } from "./KvView.js";
import { compileMatcher } from "./LabelMatchers.js";
import { Silences } from "./Silences.js";

/** How long a silence is kept (for `silence ls --expired`) after it ended. */
export const SILENCE_RETENTION_MS = 24 * 3_600_000;
/** The longest silence accepted. */
export const MAX_SILENCE_MS = 90 * 24 * 3_600_000;
/** Bucket size cap: about 10 000 silences of 1.6 KB. */
export const SILENCE_BUCKET_MAX_BYTES = 16 * 1024 * 1024;

/** `<prefix>_silences`. */
export function silenceBucket(prefix: string): string {
  return `${prefixName(prefix)}_silences`;
}

/** See the module comment. */
export class SilenceStore {
  private view: KvView<Silence> | undefined;

  private constructor(
    private readonly nc: NatsConnection,
    /** The silences in force, kept current by the watch. */
    readonly silences: Silences,
    private readonly bucket: string,
    private readonly log: Logger,
    private readonly invalid: InvalidInputLog,
  ) {}

  /** Opens (creating if needed) the bucket and loads and follows its silences. */
  static async open(nc: NatsConnection, prefix: string, silences: Silences, o: { replicas?: number; log: Logger; invalid: InvalidInputLog; onChange?: () => void }): Promise<SilenceStore> {
    const bucket = silenceBucket(prefix);
    const kv = await new Kvm(jetstream(nc)).create(bucket, {
      history: 1,
      replicas: o.replicas ?? 1,
      max_bytes: SILENCE_BUCKET_MAX_BYTES,
      maxValueSize: 64 * 1024,
      description: "Switchboard: alert silences",
    });
    const store = new SilenceStore(nc, silences, bucket, o.log, o.invalid);
    store.view = await new KvView<Silence>(kv, {
      log: o.log,
      decode: (key, raw) => {
        const d = decodeMessage("silence", raw, 64 * 1024);
        if (!d.ok) return d;
        if (d.value.id !== key) return { ok: false, error: `silence ${d.value.id} stored under key ${key}` };
        if (d.value.endsAt <= d.value.startsAt) return { ok: false, error: "endsAt is not after startsAt" };
        try {
          d.value.matchers.forEach(compileMatcher);
        } catch (err) {
          return { ok: false, error: (err as Error).message };
        }
        return d;
      },
      onInvalid: (key, error) => o.invalid.record("silence", error, key),
      onChange: (key, value) => {
        if (value) store.silences.put(value);
        else store.silences.delete(key);
        o.onChange?.();
      },
    }).start();
    for (const s of store.view.values()) store.silences.put(s);
    return store;
  }

  /** Stores a silence (new or changed); the watch then applies it here and in every notifier. */
  async put(s: Silence): Promise<void> {
    await this.view!.kv.put(s.id, encodeJson(s));
    this.silences.put(s);
  }

  /** Removes silences that ended more than the retention ago, leaving no marker in the bucket. */
  async purgeEnded(now: number): Promise<number> {
    const old = this.silences.all().filter((s) => s.endsAt + SILENCE_RETENTION_MS < now);
    if (old.length === 0) return 0;
    const jsm = await jetstreamManager(this.nc);
    for (const s of old) {
      try {
        await jsm.streams.purge(`KV_${this.bucket}`, { filter: `$KV.${this.bucket}.${s.id}` });
        this.silences.delete(s.id);
      } catch (err) {
        this.log.warn({ err, silence: s.id }, "could not purge an ended silence");
      }
    }
    return old.length;
  }

  stop(): void {
    this.view?.stop();
  }
}
