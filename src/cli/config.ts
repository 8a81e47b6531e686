/** Loading of the optional `--config` file (JSON or YAML), validated by `schemas/config.json`. */
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { parse as parseYaml } from "yaml";
import { describeErrors, durationProblem, validatorFor, type CliConfig } from "../protocol/index.js";
import { CliError } from "./CliError.js";

/** Parses and validates a configuration file; throws a CliError naming the file and the problem. */
export function loadConfigFile(path: string): CliConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new CliError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  return parseConfig(text, path);
}

/** Parses and validates configuration text; `path` decides JSON (`.json`) or YAML (anything else) and names errors. */
export function parseConfig(text: string, path: string): CliConfig {
  let value: unknown;
  try {
    value = extname(path).toLowerCase() === ".json" ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new CliError(`config file ${path} is not valid ${extname(path) === ".json" ? "JSON" : "YAML"}: ${(err as Error).message.split("\n")[0]}`);
  }
  if (value === null || value === undefined) return {};
  const validate = validatorFor("config");
  if (!validate(value)) {
    const duration = validate.errors?.find((e) => e.schemaPath.includes("/definitions/duration/"));
    if (duration) throw new CliError(`config file ${path} is invalid: ${duration.instancePath}: ${durationProblem(valueAt(value, duration.instancePath))}`);
    throw new CliError(`config file ${path} is invalid: ${describeErrors(validate.errors)}`);
  }
  return value as CliConfig;
}

/** The value at a JSON pointer (for error messages). */
function valueAt(root: unknown, pointer: string): unknown {
  let v: unknown = root;
  for (const raw of pointer.split("/").slice(1)) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    v = v !== null && typeof v === "object" && Object.hasOwn(v, key) ? (v as Record<string, unknown>)[key] : undefined;
  }
  return v;
}
