/** ConsoleState, pure: summaries and trouble order, alert grouping and ordering, acks and mails, bounded memory, batching. */
import { describe, expect, it } from "vitest";
import { ConsoleState, type InstanceChange, type InstanceSource } from "../../src/console/ConsoleState.js";
import type { InstanceView, MonitorSnapshot, TrafficStats } from "../../src/protocol/index.js";
import { alertEvent } from "../helpers/alerting.js";

class FakeRegistry implements InstanceSource {
  readonly views = new Map<string, Map<string, InstanceView>>();
  serviceNames() {
    return [...this.views.keys()];
  }
  all(service: string) {
    return [...(this.views.get(service)?.values() ?? [])];
  }
  set(service: string, id: string, state: InstanceView["state"], version = "1.0.0"): InstanceChange {
    let m = this.views.get(service);
    if (!m) this.views.set(service, (m = new Map()));
    const previous = m.get(id)?.state ?? null;
    const view: InstanceView = { instance: { id, service, version, endpoints: ["e"], heartbeatMs: 100, startedAt: 1 }, state, since: 1000, lastSeen: 1000, seq: 1, inFlight: 0, status: "ok" };
    if (state === "removed") m.delete(id);
    else m.set(id, view);
    return { service, id, type: state, previous, view, revision: 1, source: "event" };
  }
}

const stats = (rate: number | null, err: number | null): TrafficStats => ({ requests: 10, errors: 0, requestRate: rate, errorRate: err, latencyP50: 1, latencyP95: 2, latencyP99: 3 });
const snap = (services: Array<[string, number | null, number | null]>): MonitorSnapshot => ({
  v: 1,
  collector: "c",
  at: 1,
  windowMs: 60_000,
  received: 1,
  invalid: {},
  services: services.map(([service, r, e]) => ({ service, instanceCount: 1, total: stats(r, e), endpoints: [{ endpoint: "e", stats: stats(r, e) }] })),
  alerts: [],
});

describe("ConsoleState", () => {
  it("sorts services by trouble: firing alerts, then down, suspect, errors, then name", () => {
    const reg = new FakeRegistry();
    const st = new ConsoleState(reg, (s, id) => `sb.inst.${s}.${id}.*`);
    for (const [svc, state] of [["a", "up"], ["b", "suspect"], ["c", "down"], ["d", "up"], ["e", "up"]] as const) st.applyInstanceChange(reg.set(svc, `${svc}1`, state), 0);
    st.applyMetrics(snap([["d", 5, 0.5], ["a", 5, 0]]));
    st.applyAlert(alertEvent({ rule: "R", service: "e" }));
    expect(st.services().map((s) => s.service)).toEqual(["e", "c", "b", "d", "a"]);
    const c = st.summary("c")!;
    expect(c.counts).toEqual({ up: 0, suspect: 0, down: 1 });
    expect(st.summary("d")!.spark).toEqual([5]);
  });

  it("groups alerts by the notifier's labels, firing first, and attaches acks and mails that came before the alert", () => {
    const st = new ConsoleState(new FakeRegistry(), () => "");
    const a = alertEvent({ rule: "R", service: "s", startsAt: 100 });
    st.applyAck(a.fingerprint, { by: "me", at: 150 });
    st.applyMail(a.fingerprint, { route: "default", status: "firing", at: 120 });
    st.applyMail(a.fingerprint, { route: "default", status: "firing", at: 120 });
    st.applyAlert(a);
    const b = alertEvent({ rule: "Q", service: "s", startsAt: 50 });
    st.applyAlert(b);
    st.applyAlert({ ...b, status: "resolved", endsAt: 90 });
    st.applyAlert({ ...b, status: "firing" }); // older transition arriving late: ignored
    const list = st.alertList();
    expect(list.map((x) => [x.rule, x.status])).toEqual([["R", "firing"], ["Q", "resolved"]]);
    expect(list[0]!.group).toBe('alertname="R", service="s", severity="critical"');
    expect(list[0]!.ack).toEqual({ by: "me", at: 150 });
    expect(list[0]!.mails).toEqual([{ route: "default", status: "firing", at: 120 }]);
  });

  it("keeps memory bounded: resolved alerts, orphan acks, event logs", () => {
    const reg = new FakeRegistry();
    const st = new ConsoleState(reg, () => "", { maxResolved: 3, maxAlerts: 5, maxEvents: 10, maxServiceEvents: 4 });
    for (let i = 0; i < 20; i++) {
      const e = alertEvent({ rule: `R${i}`, service: "s", startsAt: i });
      st.applyAlert(e);
      st.applyAlert({ ...e, status: "resolved", endsAt: 100 + i });
      st.applyAck(`${i.toString(16).padStart(16, "f")}`, { by: "x", at: 1 });
    }
    expect(st.alertList().map((a) => a.rule)).toEqual(["R19", "R18", "R17"]);
    for (let i = 0; i < 30; i++) st.applyInstanceChange(reg.set("s", `i${i}`, "up"), 0);
    expect(st.eventLog().length).toBe(10);
    expect(st.detail("s")!.events.length).toBe(4);
  });

  it("hands out each change once, batched: services, removed services, events, alerts", () => {
    const reg = new FakeRegistry();
    const st = new ConsoleState(reg, () => "");
    st.applyInstanceChange(reg.set("s", "i1", "up"), 0);
    st.applyInstanceChange(reg.set("s", "i2", "up"), 0);
    let c = st.takeChanges();
    expect(c.services.map((s) => s.service)).toEqual(["s"]);
    expect(c.events.map((e) => e.id)).toEqual(["i1", "i2"]);
    expect(st.takeChanges().services).toEqual([]);
    st.applyInstanceChange(reg.set("s", "i1", "removed"), 0);
    st.applyInstanceChange(reg.set("s", "i2", "removed"), 0);
    c = st.takeChanges();
    expect(c.removedServices).toEqual(["s"]);
    expect(c.services).toEqual([]);
  });

  it("takes heartbeats into the detail: last heartbeat and in-flight", () => {
    const reg = new FakeRegistry();
    const st = new ConsoleState(reg, (s, id) => `p.inst.${s}.${id}.*`);
    st.applyInstanceChange(reg.set("s", "i1", "up"), 0);
    st.applyHeartbeat("s", "i1", 5000, 7);
    const d = st.detail("s")!;
    expect(d.instances[0]!.view.lastSeen).toBe(5000);
    expect(d.instances[0]!.view.inFlight).toBe(7);
    expect(d.instances[0]!.subject).toBe("p.inst.s.i1.*");
  });
});
