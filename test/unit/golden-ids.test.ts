/**
 * Golden values of everything Switchboard persists or sends on the wire as an identity: registration ids
 * (KV keys, `Sb-Instance-Id`), alert fingerprints (acks, KV, mail), `Nats-Msg-Id`s (the alert stream's
 * deduplication), transition keys (sent records), mail Message-IDs, KV bucket, stream and key names. They
 * outlive a process: a coordinator, collector or notifier of the next version reads what this one wrote,
 * and two versions side by side must compute the same ids. These literals were computed by the code on
 * main (2026-11-29) and are not recomputed here: a change to any of them fails this test, and must be a
 * deliberate, documented migration (update the literal in the same commit and say why).
 */
import { describe, expect, it } from "vitest";
import { instanceKey, leaseBucketName, registrationId, registryBucketName } from "../../src/coordinator/index.js";
import { alertFingerprint } from "../../src/monitor/fingerprint.js";
import { alertMsgId, alertStateBucket, alertStreamName } from "../../src/monitor/index.js";
import { transitionKey, type HeldTransition, type Notification } from "../../src/notify/AlertGrouper.js";
import { composeMail } from "../../src/notify/MailFormat.js";
import { NotifierState } from "../../src/notify/NotifierState.js";
import type { AlertEvent } from "../../src/protocol/index.js";

const labels = { alertname: "InstanceDown", service: "echo", severity: "critical", instance: "i-1" };
const event = (fingerprint: string, status: "firing" | "resolved", startsAt: number): AlertEvent => ({
  v: 1,
  fingerprint,
  status,
  rule: "InstanceDown",
  service: "echo",
  severity: "critical",
  metric: "instance_down",
  labels,
  annotations: {},
  startsAt,
});
const held = (a: AlertEvent): HeldTransition<unknown> => ({ key: transitionKey(a), alert: a, handles: [] }) as unknown as HeldTransition<unknown>;
type MailInput = Pick<Notification<unknown>, "kind" | "transitions" | "firing" | "route" | "groupKey">;
const mail = (n: Omit<MailInput, "route" | "groupKey">) =>
  composeMail({ ...n, route: { name: "default", to: ["ops@example.com"] }, groupKey: "default\u0000{}" } as unknown as MailInput, { domain: "example.com", now: 1_700_000_005_000 }).messageId;

describe("golden ids (persisted and on the wire)", () => {
  it("registration ids: UUID v5 of service and address", () => {
    expect(registrationId("orders", "http://10.0.0.1:8080/orders")).toBe("0462975b-cf8c-57d2-adf6-0fd966721c80");
    expect(registrationId("example-service", "http://example.com/example-service")).toBe("9823c96a-5e12-5da5-9737-687c1a74977f");
  });

  it("alert fingerprints, Nats-Msg-Ids and transition keys", () => {
    expect(alertFingerprint(labels)).toBe("a2fa98b870727b2a");
    expect(alertFingerprint({ alertname: "HighErrorRate", service: "payments", severity: "warning" })).toBe("9f95ab5fa6427dde");
    expect(alertMsgId(event("a2fa98b870727b2a", "firing", 1_700_000_000_000))).toBe("a2fa98b870727b2a.firing.1700000000000");
    expect(transitionKey(event("9f95ab5fa6427dde", "resolved", 1_700_000_001_000))).toBe("9f95ab5fa6427dde.resolved.1700000001000");
    expect(NotifierState.sentKey("default", "a2fa98b870727b2a.firing.1700000000000")).toBe("default.a2fa98b870727b2a.firing.1700000000000");
  });

  it("mail Message-IDs: one transition, a batch, a repeat", () => {
    const firing = event("a2fa98b870727b2a", "firing", 1_700_000_000_000);
    const resolved = event("9f95ab5fa6427dde", "resolved", 1_700_000_001_000);
    expect(mail({ kind: "alerts", transitions: [held(firing)], firing: [] })).toBe("<sb.a2fa98b870727b2a.firing.1700000000000.default@example.com>");
    expect(mail({ kind: "alerts", transitions: [held(firing), held(resolved)], firing: [] })).toBe("<sb.batch.1e904d9d8368eb5c3afb8dcab16080f7.default@example.com>");
    expect(mail({ kind: "repeat", transitions: [], firing: [firing] })).toBe("<sb.repeat.e952e9ec20f000fce84246c7.1700000005000.default@example.com>");
  });

  it("bucket, stream and key names", () => {
    expect([registryBucketName("prod.sb"), leaseBucketName("prod.sb"), alertStreamName("prod.sb"), alertStateBucket("prod.sb")]).toEqual([
      "prod_sb_registry",
      "prod_sb_coordinator_lease",
      "prod_sb_alerts",
      "prod_sb_alert_state",
    ]);
    expect(instanceKey("orders", "i1")).toBe("i.orders.i1");
  });
});
