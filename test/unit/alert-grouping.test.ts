import { describe, expect, it } from "vitest";
import { AlertGrouper, transitionKey, type Notification } from "../../src/notify/AlertGrouper.js";
import { backoffDelay } from "../../src/notify/backoff.js";
import { AlertRouter } from "../../src/notify/AlertRouter.js";
import type { AlertEvent } from "../../src/protocol/index.js";

function alert(over: Partial<AlertEvent> & { fingerprint: string }): AlertEvent {
  return {
    v: 1,
    status: "firing",
    rule: "HighErrors",
    service: "api",
    severity: "critical",
    metric: "error_rate",
    value: 0.9,
    labels: { alertname: over.rule ?? "HighErrors", service: over.service ?? "api", severity: over.severity ?? "critical" },
    annotations: {},
    startsAt: 1000,
    ...over,
  };
}

const router = new AlertRouter([], "ops@example.com");
const route = router.match({ severity: "critical", service: "api" })[0]!;
const timings = { groupWaitMs: 1000, groupIntervalMs: 5000, repeatIntervalMs: 60_000 };
const grouper = () => new AlertGrouper<string>({ timings, groupBy: ["alertname", "service"], retryInitialMs: 1000, retryMaxMs: 8000, random: () => 0.5 });
const keys = (ns: Array<Notification<string>>) => ns.map((n) => [n.kind, ...n.transitions.map((t) => t.key), ...n.firing.map((a) => a.fingerprint)]);

describe("alert grouping (pure, fake clock)", () => {
  it("waits groupWait for a new group and mails its alerts together", () => {
    const g = grouper();
    g.add(route, alert({ fingerprint: "a".repeat(16), labels: { alertname: "HighErrors", service: "api", instance: "1" } }), "m1", 0);
    g.add(route, alert({ fingerprint: "b".repeat(16), labels: { alertname: "HighErrors", service: "api", instance: "2" } }), "m2", 500);
    expect(g.due(999)).toEqual([]);
    expect(g.nextDueAt(0)).toBe(1000);
    const [n] = g.due(1000);
    expect(n!.transitions.map((t) => t.refs)).toEqual([["m1"], ["m2"]]);
    expect(g.due(1000)).toEqual([]); // in flight
    g.sent(n!, 1000);
    expect(g.heldCount).toBe(0);
  });

  it("separates groups by groupBy labels and by route", () => {
    const g = grouper();
    g.add(route, alert({ fingerprint: "a".repeat(16) }), "m1", 0);
    g.add(route, alert({ fingerprint: "b".repeat(16), service: "web" }), "m2", 0);
    expect(g.due(1000)).toHaveLength(2);
  });

  it("mails later changes after groupInterval, repeats after repeatInterval, and stops repeats on ack until a new episode", () => {
    const g = grouper();
    const fp = "c".repeat(16);
    g.add(route, alert({ fingerprint: fp }), "m1", 0);
    const first = g.due(1000);
    g.sent(first[0]!, 1000);
    // A second alert in the same group: not before lastSent + groupInterval.
    const fp2 = "d".repeat(16);
    g.add(route, alert({ fingerprint: fp2, startsAt: 2000 }), "m2", 2000);
    expect(g.due(5999)).toEqual([]);
    const second = g.due(6000);
    expect(keys(second)).toEqual([["alerts", transitionKey({ fingerprint: fp2, status: "firing", startsAt: 2000 })]]);
    g.sent(second[0]!, 6000);
    // Both still firing: one reminder after repeatInterval.
    expect(g.nextDueAt(6000)).toBe(66_000);
    const repeat = g.due(66_000);
    expect(keys(repeat)).toEqual([["repeat", fp, fp2]]);
    g.sent(repeat[0]!, 66_000);
    // Ack the first: the next reminder only names the second; ack both: no reminders at all.
    g.acknowledge(fp, { by: "ann", at: 70_000 });
    expect(keys(g.due(126_000))).toEqual([["repeat", fp2]]);
    g.sent({ ...repeat[0]!, id: 3 } as Notification<string>, 126_000);
  });

  it("ack: silences the acknowledged episode only; resolution and a new episode are mailed", () => {
    const g = grouper();
    const fp = "e".repeat(16);
    g.add(route, alert({ fingerprint: fp, startsAt: 1000 }), "m1", 0);
    const n1 = g.due(1000);
    g.sent(n1[0]!, 1000);
    g.acknowledge(fp, { by: "ann", at: 2000 });
    expect(g.isAcknowledged({ fingerprint: fp, startsAt: 1000 }, 3000)).toBe(true);
    expect(g.due(61_000)).toEqual([]);
    expect(g.nextDueAt(61_000)).toBeUndefined();
    // Resolution is a transition: mailed despite the ack, and it ends the ack.
    g.add(route, alert({ fingerprint: fp, status: "resolved", startsAt: 1000, endsAt: 70_000 }), "m2", 70_000);
    const n2 = g.due(70_000);
    expect(keys(n2)).toEqual([["alerts", `${fp}.resolved.1000`]]);
    g.sent(n2[0]!, 70_000);
    expect(g.acknowledgement(fp)).toBeUndefined();
    expect(g.groupCount).toBe(0);
    // A new episode after the ack: mailed, and repeated.
    g.add(route, alert({ fingerprint: fp, startsAt: 80_000 }), "m3", 80_000);
    const n3 = g.due(81_000);
    expect(keys(n3)).toEqual([["alerts", `${fp}.firing.80000`]]);
    g.sent(n3[0]!, 81_000);
    expect(keys(g.due(141_000))).toEqual([["repeat", fp]]);
  });

  it("an ack with an end resumes repeats when it ends", () => {
    const g = grouper();
    const fp = "f".repeat(16);
    g.add(route, alert({ fingerprint: fp }), "m1", 0);
    g.sent(g.due(1000)[0]!, 1000);
    g.acknowledge(fp, { by: "ann", at: 2000, until: 100_000 });
    expect(g.due(61_000)).toEqual([]);
    expect(g.nextDueAt(61_000)).toBe(100_000);
    expect(keys(g.due(100_000))).toEqual([["repeat", fp]]);
  });

  it("retries a failed mail with growing backoff, keeping what arrived meanwhile", () => {
    const g = grouper();
    g.add(route, alert({ fingerprint: "1".repeat(16) }), "m1", 0);
    const n = g.due(1000)[0]!;
    expect(g.failed(n, 1000)).toBe(750); // 1000 ms with equal jitter at random 0.5
    g.add(route, alert({ fingerprint: "2".repeat(16) }), "m2", 1200);
    expect(g.due(1749)).toEqual([]);
    const again = g.due(1750)[0]!;
    expect(again.transitions).toHaveLength(2);
    expect(g.failed(again, 1750)).toBe(1500);
    const third = g.due(3250)[0]!;
    g.sent(third, 3250);
    expect(g.heldCount).toBe(0);
  });

  it("a redelivered transition adds its handle instead of a second copy; drop releases handles", () => {
    const g = grouper();
    const a = alert({ fingerprint: "9".repeat(16) });
    g.add(route, a, "m1", 0);
    g.add(route, a, "m1-redelivered", 10);
    expect(g.heldCount).toBe(1);
    expect(g.heldRefs()).toEqual(["m1", "m1-redelivered"]);
    const [n] = g.due(1000);
    expect(n!.transitions[0]!.refs).toEqual(["m1", "m1-redelivered"]);
    const g2 = grouper();
    g2.add(route, a, "x", 0);
    expect(g2.drop(`default\u0000${JSON.stringify({ alertname: "HighErrors", service: "api" })}`, transitionKey(a), 5)).toEqual(["x"]);
    expect(g2.heldCount).toBe(0);
    // Still firing, so still repeated, counting from the drop.
    expect(g2.nextDueAt(5)).toBe(60_005);
  });

  it("backoff grows exponentially to the cap with jitter in [d/2, d]", () => {
    expect(backoffDelay(1, 1000, 30_000, () => 0)).toBe(500);
    expect(backoffDelay(1, 1000, 30_000, () => 1)).toBe(1000);
    expect(backoffDelay(4, 1000, 30_000, () => 1)).toBe(8000);
    expect(backoffDelay(20, 1000, 30_000, () => 1)).toBe(30_000);
  });
});

describe("routing", () => {
  it("takes the first matching route, continues when asked, falls back to the default recipients", () => {
    const r = new AlertRouter(
      [
        { name: "pager", severity: "critical", to: "oncall@example.com", continue: true },
        { name: "payments", service: ["payments", "billing"], to: ["pay@example.com", "lead@example.com"] },
        { name: "crit", severity: "critical,warning", to: "team@example.com" },
      ],
      "ops@example.com",
    );
    expect(r.match({ severity: "critical", service: "payments" }).map((x) => x.name)).toEqual(["pager", "payments"]);
    expect(r.match({ severity: "critical", service: "web" }).map((x) => x.name)).toEqual(["pager", "crit"]);
    expect(r.match({ severity: "info", service: "web" }).map((x) => x.name)).toEqual(["default"]);
    expect(r.match({ severity: "info", service: "billing" })[0]!.to).toEqual(["pay@example.com", "lead@example.com"]);
    expect(new AlertRouter([{ to: "a@example.com", severity: "critical" }], undefined).match({ severity: "info", service: "x" })).toEqual([]);
  });

  it("refuses recipients that are not plain addresses and configurations without recipients", () => {
    expect(() => new AlertRouter([], "ops@example.com\r\nBcc: evil@example.com")).toThrow(/not an e-mail address/);
    expect(() => new AlertRouter([{ to: "Ops <ops@example.com>" }], undefined)).toThrow(/not an e-mail address/);
    expect(() => new AlertRouter([], undefined)).toThrow(/no recipients/);
    expect(() => new AlertRouter([{ name: "a b", to: "x@example.com" }], undefined)).toThrow(/name/);
  });
});
