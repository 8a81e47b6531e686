/** `switchboard call <service> <endpoint> [json]`: one balanced call, the reply printed as JSON. */
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { isToken } from "../../protocol/index.js";
import { CliError } from "../CliError.js";
import { closeQuietly } from "../connect.js";
import { printJsonLine } from "../output.js";
import { createCliCaller } from "../caller.js";
import { durationArg, open, withCommonOptions } from "./common.js";

function parsePayload(text: string | undefined): unknown {
  if (text === undefined) return null;
  const source = text === "-" ? readFileSync(0, "utf8") : text;
  try {
    return source.trim() === "" ? null : JSON.parse(source);
  } catch (err) {
    throw new CliError(`payload is not valid JSON: ${(err as Error).message} (quote it for the shell: '{"name":"x"}')`, 2);
  }
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
    .option("--idempotent", "the call may be retried after a timeout on another instance");
  withCommonOptions(cmd, [`switchboard call echo echo '{"hello":"world"}'`, "echo '[1,2]' | switchboard call math sum - --json"]);
  cmd.action(async (service: string, endpoint: string, json: string | undefined, opts: { timeout: number; key?: string; strategy?: string; idempotent?: boolean }) => {
    if (!isToken(service)) throw new CliError(`invalid service name ${JSON.stringify(service)}`, 2);
    if (!isToken(endpoint)) throw new CliError(`invalid endpoint name ${JSON.stringify(endpoint)}`, 2);
    const payload = parsePayload(json);
    const { settings, subjects, nc } = await open(cmd, "call");
    const caller = await createCliCaller(nc, subjects.prefix, opts);
    try {
      let reply: unknown;
      try {
        reply = await caller.call(service, endpoint, payload, { deadlineMs: opts.timeout, ...(opts.key !== undefined ? { key: opts.key } : {}) });
      } catch (err) {
        const code = typeof (err as { code?: unknown }).code === "string" ? `${(err as { code: string }).code}: ` : "";
        throw new CliError(`call ${service}.${endpoint} failed: ${code}${(err as Error).message}`);
      }
      if (settings.json) printJsonLine(reply ?? null);
      else process.stdout.write(JSON.stringify(reply ?? null, null, 2) + "\n");
    } finally {
      await caller.close?.();
      await closeQuietly(nc);
    }
  });
  return cmd;
}
