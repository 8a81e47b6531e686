/** `switchboard gateway`: the seed-compatible HTTP API (the six routes and their additions) over NATS. */
import { readFileSync } from "node:fs";
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
    .description(
      "serve the seed's HTTP API: POST /register (DELETE /register), GET /query, POST /call, POST /metrics, POST /alerts, POST /failures, GET /services, GET /health, GET /openapi.json",
    )
    .addOption(portOption("--port <port>", "HTTP port (env SB_GATEWAY_PORT; default 3000)"))
    .option("--host <host>", "interface to bind (env SB_GATEWAY_HOST; default 127.0.0.1, use 0.0.0.0 in a container)")
    .addOption(new Option("--max-body <bytes>", "largest request body accepted; larger ones get 413 (default 262144)").argParser(intArg("--max-body", 64, 64 * 1024 * 1024)))
    .addOption(new Option("--timeout <duration>", "time budget of registry requests and calls (default 5s)").argParser(durationArg()))
    .addOption(
      new Option("--register-ttl <duration>", "lifetime of a POST /register that names no ttl and no healthCheck (default: durable until deregistered; at most 24h)").argParser(
        durationArg(),
      ),
    )
    .option("--auth-token-file <file>", "require Authorization: Bearer <token> on every route but /health; one token per line (env SB_GATEWAY_TOKENS, comma-separated)")
    .option("--https-cert <file>", "serve HTTPS with this certificate (PEM; with --https-key)")
    .option("--https-key <file>", "private key of --https-cert (PEM)")
    .option("--no-bridge", "do not make HTTP-registered services callable over NATS from this process");
  withCommonOptions(cmd, [
    "switchboard gateway --port 3000",
    `curl -s -XPOST localhost:3000/register -H 'Content-Type: application/json' -d '{"serviceName":"example-service","serviceAddress":"http://example.com/example-service"}'`,
    "curl -s 'localhost:3000/query?serviceName=example-service'",
  ]);
  cmd.action(async (opts: {
    port?: number;
    host?: string;
    maxBody?: number;
    timeout?: number;
    registerTtl?: number;
    authTokenFile?: string;
    httpsCert?: string;
    httpsKey?: string;
    bridge: boolean;
  }) => {
    if (opts.registerTtl !== undefined && (opts.registerTtl < 1000 || opts.registerTtl > 86_400_000)) {
      throw new CliError("--register-ttl must be between 1s and 24h", 2);
    }
    const envPort = process.env.SB_GATEWAY_PORT ? Number(process.env.SB_GATEWAY_PORT) : undefined;
    if (envPort !== undefined && !(Number.isInteger(envPort) && envPort >= 0 && envPort < 65536)) {
      throw new CliError(`SB_GATEWAY_PORT ${JSON.stringify(process.env.SB_GATEWAY_PORT)} is not a port number`, 2);
    }
    const read = (file: string, what: string) => {
      try {
        return readFileSync(file, "utf8");
      } catch (err) {
        throw new CliError(`cannot read ${what} ${file}: ${(err as Error).message}`, 2);
      }
    };
    const tokens = (opts.authTokenFile ? read(opts.authTokenFile, "--auth-token-file").split("\n") : (process.env.SB_GATEWAY_TOKENS ?? "").split(","))
      .map((s) => s.trim())
      .filter(Boolean);
    if (tokens.some((tk) => tk.length < 16)) throw new CliError("gateway tokens must be at least 16 characters", 2);
    if ((opts.httpsCert === undefined) !== (opts.httpsKey === undefined)) throw new CliError("give both --https-cert and --https-key", 2);
    const tls = opts.httpsCert && opts.httpsKey ? { cert: read(opts.httpsCert, "--https-cert"), key: read(opts.httpsKey, "--https-key") } : undefined;
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
      ...(tokens.length > 0 ? { authTokens: tokens } : {}),
      ...(tls ? { https: tls } : {}),
      bridge: opts.bridge,
    });
    const shutdown = shutdownTrigger();
    try {
      await gateway.start();
      if (settings.json) printJsonLine({ event: "listening", url: gateway.url, port: gateway.port, prefix: subjects.prefix });
      else
        process.stderr.write(
          `gateway listening on ${gateway.url} (prefix ${subjects.prefix}, NATS ${nc.getServer()}${tokens.length > 0 ? ", bearer auth" : ""}); Ctrl-C to stop\n`,
        );
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
