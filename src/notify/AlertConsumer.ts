/**
 * Reads the alert stream through a durable pull consumer (explicit acks, unlimited redeliveries)
 * and hands each valid alert event, with its stream message, to a handler. A message that is not a
 * valid alert event, or whose body names another severity or service than its subject, is
 * terminated (never redelivered) and counted; it never reaches the handler.
 */
import { AckPolicy, DeliverPolicy, JetStreamApiError, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { ensureAlertStream } from "../monitor/index.js";
import { decodeMessage, type AlertEvent, type InvalidInputLog, type Logger, type Subjects } from "../protocol/index.js";

/** Largest alert event accepted from the stream. */
const MAX_ALERT_BYTES = 256 * 1024;

/** Options of {@link AlertConsumer}. */
export interface AlertConsumerOptions {
  subjects: Subjects;
  streamName: string;
  durable: string;
  ackWaitMs: number;
  replicas: number;
  log: Logger;
  invalid: InvalidInputLog;
  /** Called for each valid alert; a throw leaves the message unacknowledged (redelivered after ackWait). */
  onAlert: (alert: AlertEvent, msg: JsMsg) => Promise<void>;
  /** Called for every message received, valid or not (counters). */
  onReceived?: () => void;
}

/** See the module comment. */
export class AlertConsumer {
  private messages: ConsumerMessages | undefined;
  private consuming: Promise<void> | undefined;

  constructor(private readonly opts: AlertConsumerOptions) {}

  /** Creates the stream and the durable consumer when missing (or updates its ack wait), then starts consuming. */
  async start(nc: NatsConnection): Promise<this> {
    const { subjects, streamName, durable, ackWaitMs } = this.opts;
    const jsm = await jetstreamManager(nc);
    await ensureAlertStream(jsm, subjects, { name: streamName, replicas: this.opts.replicas });
    const config = {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(ackWaitMs),
      max_deliver: -1,
      filter_subject: subjects.allAlerts,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: 20_000,
      description: "Switchboard mail notifier",
    };
    try {
      const info = await jsm.consumers.info(streamName, durable);
      if (info.config.ack_wait !== config.ack_wait) await jsm.consumers.update(streamName, durable, { ack_wait: config.ack_wait });
    } catch (e) {
      if (!(e instanceof JetStreamApiError && e.status === 404)) throw e;
      await jsm.consumers.add(streamName, config);
    }
    const consumer = await jetstream(nc).consumers.get(streamName, durable);
    // Short pulls (idle heartbeat = expires / 2): when a cluster node dies with the consumer's leader,
    // the pending pull dies with it; two missed heartbeats re-pull, so mail resumes within ~5 s, not 30 s.
    this.messages = await consumer.consume({ max_messages: 256, expires: 5000 });
    this.consuming = this.consume(this.messages);
    return this;
  }

  private async consume(messages: ConsumerMessages): Promise<void> {
    for await (const m of messages) {
      try {
        await this.onMessage(m);
      } catch (err) {
        // Leave it unacknowledged: it comes back after ackWait.
        this.opts.log.error({ err, seq: m.seq }, "could not process alert message");
      }
    }
  }

  private async onMessage(m: JsMsg): Promise<void> {
    this.opts.onReceived?.();
    const decoded = decodeMessage("alert", m.data, MAX_ALERT_BYTES);
    if (!decoded.ok) {
      this.opts.invalid.record("alert", decoded.error, m.subject);
      m.term(); // never redeliver garbage
      return;
    }
    const alert = decoded.value;
    let expected: string | undefined;
    try {
      expected = this.opts.subjects.alert(alert.severity, alert.service);
    } catch {
      expected = undefined;
    }
    if (m.subject !== expected) {
      this.opts.invalid.record("alert", `body names ${alert.severity}/${alert.service}, subject is ${m.subject}`, m.subject);
      m.term();
      return;
    }
    if (alert.status === "resolved" && alert.endsAt === undefined) alert.endsAt = Math.floor(m.info.timestampNanos / 1_000_000);
    await this.opts.onAlert(alert, m);
  }

  /** Stops pulling and waits for the message being processed. */
  async stop(): Promise<void> {
    await this.messages?.close().catch(() => undefined);
    await this.consuming?.catch(() => undefined);
    this.messages = undefined;
    this.consuming = undefined;
  }
}
