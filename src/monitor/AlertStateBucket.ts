/**
 * The KV bucket `<prefix>_alert_state`: the alerts firing now, one entry per fingerprint, written by
 * collectors (put on firing, removed on resolve) so that a restarted collector resumes them and
 * every notifier knows what fires everywhere (inhibition, the firing list). One opener, so that
 * collectors and notifiers create it with the same settings.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { prefixName } from "./AlertStream.js";

/** KV bucket where collectors remember firing alerts: `<prefix>_alert_state`. */
export function alertStateBucket(prefix: string): string {
  return `${prefixName(prefix)}_alert_state`;
}

/** Opens (creating if needed) the alert state bucket of `prefix`. */
export function openAlertStateBucket(js: JetStreamClient, prefix: string, replicas = 1): Promise<KV> {
  // Replicated like the stream: on a cluster, losing one node must not take the firing state with it.
  return new Kvm(js).create(alertStateBucket(prefix), { history: 1, replicas, description: "Switchboard: firing alerts, for collector restarts" });
}
