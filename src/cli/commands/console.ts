/** `switchboard console`: the operator console in the browser (services, instances, alerts, events, live). */
import { Command, Option } from "commander";
import { CliError } from "../CliError.js";
import { runService } from "../runService.js";
import { open, portOption, withCommonOptions } from "./common.js";

interface ConsoleFlags {
  port: number;
  host: string;
  authToken: string[];
  ackBy?: string;
  groupBy?: string;
  healthPort?: number;
}

/** Builds the `console` command. */
export function consoleCommand(): Command {
  const cmd = new Command("console")
    .description("serve the operator console: services, instances, alerts (with ack) and registry events, updated live in the browser")
    .addOption(portOption("--port <port>", "HTTP port (default 8080; 0 picks a free one)").default(8080))
    .option("--host <host>", "interface to listen on (use 0.0.0.0 in a container)", "127.0.0.1")
    .addOption(
      new Option("--auth-token <token>", "require this bearer token on the API (repeatable; env SB_CONSOLE_TOKENS, comma-separated)")
        .argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v])
        .default([]),
    )
    .option("--ack-by <who>", "who acknowledges when the page does not say (default console)")
    .option("--group-by <labels>", "labels the notifier groups alerts by, comma-separated (default alertname,service,severity)")
    .addOption(portOption("--health-port <port>", "serve GET /healthz on this port (for container health checks)"));
  withCommonOptions(cmd, ["switchboard console --port 8080", "SB_CONSOLE_TOKENS=s3cret switchboard console --host 0.0.0.0"]);
  cmd.action(async (flags: ConsoleFlags) => {
    const envTokens = (process.env.SB_CONSOLE_TOKENS ?? "").split(",").map((t) => t.trim()).filter(Boolean);
    const authTokens = [...flags.authToken, ...envTokens];
    const groupBy = flags.groupBy?.split(",").map((l) => l.trim()).filter(Boolean);
    // Loaded on use: other commands do not pay for fastify and the console's modules at start-up.
    const { createConsole } = await import("../../console/index.js");
    const { settings, subjects, nc } = await open(cmd, "console");
    const web = createConsole({
      nats: nc,
      prefix: subjects.prefix,
      port: flags.port,
      host: flags.host,
      ...(authTokens.length ? { authTokens } : {}),
      ...(flags.ackBy ? { ackBy: flags.ackBy } : {}),
      ...(groupBy?.length ? { groupBy } : {}),
    });
    await runService({
      name: "console",
      settings,
      nc,
      ...(flags.healthPort !== undefined ? { healthPort: flags.healthPort } : {}),
      start: async () => {
        try {
          await web.start();
        } catch (err) {
          throw new CliError(`console could not start: ${(err as Error).message.split("\n")[0]}`);
        }
      },
      stop: () => web.stop(),
      describe: () => `console on ${web.url} (prefix ${subjects.prefix}, NATS ${nc.getServer()}${authTokens.length ? ", bearer token required" : ""})`,
      details: () => ({ url: web.url, port: web.port }),
    });
  });
  return cmd;
}
