import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AlertRulesError, loadAlertRules, parseAlertRules } from "../../src/monitor/AlertRules.js";
import { parseDuration } from "../../src/protocol/index.js";

const dir = mkdtempSync(join(tmpdir(), "sb-rules-"));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function refusal(fn: () => unknown): AlertRulesError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AlertRulesError);
    return e as AlertRulesError;
  }
  throw new Error("expected the rules to be refused");
}

describe("alert rules files", () => {
  it("loads YAML with defaults filled in and durations in milliseconds", () => {
    const rules = loadAlertRules(
      file(
        "ok.yaml",
        `rules:
  - name: HighErrorRate
    service: payments
    metric: error_rate
    op: ">"
    threshold: 0.05
    for: 30s
    window: 2m
    severity: critical
    labels: { team: billing }
    annotations:
      summary: "{{ $labels.service }} fails {{ $value }}"
  - name: InstanceDown
    service: "*"
    metric: instance_down
    severity: warning
`,
      ),
    );
    expect(rules).toHaveLength(2);
    expect(rules[0]).toMatchObject({ name: "HighErrorRate", forMs: 30_000, windowMs: 120_000, by: "service", op: ">", threshold: 0.05, labels: { team: "billing" } });
    expect(rules[1]).toMatchObject({ metric: "instance_down", by: "instance", op: ">", threshold: 0, forMs: 0, windowMs: 60_000 });
  });

  it("loads the same rules from JSON", () => {
    const rules = loadAlertRules(
      file("ok.json", JSON.stringify({ rules: [{ name: "Slow", service: "api", metric: "latency_p99", op: ">=", threshold: 250, for: "1500ms", severity: "warning", endpoint: "get" }] })),
    );
    expect(rules[0]).toMatchObject({ forMs: 1500, endpoint: "get", metric: "latency_p99" });
  });

  it("refuses a wrong type with the file, the line, the JSON path and the problem", () => {
    const p = file("bad-type.yaml", `rules:\n  - name: A\n    service: api\n    metric: error_rate\n    op: ">"\n    threshold: lots\n    severity: critical\n`);
    const e = refusal(() => loadAlertRules(p));
    expect(e.file).toBe(p);
    expect(e.path).toBe("$.rules[0].threshold");
    expect(e.line).toBe(6);
    expect(e.message).toContain(`${p}:6: $.rules[0].threshold: must be number`);
  });

  it("names an unknown property (a typo) by its path", () => {
    const e = refusal(() => parseAlertRules(`rules:\n  - name: A\n    service: api\n    metric: error_rate\n    op: ">"\n    treshold: 1\n    severity: critical\n`, "r.yaml"));
    expect(e.path).toBe("$.rules[0].treshold");
    expect(e.problem).toContain('unknown property "treshold"');
    expect(e.line).toBe(6);
  });

  it("explains bad enums, bad durations and missing properties", () => {
    expect(refusal(() => parseAlertRules(`rules: [{name: A, service: api, metric: error_rate, op: "=>", threshold: 1, severity: x}]`, "r.yaml")).problem).toMatch(/one of ">"/);
    const d = refusal(() => parseAlertRules(`rules: [{name: A, service: api, metric: error_rate, op: ">", threshold: 1, severity: x, for: "10 minutes"}]`, "r.yaml"));
    expect(d.path).toBe("$.rules[0].for");
    expect(d.problem).toMatch(/duration/);
    const m = refusal(() => parseAlertRules(`rules: [{name: A, metric: error_rate, op: ">", threshold: 1, severity: x}]`, "r.yaml"));
    expect(m.path).toBe("$.rules[0]");
    expect(m.problem).toBe('missing required property "service"');
  });

  it("refuses what the schema cannot express: missing op/threshold, misplaced options, reserved labels, duplicates", () => {
    expect(refusal(() => parseAlertRules(`rules: [{name: A, service: api, metric: error_rate, severity: x}]`)).path).toBe("$.rules[0].op");
    expect(refusal(() => parseAlertRules(`rules: [{name: A, service: api, metric: error_rate, op: ">", severity: x}]`)).path).toBe("$.rules[0].threshold");
    expect(refusal(() => parseAlertRules(`rules: [{name: A, service: api, metric: queue_depth, op: ">", threshold: 1, severity: x, endpoint: get}]`)).path).toBe(
      "$.rules[0].endpoint",
    );
    expect(refusal(() => parseAlertRules(`rules: [{name: A, service: api, metric: instance_down, by: service, severity: x}]`)).path).toBe("$.rules[0].by");
    expect(refusal(() => parseAlertRules(`rules: [{name: A, service: api, metric: error_rate, op: ">", threshold: 1, severity: x, labels: {service: other}}]`)).problem).toMatch(
      /cannot be overridden/,
    );
    const dup = refusal(() =>
      parseAlertRules(`rules:\n  - {name: A, service: api, metric: error_rate, op: ">", threshold: 1, severity: x}\n  - {name: A, service: api, metric: error_rate, op: ">", threshold: 2, severity: x}\n`, "d.yaml"),
    );
    expect(dup.path).toBe("$.rules[1]");
    expect(dup.line).toBe(3);
    expect(dup.problem).toMatch(/duplicates rules\[0\]/);
  });

  it("refuses unreadable, empty and syntactically broken files", () => {
    expect(refusal(() => loadAlertRules(join(dir, "missing.yaml"))).problem).toMatch(/cannot read the file \(ENOENT\)/);
    expect(refusal(() => parseAlertRules("", "e.yaml")).problem).toMatch(/empty/);
    const y = refusal(() => parseAlertRules("rules:\n  - name: [\n", "b.yaml"));
    expect(y.problem).toMatch(/not valid YAML/);
    const j = refusal(() => parseAlertRules('{"rules": [\n  {"name": x}\n]}', "b.json"));
    expect(j.problem).toMatch(/not valid JSON/);
    expect(j.line).toBe(2);
    expect(refusal(() => parseAlertRules("rules: []\nrules: []\n", "k.yaml")).problem).toMatch(/not valid YAML/);
  });

  it("parses durations with one grammar (Prometheus's): units required, bare numbers and fractions refused", () => {
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("2m")).toBe(120_000);
    expect(parseDuration("1h")).toBe(3_600_000);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("2m30s500ms")).toBe(150_500);
    expect(parseDuration("1w")).toBe(604_800_000);
    expect(parseDuration("0")).toBe(0);
    expect(parseDuration(0)).toBe(0);
    expect(() => parseDuration(250)).toThrow('250 is ambiguous: a duration needs a unit, e.g. "250ms" or "250s"');
    expect(() => parseDuration("30")).toThrow('"30" is ambiguous: a duration needs a unit, e.g. "30ms" or "30s"');
    expect(() => parseDuration("1.5s")).toThrow('"1.5s": fractions are not allowed; use a smaller unit (e.g. "1500ms" for 1.5s)');
    expect(() => parseDuration("30m1h")).toThrow(/units must go from the largest down/);
    expect(() => parseDuration("5 minutes")).toThrow(/is not a duration/);
    expect(() => parseDuration(-1)).toThrow(/ambiguous/);
    expect(() => parseDuration("-1s")).toThrow(/is not a duration/);
  });

  it("a bare number in a rules file is refused with the reason", () => {
    const e = refusal(() => parseAlertRules("rules:\n  - { name: A, service: api, metric: error_rate, op: \">\", threshold: 1, for: 30, severity: x }\n", "d.yaml"));
    expect(e.message).toContain('$.rules[0].for: 30 is ambiguous: a duration needs a unit, e.g. "30ms" or "30s"');
  });
});

describe("shipped rule files", () => {
  it("examples/alert-rules.yaml and deploy/alert-rules.yaml load", () => {
    const example = loadAlertRules(new URL("../../examples/alert-rules.yaml", import.meta.url).pathname);
    expect(example.map((r) => r.name)).toEqual(["InstanceDown", "HighErrorRate", "CheckoutSlow", "InstanceErrors", "NoTraffic", "QueueBacklog", "PaymentFailures", "SlowJobs"]);
    expect(example.find((r) => r.name === "QueueBacklog")).toMatchObject({ match: { queue: "emails" }, aggregate: "sum", forMs: 300_000 });
    expect(loadAlertRules(new URL("../../deploy/alert-rules.yaml", import.meta.url).pathname).length).toBeGreaterThan(0);
  });
});
