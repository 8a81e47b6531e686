/** `switchboard gateway`: the seed-compatible HTTP API (register, query, services, health, call) over NATS. */
import { Command, Option } from "commander";
import { createGateway } from "../../gateway/index.js";
import { CliError } from "../CliError.js";
import { closeQuietly } from "../connect.js";
import { shutdownTrigger } from "../lifecycle.js";
import { err as errColors, printJsonLine } from "../output.js";
import { durationArg, intArg, open, portOption, withCommonOptions } from "./common.js";

/** Builds the `gateway` command. */
export function gatewayCommand(): Command {
  const cmd = new Command("gateway")
    .description("serve the seed's HTTP API: POST /register, GET /query, GET /services, GET /health, POST /call/<service>/<endpoint>")
    .addOption(portOption("--port <port>", "HTTP port (env SB_GATEWAY_PORT; default 3000)"))
    .option("--host <host>", "interface to bind (env SB_GATEWAY_HOST; default 127.0.0.1, use 0.0.0.0 in a container)")
    .addOption(new Option("--max-body <bytes>", "largest request body accepted; larger ones get 413 (default 262144)").argParser(intArg("--max-body", 64, 64 * 1024 * 1024)))
    .addOption(new Option("--timeout <duration>", "time budget of registry requests and calls (default 5s)").argParser(durationArg()))
    .addOption(
      new Option("--register-ttl <duration>", "lifetime of a POST /register without a refresh (default: the coordinator's, 30s; at most 24h)").argParser(
        durationArg(),
      ),
    );
  withCommonOptions(cmd, [
    "switchboard gateway --port 3000",
    `curl -s -XPOST localhost:3000/register -d '{"serviceName":"example-service","serviceAddress":"http://example.com/example-service"}'`,
    "curl -s 'localhost:3000/query?serviceName=example-service'",
  ]);
  cmd.action(async (opts: { port?: number; host?: string; maxBody?: number; timeout?: number; registerTtl?: number }) => {
    if (opts.registerTtl !== undefined && (opts.registerTtl < 1000 || opts.registerTtl > 86_400_000)) {
      throw new CliError("--register-ttl must be between 1s and 24h", 2);
    }
    const envPort = process.env.SB_GATEWAY_PORT ? Number(process.env.SB_GATEWAY_PORT) : undefined;
    if (envPort !== undefined && !(Number.isInteger(envPort) && envPort >= 0 && envPort < 65536)) {
      throw new CliError(`SB_GATEWAY_PORT ${JSON.stringify(process.env.SB_GATEWAY_PORT)} is not a port number`, 2);
    }
    const { settings, subjects, nc } = await open(cmd, "gateway");
    const g = settings.config.gateway ?? {};
    const gateway = createGateway({
      nats: nc,
      prefix: subjects.prefix,
      port: opts.port ?? g.port ?? envPort ?? 3000,
      host: opts.host ?? g.host ?? process.env.SB_GATEWAY_HOST ?? "127.0.0.1",
      ...((opts.maxBody ?? g.maxBodyBytes) !== undefined ? { maxBodyBytes: opts.maxBody ?? g.maxBodyBytes } : {}),
      ...((opts.timeout ?? g.timeoutMs) !== undefined ? { timeoutMs: opts.timeout ?? g.timeoutMs } : {}),
      ...(opts.registerTtl !== undefined ? { registerTtlMs: opts.registerTtl } : {}),
    });
    const shutdown = shutdownTrigger();
    try {
      await gateway.start();
      if (settings.json) printJsonLine({ event: "listening", url: gateway.url, port: gateway.port, prefix: subjects.prefix });
      else process.stderr.write(`gateway listening on ${gateway.url} (prefix ${subjects.prefix}, NATS ${nc.getServer()}); Ctrl-C to stop\n`);
      nc.closed().then(() => shutdown.abort("connection closed"));
      const why = await shutdown.promise;
      if (!settings.json) process.stderr.write(errColors.dim(`stopping gateway (${why})`) + "\n");
    } finally {
      await gateway.stop();
      await closeQuietly(nc);
    }
  });
  return cmd;
}
