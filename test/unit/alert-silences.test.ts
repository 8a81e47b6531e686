/** Silences, inhibition and label matchers (pure, fake clock), and how the grouper mutes and resumes mail. */
import { describe, expect, it } from "vitest";
import { AlertGrouper, transitionKey } from "../../src/notify/AlertGrouper.js";
import { AlertRouter } from "../../src/notify/AlertRouter.js";
import { Inhibitor } from "../../src/notify/Inhibitor.js";
import { MatcherError, compileMatcher, parseMatcher } from "../../src/notify/LabelMatchers.js";
import { Silences } from "../../src/notify/Silences.js";
import { Suppressor } from "../../src/notify/Suppressor.js";
import type { AlertEvent, Silence } from "../../src/protocol/index.js";

function alert(fp: string, labels: Record<string, string>, over: Partial<AlertEvent> = {}): AlertEvent {
  return { v: 1, fingerprint: fp, status: "firing", rule: labels.alertname ?? "A", service: labels.service ?? "api", severity: "critical", metric: "error_rate", value: 1, labels, annotations: {}, startsAt: 1000, ...over };
}

function silence(id: string, matchers: string[], startsAt: number, endsAt: number): Silence {
  return { v: 1, id: `00000000-0000-4000-8000-${id.padStart(12, "0")}`, matchers: matchers.map(parseMatcher), startsAt, endsAt, createdBy: "t", comment: "", updatedAt: startsAt };
}

describe("label matchers", () => {
  it("parse the four operators, quoted values, and match like Alertmanager (anchored RE2, missing label = \"\")", () => {
    expect(parseMatcher("service=api")).toEqual({ name: "service", op: "=", value: "api" });
    expect(parseMatcher('team!="core edge"')).toEqual({ name: "team", op: "!=", value: "core edge" });
    expect(parseMatcher("alertname=~High.*")).toEqual({ name: "alertname", op: "=~", value: "High.*" });
    expect(parseMatcher("env!~prod|staging")).toEqual({ name: "env", op: "!~", value: "prod|staging" });
    const re = compileMatcher(parseMatcher("alertname=~High"));
    expect(re.matches({ alertname: "High" })).toBe(true);
    expect(re.matches({ alertname: "HighErrorRate" })).toBe(false); // anchored
    expect(compileMatcher(parseMatcher('team=""')).matches({})).toBe(true);
    expect(compileMatcher(parseMatcher("team!~.+")).matches({ service: "x" })).toBe(true);
    expect(compileMatcher(parseMatcher("env!~prod|staging")).matches({ env: "dev" })).toBe(true);
    expect(compileMatcher(parseMatcher("env!~prod|staging")).matches({ env: "prod" })).toBe(false);
  });

  it("refuse what is not a matcher or not a regular expression, with the reason", () => {
    expect(() => parseMatcher("service")).toThrow(MatcherError);
    expect(() => parseMatcher("1abc=x")).toThrow(/is not a matcher/);
    expect(() => parseMatcher("a=~(unclosed")).toThrow(/not a valid regular expression/);
    // RE2: no backreferences or lookaheads, so no catastrophic backtracking either.
    expect(() => parseMatcher("a=~(x)\\1")).toThrow(/not a valid regular expression/);
  });

  it("never read inherited properties as labels", () => {
    for (const name of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
      expect(compileMatcher({ name, op: "=", value: "" }).matches({})).toBe(true);
      expect(compileMatcher({ name, op: "=~", value: ".+" }).matches({})).toBe(false);
    }
  });

  it("run a pathological regular expression in linear time", () => {
    const m = compileMatcher(parseMatcher("x=~(a+)+b"));
    const started = performance.now();
    expect(m.matches({ x: "a".repeat(1000) })).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000); // a backtracking engine takes longer than the universe
  });
});

describe("silences", () => {
  it("mute matching alerts only between start and end, and say when that changes", () => {
    const s = new Silences();
    s.put(silence("1", ["service=api", "alertname=~High.*"], 1000, 5000));
    s.put(silence("2", ["service=web"], 3000, 4000));
    const api = { alertname: "HighErrors", service: "api" };
    expect(s.silencing(api, 999)).toEqual([]);
    expect(s.silencing(api, 1000)).toEqual([s.all()[0]!.id]);
    expect(s.silencing(api, 4999)).toHaveLength(1);
    expect(s.silencing(api, 5000)).toEqual([]);
    expect(s.silencing({ alertname: "Low", service: "api" }, 2000)).toEqual([]);
    expect(s.nextChangeAt(0)).toBe(1000);
    expect(s.nextChangeAt(1000)).toBe(3000);
    expect(s.nextChangeAt(4000)).toBe(5000);
    expect(s.nextChangeAt(5000)).toBeUndefined();
  });
});

describe("inhibition", () => {
  const inhibitor = new Inhibitor([{ source: ["alertname=InstanceDown"], target: ["alertname=~HighErrorRate|HighLatency"], equal: ["service", "instance"] }]);
  const down = alert("d".repeat(16), { alertname: "InstanceDown", service: "api", instance: "i1" });

  it("mutes targets with equal labels while a source fires, never the source itself", () => {
    const target = alert("e".repeat(16), { alertname: "HighErrorRate", service: "api", instance: "i1" });
    expect(inhibitor.inhibitedBy(target, [down])).toEqual([down.fingerprint]);
    expect(inhibitor.inhibitedBy(target, [])).toEqual([]);
    expect(inhibitor.inhibitedBy(alert("f".repeat(16), { alertname: "HighErrorRate", service: "api", instance: "i2" }), [down])).toEqual([]);
    expect(inhibitor.inhibitedBy(alert("a".repeat(16), { alertname: "Other", service: "api", instance: "i1" }), [down])).toEqual([]);
    expect(inhibitor.inhibitedBy(down, [down])).toEqual([]);
    // A label missing in both counts as equal (Alertmanager).
    const noInstance = alert("b".repeat(16), { alertname: "HighLatency", service: "api" });
    expect(inhibitor.inhibitedBy(noInstance, [alert("c".repeat(16), { alertname: "InstanceDown", service: "api" })])).toEqual(["c".repeat(16)]);
  });

  it("refuses a rule whose matcher does not parse, naming it", () => {
    expect(() => new Inhibitor([{ source: ["alertname=~("], target: ["a=b"] }])).toThrow(/inhibitRules\[0\]\.source/);
  });
});

describe("grouping with silences (fake clock)", () => {
  const route = new AlertRouter([], "ops@example.com").match({ severity: "critical", service: "api" })[0]!;
  const rig = () => {
    const silences = new Silences();
    const firing: AlertEvent[] = [];
    const suppressor = new Suppressor(silences, new Inhibitor([{ source: ["alertname=InstanceDown"], target: ["alertname=HighErrors"], equal: ["service"] }]), () => firing);
    const g = new AlertGrouper<string>({
      timings: { groupWaitMs: 100, groupIntervalMs: 1000, repeatIntervalMs: 60_000 },
      groupBy: ["alertname", "service"],
      retryInitialMs: 100,
      retryMaxMs: 100,
      suppressed: (a, now) => suppressor.isSuppressed(a, now),
    });
    return { silences, firing, g };
  };
  const a = alert("a".repeat(16), { alertname: "HighErrors", service: "api" });

  it("a silenced firing alert is recorded, not mailed; when the silence ends it is mailed as firing; then resolved is mailed", () => {
    const { silences, g } = rig();
    silences.put(silence("1", ["service=api"], 0, 5000));
    expect(g.add(route, a, "m1", 0)).toBe(true);
    expect(g.due(100)).toEqual([]);
    const muted = g.takeSuppressed();
    expect(muted.map((m) => [m.transition.key, m.transition.refs])).toEqual([[transitionKey(a), ["m1"]]]);
    expect(g.isMuted(a.fingerprint)).toBe(true);
    expect(g.nextDueAt(200)).toBeUndefined(); // nothing until the silence ends (the notifier wakes up at its end)
    expect(g.due(4999)).toEqual([]);
    const [n] = g.due(5000);
    expect(n!.kind).toBe("alerts");
    expect(n!.transitions.map((t) => [t.key, t.refs])).toEqual([[transitionKey(a), []]]);
    g.sent(n!, 5000);
    g.add(route, { ...a, status: "resolved", endsAt: 5500 }, "m2", 5500);
    expect(g.due(5999)).toEqual([]); // groupInterval after the last mail
    expect(g.due(6000).map((x) => x.transitions.map((t) => [t.alert.status, t.refs]))).toEqual([[["resolved", ["m2"]]]]);
  });

  it("the resolution of an alert never mailed (silenced throughout) is not mailed either", () => {
    const { silences, g } = rig();
    silences.put(silence("1", ["alertname=HighErrors"], 0, 100_000));
    g.add(route, a, "m1", 0);
    expect(g.due(100)).toEqual([]);
    g.takeSuppressed();
    expect(g.add(route, { ...a, status: "resolved", endsAt: 2000 }, "m2", 2000)).toBe(false);
    expect(g.due(200_000)).toEqual([]);
    expect(g.groupCount).toBe(0);
  });

  it("repeats stop while silenced and resume after", () => {
    const { silences, g } = rig();
    g.add(route, a, "m1", 0);
    g.sent(g.due(100)[0]!, 100);
    silences.put(silence("1", ["service=api"], 50_000, 70_000));
    expect(g.due(60_100)).toEqual([]); // repeat due at 60 100, silenced
    expect(g.due(70_000).map((n) => n.kind)).toEqual(["repeat"]);
  });

  it("an inhibited alert is muted while its source fires and mailed once the source resolves", () => {
    const { firing, g } = rig();
    firing.push(alert("d".repeat(16), { alertname: "InstanceDown", service: "api" }));
    g.add(route, a, "m1", 0);
    expect(g.due(100)).toEqual([]);
    expect(g.takeSuppressed()).toHaveLength(1);
    firing.length = 0;
    expect(g.due(200).map((n) => n.transitions.map((t) => t.key))).toEqual([[transitionKey(a)]]);
  });
});
