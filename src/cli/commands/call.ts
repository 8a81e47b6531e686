/** `switchboard call <service> <endpoint> [json]`: one balanced call, the reply printed as JSON. */
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { isToken } from "../../protocol/index.js";
import { CliError } from "../CliError.js";
import { closeQuietly } from "../connect.js";
import { jsonText, printJsonLine } from "../output.js";
import { createCliCaller } from "../caller.js";
import { durationArg, open, selectorOptions, withCommonOptions } from "./common.js";

function parsePayload(text: string | undefined): unknown {
  if (text === undefined) return null;
  const source = text === "-" ? readFileSync(0, "utf8") : text;
  try {
    return source.trim() === "" ? null : JSON.parse(source);
  } catch (err) {
    throw new CliError(`payload is not valid JSON: ${(err as Error).message} (quote it for the shell: '{"name":"x"}')`, 2);
  }
}

interface CallCommandOptions {
  timeout: number;
  key?: string;
  strategy?: string;
  idempotent?: boolean;
  version?: string;
  tag?: string;
  zone?: string;
  header?: string[];
}

/** `--header 'Name: value'` options as a header object (names as given; at most 32, bounded sizes). */
function parseHeaders(list: string[] | undefined): Record<string, string> | undefined {
  if (list === undefined || list.length === 0) return undefined;
  if (list.length > 32) throw new CliError("at most 32 --header options", 2);
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const h of list) {
    const i = h.indexOf(":");
    const name = i > 0 ? h.slice(0, i).trim() : "";
    if (!/^[A-Za-z0-9-]{1,64}$/.test(name)) throw new CliError(`--header ${JSON.stringify(h)}: use 'Name: value' with a name of letters, digits and '-'`, 2);
    const value = h.slice(i + 1).trim();
    if (value.length > 1024 || /[\u0000-\u001f\u007f]/.test(value)) throw new CliError(`--header ${name}: the value must be at most 1024 printable characters`, 2);
    headers[name] = value;
  }
  return headers;
}

/** Builds the `call` command. */
export function callCommand(): Command {
  const cmd = new Command("call")
    .description("call an endpoint of a service (balanced over its live instances, with retries) and print the reply")
    .argument("<service>", "service name")
    .argument("<endpoint>", "endpoint name")
    .argument("[json]", "request payload as JSON; '-' reads it from stdin (default null)")
    .addOption(new Option("--timeout <duration>", "overall time budget of the call").default(5000, "5s").argParser(durationArg()))
    .option("--key <key>", "routing key (for the consistent-hash strategy)")
    .option("--strategy <name>", "balancing strategy: p2c-ewma, round-robin, random, consistent-hash, least-response-time")
    .option("--idempotent", "the call may be retried after a timeout on another instance")
    .option("--version <range>", "only instances whose version satisfies this semver range (e.g. ^2.1.0)")
    .option("--tag <tags>", "only instances carrying every one of these tags, comma-separated")
    .option("--zone <zone>", "prefer instances of this zone (others only when it has none available)")
    .option("--header <name:value...>", "request header, e.g. 'Sb-Canary: 1' (repeatable)");
  withCommonOptions(cmd, [
    `switchboard call echo echo '{"hello":"world"}'`,
    "echo '[1,2]' | switchboard call math sum - --json",
    "switchboard call orders get '{\"id\":1}' --version '^2.1.0' --tag gpu --zone eu-1",
    "switchboard call orders get '{\"id\":1}' --header 'Sb-Canary: 1'",
  ]);
  cmd.action(async (service: string, endpoint: string, json: string | undefined, opts: CallCommandOptions) => {
    if (!isToken(service)) throw new CliError(`invalid service name ${JSON.stringify(service)}`, 2);
    if (!isToken(endpoint)) throw new CliError(`invalid endpoint name ${JSON.stringify(endpoint)}`, 2);
    const payload = parsePayload(json);
    const selection = selectorOptions(opts);
    const headers = parseHeaders(opts.header);
    const { settings, subjects, nc } = await open(cmd, "call");
    const caller = await createCliCaller(nc, subjects.prefix, opts);
    try {
      let reply: unknown;
      try {
        reply = await caller.call(service, endpoint, payload, {
          deadlineMs: opts.timeout,
          ...(opts.key !== undefined ? { key: opts.key } : {}),
          ...selection,
          ...(headers !== undefined ? { headers } : {}),
        });
      } catch (err) {
        const code = typeof (err as { code?: unknown }).code === "string" ? `${(err as { code: string }).code}: ` : "";
        throw new CliError(`call ${service}.${endpoint} failed: ${code}${(err as Error).message}`);
      }
      if (settings.json) printJsonLine(reply ?? null);
      else process.stdout.write(jsonText(reply ?? null, 2) + "\n");
    } finally {
      await caller.close?.();
      await closeQuietly(nc);
    }
  });
  return cmd;
}
