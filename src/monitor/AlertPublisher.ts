/**
 * Publishes alert transitions into the alert stream with `Nats-Msg-Id` = fingerprint.status.startsAt
 * and retries until JetStream confirms, in order, so a NATS hiccup delays an alert instead of
 * losing it. After the stream confirmed a transition, the firing alert is remembered (or, once
 * resolved, forgotten) in a KV bucket shared by the collectors, so a restarted collector can still
 * resolve what fired before it restarted.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { encodeJson, type AlertEvent, type Logger, type Subjects } from "../protocol/index.js";
import { alertMsgId } from "./AlertStream.js";

/** Options of {@link AlertPublisher}. */
export interface AlertPublisherOptions {
  js: JetStreamClient;
  subjects: Subjects;
  /** Where firing alerts are remembered across restarts (optional). */
  state?: KV;
  log: Logger;
  retryInitialMs?: number;
  retryMaxMs?: number;
}

/** See the module comment. */
export class AlertPublisher {
  private readonly queue: AlertEvent[] = [];
  private running = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private idleWaiters: Array<() => void> = [];
  /** Transitions the stream stored. */
  published = 0;
  /** Transitions the stream already had (another collector published them first). */
  duplicates = 0;
  /** Failed publish attempts (each retried). */
  failures = 0;

  constructor(private readonly opts: AlertPublisherOptions) {}

  /** Transitions waiting for JetStream. */
  get pending(): number {
    return this.queue.length;
  }

  /** Queues a transition; it is published (and retried) in order. */
  enqueue(ev: AlertEvent): void {
    if (this.stopped) return;
    this.queue.push(ev);
    if (!this.running) void this.run();
  }

  /** Resolves once the queue is empty, or after `timeoutMs`; returns whether it is empty. */
  async flush(timeoutMs: number): Promise<boolean> {
    if (this.queue.length === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const done = await Promise.race([idle, timeout]);
    clearTimeout(timer);
    return done;
  }

  /** Stops retrying; whatever is still queued is reported and dropped. */
  stop(): AlertEvent[] {
    this.stopped = true;
    this.wake?.();
    return this.queue.splice(0);
  }

  private async run(): Promise<void> {
    this.running = true;
    let attempt = 0;
    while (this.queue.length > 0 && !this.stopped) {
      const ev = this.queue[0]!;
      try {
        const ack = await this.opts.js.publish(this.opts.subjects.alert(ev.severity, ev.service), encodeJson(ev), { msgID: alertMsgId(ev), timeout: 5000 });
        if (ack.duplicate) this.duplicates++;
        else this.published++;
        this.queue.shift();
        attempt = 0;
        await this.remember(ev);
      } catch (err) {
        this.failures++;
        attempt++;
        const delay = Math.min(this.opts.retryMaxMs ?? 5000, (this.opts.retryInitialMs ?? 250) * 2 ** Math.min(attempt - 1, 10));
        if (attempt === 1 || attempt % 10 === 0) {
          this.opts.log.warn({ err, fingerprint: ev.fingerprint, status: ev.status, attempt, retryInMs: delay }, "alert event not yet stored by JetStream; retrying");
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wake = undefined;
      }
    }
    this.running = false;
    if (this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private async remember(ev: AlertEvent): Promise<void> {
    const kv = this.opts.state;
    if (!kv) return;
    try {
      if (ev.status === "firing") await kv.put(ev.fingerprint, encodeJson(ev));
      else {
        // Only forget the episode this resolution ends: a newer one may already be remembered.
        const cur = await kv.get(ev.fingerprint);
        if (cur && cur.operation === "PUT") {
          const stored = cur.json<AlertEvent>();
          if (stored.startsAt <= ev.startsAt) await kv.delete(ev.fingerprint);
        }
      }
    } catch (err) {
      // Only restart recovery depends on it; alerting itself goes on.
      this.opts.log.warn({ err, fingerprint: ev.fingerprint }, "could not record alert state");
    }
  }
}
