/**
 * A live, validated copy of a KV bucket in memory: loads every key, then follows the bucket's
 * watch. Each value goes through `decode`, which refuses what is not well-formed (schema, key
 * naming) — anyone who can write to the bucket is untrusted; a refused value counts as absent.
 */
import type { KV } from "@nats-io/kv";
import type { Logger } from "../protocol/index.js";

/** Options of {@link KvView}. */
export interface KvViewOptions<T> {
  /** The value of `key`, or an error message when it is not acceptable. */
  decode: (key: string, value: Uint8Array) => { ok: true; value: T } | { ok: false; error: string };
  /** Called after each change (put or delete) once started. */
  onChange?: (key: string, value: T | undefined) => void;
  /** Refused entries are reported here. */
  onInvalid?: (key: string, error: string) => void;
  log: Logger;
}

/** See the module comment. */
export class KvView<T> {
  private readonly entries = new Map<string, T>();
  private watcher: { stop(): void } | undefined;

  constructor(
    readonly kv: KV,
    private readonly opts: KvViewOptions<T>,
  ) {}

  /** Loads the current values, then watches for changes. */
  async start(): Promise<this> {
    const iter = await this.kv.watch({ key: ">" });
    this.watcher = iter;
    // The watch first replays the last value of every key, then follows updates.
    const keys: string[] = [];
    for await (const k of await this.kv.keys()) keys.push(k);
    for (const k of keys) {
      const e = await this.kv.get(k);
      if (e) this.apply(k, e.operation === "PUT" ? e.value : undefined, false);
    }
    void (async () => {
      try {
        for await (const e of iter) this.apply(e.key, e.operation === "PUT" ? e.value : undefined, true);
      } catch (err) {
        this.opts.log.warn({ err }, "KV watch ended");
      }
    })();
    return this;
  }

  private apply(key: string, raw: Uint8Array | undefined, notify: boolean): void {
    let value: T | undefined;
    if (raw !== undefined) {
      const decoded = this.opts.decode(key, raw);
      if (decoded.ok) value = decoded.value;
      else this.opts.onInvalid?.(key, decoded.error);
    }
    if (value === undefined) {
      if (!this.entries.delete(key)) return;
    } else this.entries.set(key, value);
    if (notify) this.opts.onChange?.(key, value);
  }

  get(key: string): T | undefined {
    return this.entries.get(key);
  }

  values(): IterableIterator<T> {
    return this.entries.values();
  }

  get size(): number {
    return this.entries.size;
  }

  stop(): void {
    this.watcher?.stop();
    this.watcher = undefined;
  }
}
