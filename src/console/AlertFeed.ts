/**
 * The console's view of alerting, read from NATS like any client: alert transitions from the
 * durable alert stream (the last `historyMs`, then live, through an ordered consumer), the
 * notifier's acknowledgements and sent-mail records from its KV buckets (watched, read-only).
 * Whatever is missing (no JetStream stream yet, no notifier yet) is retried until it appears.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, type ConsumerMessages } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { alertStreamName, prefixName } from "../monitor/index.js";
import { decodeJson, decodeWith, type AlertEvent, type ConsoleAck, type InvalidInputLog, type Logger } from "../protocol/index.js";
import type { ConsoleState } from "./ConsoleState.js";

/** Options of {@link AlertFeed}. */
export interface AlertFeedOptions {
  prefix: string;
  /** How far back alert transitions are read at start (default 1 hour). */
  historyMs: number;
  /** Pause before retrying a missing stream or bucket, in ms (default 2000). */
  retryMs?: number;
  /** Called after each applied fact, so the owner can schedule an update. */
  onChange: () => void;
  log: Logger;
  invalid: InvalidInputLog;
}

const FINGERPRINT = /^[0-9a-f]{16}$/;
const MAX_RECORD_BYTES = 16 * 1024;

/** See the module comment. */
export class AlertFeed {
  private stopped = false;
  private messages: ConsumerMessages | undefined;
  private readonly watchers: Array<{ stop(): void }> = [];
  private readonly tasks: Array<Promise<void>> = [];
  private readonly retryMs: number;

  constructor(
    private readonly nc: NatsConnection,
    private readonly state: ConsoleState,
    private readonly opts: AlertFeedOptions,
  ) {
    this.retryMs = opts.retryMs ?? 2000;
  }

  /** Starts reading in the background; never throws for a missing stream or bucket. */
  start(): this {
    this.tasks.push(this.retrying("alert stream", () => this.readStream()));
    this.tasks.push(this.retrying("notifier state bucket", () => this.watchBucket(`${prefixName(this.opts.prefix)}_notify_state`, "ack.>", (k, v) => this.onAck(k, v))));
    this.tasks.push(this.retrying("notifier sent bucket", () => this.watchBucket(`${prefixName(this.opts.prefix)}_notify_sent`, ">", (k, v) => this.onSent(k, v))));
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.messages?.stop();
    for (const w of this.watchers) w.stop();
    await Promise.allSettled(this.tasks);
  }

  private async retrying(what: string, run: () => Promise<void>): Promise<void> {
    let logged = false;
    while (!this.stopped && !this.nc.isClosed()) {
      try {
        await run();
      } catch (err) {
        if (this.stopped) return;
        if (!logged) this.opts.log.info({ err: (err as Error).message }, `${what} not available yet; retrying`);
        logged = true;
      }
      if (this.stopped) return;
      await new Promise((r) => setTimeout(r, this.retryMs));
    }
  }

  private async readStream(): Promise<void> {
    const js = jetstream(this.nc);
    const stream = await js.streams.get(alertStreamName(this.opts.prefix));
    const consumer = await stream.getConsumer({ opt_start_time: new Date(Date.now() - this.opts.historyMs).toISOString() });
    const messages = await consumer.consume();
    this.messages = messages;
    if (this.stopped) messages.stop();
    for await (const m of messages) {
      const d = decodeWith<AlertEvent>("alert", m.data);
      if (!d.ok) {
        this.opts.invalid.record("alert", d.error, m.subject);
        continue;
      }
      this.state.applyAlert(d.value);
      this.opts.onChange();
    }
  }

  private async watchBucket(bucket: string, key: string, apply: (key: string, value: Uint8Array | undefined) => void): Promise<void> {
    const kv: KV = await new Kvm(this.nc).open(bucket);
    await kv.status();
    const iter = await kv.watch({ key });
    this.watchers.push(iter);
    if (this.stopped) iter.stop();
    for await (const e of iter) {
      apply(e.key, e.operation === "PUT" ? e.value : undefined);
      this.opts.onChange();
    }
  }

  /** `ack.<fingerprint>` → the acknowledgement as the notifier stored it. */
  private onAck(key: string, value: Uint8Array | undefined): void {
    const fp = key.slice(4);
    if (!FINGERPRINT.test(fp)) return;
    if (!value) return this.state.applyAck(fp, undefined);
    const ack = readRecord(value);
    if (!ack || typeof ack.by !== "string" || !isEpoch(ack.at)) return this.opts.invalid.record("notify-ack", "unreadable acknowledgement", key);
    const out: ConsoleAck = { by: ack.by.slice(0, 128), at: ack.at };
    if (isEpoch(ack.until)) out.until = ack.until;
    if (typeof ack.comment === "string") out.comment = ack.comment.slice(0, 1024);
    this.state.applyAck(fp, out);
  }

  /** `<route>.<fingerprint>.<status>.<startsAt>` → a mail was sent for that transition. */
  private onSent(key: string, value: Uint8Array | undefined): void {
    if (!value) return;
    const parts = key.split(".");
    if (parts.length !== 4) return;
    const [route, fp, status] = parts as [string, string, string, string];
    if (!FINGERPRINT.test(fp) || (status !== "firing" && status !== "resolved")) return;
    const rec = readRecord(value);
    if (!rec || !isEpoch(rec.at)) return this.opts.invalid.record("notify-sent", "unreadable sent-mail record", key);
    this.state.applyMail(fp, {
      route: route.slice(0, 128),
      status,
      at: rec.at,
      ...(typeof rec.messageId === "string" ? { messageId: rec.messageId.slice(0, 1024) } : {}),
    });
  }
}

function readRecord(value: Uint8Array): Record<string, unknown> | undefined {
  if (value.length > MAX_RECORD_BYTES) return undefined;
  try {
    const v = decodeJson(value);
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function isEpoch(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}
