/**
 * What a notifier must remember across restarts, in two KV buckets:
 * - `<prefix>_notify_sent`: one record per mailed transition and route (`<route>.<fingerprint>.<status>.<startsAt>`),
 *   written after the SMTP server accepted the mail and before the stream message is acknowledged;
 *   a transition found here is not mailed again. Entries expire after a retention (bucket TTL).
 * - `<prefix>_notify_state`: acknowledgements (`ack.<fingerprint>`) and firing alerts already mailed
 *   (`active.<route>.<fingerprint>`, with the last mail time) so repeats continue after a restart.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { decodeJson, encodeJson, type AlertEvent } from "../protocol/index.js";
import { prefixName } from "../monitor/index.js";
import type { Acknowledgement } from "./AlertGrouper.js";

/** A firing alert a route already mailed. */
export interface ActiveRecord {
  route: string;
  alert: AlertEvent;
  lastSentAt: number;
  /** Recorded but never mailed (silenced or inhibited when due): mailed as firing once no longer muted. */
  muted?: boolean;
}

/** See the module comment. */
export class NotifierState {
  private constructor(
    private readonly sent: KV,
    /** Acknowledgements and active records (followed by every notifier for the firing list). */
    readonly state: KV,
  ) {}

  /** Opens (creating if needed, with `replicas`) the buckets of `prefix`. */
  static async open(js: JetStreamClient, prefix: string, sentTtlMs: number, replicas = 1): Promise<NotifierState> {
    const kvm = new Kvm(js);
    const base = prefixName(prefix);
    const sent = await kvm.create(`${base}_notify_sent`, { history: 1, ttl: sentTtlMs, replicas, description: "Switchboard: alert transitions already mailed" });
    const state = await kvm.create(`${base}_notify_state`, { history: 1, replicas, description: "Switchboard: acknowledgements and mailed firing alerts" });
    return new NotifierState(sent, state);
  }

  static sentKey(route: string, transition: string): string {
    return `${route}.${transition}`;
  }

  /** The record of a mailed transition, if any. */
  async sentRecord(route: string, transition: string): Promise<{ at: number; messageId: string } | undefined> {
    const e = await this.sent.get(NotifierState.sentKey(route, transition));
    if (!e || e.operation !== "PUT") return undefined;
    try {
      return decodeJson(e.value) as { at: number; messageId: string };
    } catch {
      return { at: 0, messageId: "" };
    }
  }

  async recordSent(route: string, transition: string, at: number, messageId: string): Promise<void> {
    await this.sent.put(NotifierState.sentKey(route, transition), encodeJson({ at, messageId }));
  }

  async putAck(fingerprint: string, ack: Acknowledgement): Promise<void> {
    await this.state.put(`ack.${fingerprint}`, encodeJson(ack));
  }

  async deleteAck(fingerprint: string): Promise<void> {
    await this.state.delete(`ack.${fingerprint}`);
  }

  async putActive(rec: ActiveRecord): Promise<void> {
    await this.state.put(`active.${rec.route}.${rec.alert.fingerprint}`, encodeJson(rec));
  }

  async deleteActive(route: string, fingerprint: string): Promise<void> {
    await this.state.delete(`active.${route}.${fingerprint}`);
  }

  /** Every acknowledgement and active record. */
  async load(): Promise<{ acks: Map<string, Acknowledgement>; active: ActiveRecord[] }> {
    const acks = new Map<string, Acknowledgement>();
    const active: ActiveRecord[] = [];
    const keys: string[] = [];
    for await (const k of await this.state.keys()) keys.push(k);
    for (const k of keys) {
      const e = await this.state.get(k);
      if (!e || e.operation !== "PUT") continue;
      try {
        const v = decodeJson(e.value);
        if (k.startsWith("ack.")) acks.set(k.slice(4), v as Acknowledgement);
        else if (k.startsWith("active.")) active.push(v as ActiveRecord);
      } catch {
        // A damaged record only costs a repeat or an ack; skip it.
      }
    }
    return { acks, active };
  }
}
