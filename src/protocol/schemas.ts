/**
 * Loads the JSON Schemas in `schemas/` and compiles one ajv validator per message kind, once.
 * The schema files are the contract; the TypeScript types in `types.generated.ts` come from them.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import type * as T from "./types.generated.js";

/** Maps each message kind (a schema file name without `.json`) to its TypeScript type. */
export interface MessageTypes {
  announce: T.Announce;
  heartbeat: T.Heartbeat;
  leave: T.Leave;
  sync: T.Sync;
  register: T.Register;
  "register-reply": T.RegisterReply;
  "registry-query": T.RegistryQuery;
  "registry-snapshot": T.RegistrySnapshot;
  "registry-event": T.RegistryEvent;
  "coordinator-lease": T.CoordinatorLease;
  "persisted-instance": T.PersistedInstance;
  error: T.ErrorReply;
  metrics: T.MetricsSnapshot;
  alert: T.AlertEvent;
  "alert-ack": T.AlertAck;
  "alert-ack-reply": T.AlertAckReply;
  "alert-rules": T.AlertRulesFile;
  "monitor-query": T.MonitorQuery;
  "monitor-snapshot": T.MonitorSnapshot;
  "routing-policy": T.RoutingPolicy;
  "alert-list-query": T.AlertListQuery;
  "alert-list": T.AlertList;
  "label-matcher": T.LabelMatcher;
  silence: T.Silence;
  "silence-request": T.SilenceRequest;
  "silence-reply": T.SilenceReply;
  "inhibit-rule": T.InhibitRule;
}
/** A message kind with a schema in `schemas/`. */
export type MessageKind = keyof MessageTypes;

/** Finds the package's `schemas/` folder from src/ (tests, tsx) and from dist/src/ (built). */
function findSchemaDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, "schemas");
    if (existsSync(join(candidate, "common.json"))) return candidate;
    dir = dirname(dir);
  }
  throw new Error("cannot find the schemas/ folder of the switchboard package");
}

/** Absolute path of the `schemas/` folder. */
export const SCHEMA_DIR = findSchemaDir();

const ajv = new Ajv({ allErrors: false, strict: true, useDefaults: false });
const documents: ReadonlyArray<Readonly<Record<string, unknown>>> = readdirSync(SCHEMA_DIR)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((file) => JSON.parse(readFileSync(join(SCHEMA_DIR, file), "utf8")) as Record<string, unknown>);
for (const doc of documents) ajv.addSchema(doc);

/** Every schema document of `schemas/` (each with its `$id`), e.g. for an HTTP framework's shared schemas or an OpenAPI document. */
export function schemaDocuments(): ReadonlyArray<Readonly<Record<string, unknown>>> {
  return documents;
}

const compiled = new Map<string, ValidateFunction>();

/** The compiled validator for a schema file (`announce`, `alert-rules`, …), compiled on first use. */
export function validatorFor(kind: string): ValidateFunction {
  let fn = compiled.get(kind);
  if (!fn) {
    fn = ajv.getSchema(`${kind}.json`);
    if (!fn) throw new Error(`no schema named ${kind}.json in ${SCHEMA_DIR}`);
    compiled.set(kind, fn);
  }
  return fn;
}

/** Compiles a schema that is not a file of `schemas/` (it may `$ref` them), e.g. an HTTP route's path parameters. */
export function compileSchema(schema: object): ValidateFunction {
  return ajv.compile(schema);
}

/** A short, readable account of why a value failed its schema: `/instance/id must match pattern …`. */
export function describeErrors(errors: ErrorObject[] | null | undefined): string {
  if (!errors || errors.length === 0) return "invalid";
  return errors
    .slice(0, 3)
    .map((e) => {
      const where = e.instancePath || "/";
      if (e.keyword === "additionalProperties") {
        return `${where} has unknown property ${JSON.stringify((e.params as { additionalProperty: string }).additionalProperty)}`;
      }
      return `${where} ${e.message ?? "is invalid"}`;
    })
    .join("; ");
}
