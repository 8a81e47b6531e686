/**
 * Loading alert rules: a JSON or YAML file, validated by `schemas/alert-rules.json` and then by the
 * checks a schema cannot express, compiled to {@link CompiledRule}s. A bad file is refused as a
 * whole with the file, the line, the JSON path and what is wrong, so a collector never starts with
 * half its rules.
 */
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { durationProblem, parseDuration, validatorFor, type AlertRule, type AlertRulesFile } from "../protocol/index.js";
import { BUILTIN_METRICS, ENDPOINT_METRICS, IDENTIFYING_LABELS, type CompiledRule } from "./types.js";

/** Default window for rates and quantiles. */
export const DEFAULT_RULE_WINDOW_MS = 60_000;

/** A refused rules file: where and what. */
export class AlertRulesError extends Error {
  override readonly name = "AlertRulesError";
  constructor(
    /** The file (or source name) refused. */
    readonly file: string,
    /** JSON path of the offending value, e.g. `$.rules[2].threshold`; `$` for the whole document. */
    readonly path: string,
    /** What is wrong. */
    readonly problem: string,
    /** 1-based line of the offending value, when known. */
    readonly line?: number,
  ) {
    super(`${file}${line ? `:${line}` : ""}: ${path}: ${problem}`);
  }
}

type Segment = string | number;

function jsonPath(segments: readonly Segment[]): string {
  let p = "$";
  for (const s of segments) p += typeof s === "number" ? `[${s}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`;
  return p;
}

/** ajv's instancePath (`/rules/2/for`) as segments. */
/** The value at a JSON path (for error messages). */
function valueAt(data: unknown, segments: readonly Segment[]): unknown {
  let v: unknown = data;
  for (const seg of segments) v = v !== null && typeof v === "object" && Object.hasOwn(v, seg) ? (v as Record<string | number, unknown>)[seg] : undefined;
  return v;
}

function segmentsOf(instancePath: string): Segment[] {
  if (!instancePath) return [];
  return instancePath
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((s) => (/^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s));
}

/**
 * Parses and compiles rules from text. `source` names the file in error messages; its extension
 * picks the syntax (`.json` → JSON, otherwise YAML, which also accepts JSON).
 */
export function parseAlertRules(text: string, source = "<rules>"): CompiledRule[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const lineOf = (segments: readonly Segment[]): number | undefined => {
    try {
      const node = segments.length ? doc.getIn(segments, true) : doc.contents;
      const range = (node as { range?: [number, number, number] } | null)?.range;
      return range ? lineCounter.linePos(range[0]).line : undefined;
    } catch {
      return undefined;
    }
  };

  let data: unknown;
  if (extname(source).toLowerCase() === ".json") {
    try {
      data = JSON.parse(text);
    } catch (e) {
      // JSON.parse does not say where; the YAML parser in strict JSON mode does.
      const strict = parseDocument(text, { lineCounter: new LineCounter(), schema: "json", prettyErrors: true });
      const where = strict.errors[0];
      const detail = where ? where.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "") : (e as Error).message.split("\n")[0];
      throw new AlertRulesError(source, "$", `not valid JSON (${detail})`, where?.linePos?.[0]?.line);
    }
  } else {
    const err = doc.errors[0];
    if (err) {
      const detail = err.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
      throw new AlertRulesError(source, "$", `not valid YAML: ${detail}`, err.linePos?.[0]?.line);
    }
    data = doc.toJS();
  }
  if (data === null || data === undefined) throw new AlertRulesError(source, "$", "the file is empty: expected { rules: [...] }");

  const validate = validatorFor("alert-rules");
  if (!validate(data)) {
    const e = validate.errors![0]!;
    let segments = segmentsOf(e.instancePath);
    let problem = e.message ?? "is invalid";
    if (e.keyword === "additionalProperties") {
      const prop = (e.params as { additionalProperty: string }).additionalProperty;
      segments = [...segments, prop];
      problem = `unknown property ${JSON.stringify(prop)}`;
    } else if (e.keyword === "enum") {
      problem = `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(", ")}`;
    } else if (e.schemaPath.includes("/definitions/duration/")) {
      problem = durationProblem(valueAt(data, segments));
    } else if (e.keyword === "required") {
      problem = `missing required property ${JSON.stringify((e.params as { missingProperty: string }).missingProperty)}`;
    } else if (e.keyword === "propertyNames") {
      problem = `has an invalid name ${JSON.stringify((e.params as { propertyName: string }).propertyName)} (use letters, digits and _)`;
    }
    throw new AlertRulesError(source, jsonPath(segments), problem, lineOf(segments));
  }
  return compileRules(data as AlertRulesFile, source, lineOf);
}

/** Reads and compiles a rules file; throws {@link AlertRulesError} naming the file on any problem. */
export function loadAlertRules(file: string): CompiledRule[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new AlertRulesError(file, "$", `cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseAlertRules(text, file);
}

/**
 * Compiles already schema-valid rules (e.g. given in code) with the checks a schema cannot express.
 * Rules given in code are validated against the schema too.
 */
export function compileRules(
  file: AlertRulesFile,
  source = "<rules>",
  lineOf: (segments: readonly Segment[]) => number | undefined = () => undefined,
): CompiledRule[] {
  const validate = validatorFor("alert-rules");
  if (!validate(file)) {
    const e = validate.errors![0]!;
    throw new AlertRulesError(source, jsonPath(segmentsOf(e.instancePath)), e.message ?? "is invalid");
  }
  const seen = new Map<string, number>();
  return file.rules.map((rule, index) => {
    const fail = (prop: string | undefined, problem: string): never => {
      const segments: Segment[] = prop ? ["rules", index, prop] : ["rules", index];
      throw new AlertRulesError(source, jsonPath(segments), problem, lineOf(segments));
    };
    const compiled = compileRule(rule, fail);
    const identity = JSON.stringify([compiled.name, compiled.severity, compiled.service, compiled.endpoint ?? null, Object.entries(compiled.labels).sort()]);
    const previous = seen.get(identity);
    if (previous !== undefined) {
      fail(undefined, `duplicates rules[${previous}] (same name, severity, service, endpoint and labels would give the same alerts)`);
    }
    seen.set(identity, index);
    return compiled;
  });
}

function compileRule(rule: AlertRule, fail: (prop: string | undefined, problem: string) => never): CompiledRule {
  const builtin = BUILTIN_METRICS.has(rule.metric);
  const down = rule.metric === "instance_down";
  if (!down && rule.op === undefined) fail("op", `metric ${rule.metric} needs "op" (one of >, >=, <, <=, ==, !=)`);
  if (!down && rule.threshold === undefined) fail("threshold", `metric ${rule.metric} needs a numeric "threshold"`);
  if (down && rule.by === "service") fail("by", "instance_down alerts are per instance; remove \"by\" or use \"instance\"");
  if (rule.endpoint !== undefined && !ENDPOINT_METRICS.has(rule.metric)) {
    fail("endpoint", `"endpoint" applies to ${[...ENDPOINT_METRICS].join(", ")} only`);
  }
  if (rule.match !== undefined && builtin) fail("match", `"match" selects user-metric series; ${rule.metric} is built in`);
  if (rule.aggregate !== undefined && builtin) fail("aggregate", `"aggregate" applies to user gauges only`);
  if (rule.quantile !== undefined && builtin) fail("quantile", `"quantile" applies to user histograms; use latency_p50/p95/p99`);
  for (const name of Object.keys(rule.labels ?? {})) {
    if (IDENTIFYING_LABELS.has(name)) fail("labels", `label ${JSON.stringify(name)} is set by Switchboard and cannot be overridden`);
  }
  let forMs = 0;
  let windowMs = DEFAULT_RULE_WINDOW_MS;
  try {
    forMs = parseDuration(rule.for ?? 0);
  } catch (e) {
    fail("for", (e as Error).message);
  }
  try {
    windowMs = rule.window === undefined ? DEFAULT_RULE_WINDOW_MS : parseDuration(rule.window);
  } catch (e) {
    fail("window", (e as Error).message);
  }
  if (windowMs < 100) fail("window", "must be at least 100ms");
  const compiled: CompiledRule = {
    name: rule.name,
    service: rule.service,
    metric: rule.metric,
    op: rule.op ?? ">",
    threshold: rule.threshold ?? 0,
    forMs,
    windowMs,
    severity: rule.severity,
    by: down ? "instance" : (rule.by ?? "service"),
    aggregate: rule.aggregate ?? "sum",
    quantile: rule.quantile ?? 0.95,
    labels: { ...(rule.labels ?? {}) },
    annotations: { ...(rule.annotations ?? {}) },
  };
  if (rule.endpoint !== undefined) compiled.endpoint = rule.endpoint;
  if (rule.match !== undefined) compiled.match = { ...rule.match };
  return compiled;
}
