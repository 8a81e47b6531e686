/** `switchboard collector`: aggregates metrics, serves Prometheus /metrics and evaluates alert rules. */
import { Command, Option } from "commander";
import { createCollector, type Collector } from "../../monitor/index.js";
import { CliError } from "../CliError.js";
import { runService } from "../runService.js";
import { durationArg, intArg, open, portOption, withCommonOptions, healthHostOption } from "./common.js";

interface CollectorFlags {
  rules?: string;
  metricsPort?: number;
  metricsHost?: string;
  id?: string;
  replicas?: number;
  evaluationInterval?: number;
  healthPort?: number;
  healthHost: string;
}

/** Builds the `collector` command. */
export function collectorCommand(): Command {
  const cmd = new Command("collector")
    .description("collect metrics from every instance, serve them on /metrics (Prometheus text) and evaluate alert rules")
    .option("--rules <file>", "alert rules file, JSON or YAML (schema: schemas/alert-rules.json; env SB_RULES)")
    .addOption(portOption("--metrics-port <port>", "serve GET /metrics on this port (env SB_METRICS_PORT; default: no HTTP)"))
    .option("--metrics-host <host>", "interface for /metrics (default 0.0.0.0)")
    .option("--id <id>", "collector id shown in alert events (default collector-<random>)")
    .addOption(new Option("--replicas <n>", "replicas of the alert stream in a JetStream cluster (default 1)").argParser(intArg("--replicas", 1, 5)))
    .addOption(new Option("--evaluation-interval <duration>", "how often rules are evaluated (default 500ms)").argParser(durationArg()))
    .addOption(portOption("--health-port <port>", "serve GET /healthz on this port (for container health checks)"))
    .addOption(healthHostOption());
  withCommonOptions(cmd, [
    "switchboard collector --rules deploy/alert-rules.yaml --metrics-port 9464",
    "curl -s localhost:9464/metrics | grep ^sb_",
  ]);
  cmd.action(async (flags: CollectorFlags) => {
    const envPort = process.env.SB_METRICS_PORT ? Number(process.env.SB_METRICS_PORT) : undefined;
    if (envPort !== undefined && !(Number.isInteger(envPort) && envPort >= 0 && envPort < 65536)) {
      throw new CliError(`SB_METRICS_PORT ${JSON.stringify(process.env.SB_METRICS_PORT)} is not a port number`, 2);
    }
    // Settings first (a bad config file fails before anything connects), then the rules file.
    const { settings, subjects, nc } = await open(cmd, "collector");
    const c = settings.config.collector ?? {};
    const rules = flags.rules ?? c.rules ?? process.env.SB_RULES;
    const httpPort = flags.metricsPort ?? c.metricsPort ?? envPort;
    const httpHost = flags.metricsHost ?? c.metricsHost;
    let collector: Collector;
    try {
      collector = createCollector({
        nats: nc,
        prefix: subjects.prefix,
        ...(rules !== undefined ? { rules } : {}),
        ...(httpPort !== undefined ? { httpPort } : {}),
        ...(httpHost !== undefined ? { httpHost } : {}),
        ...(flags.id !== undefined ? { id: flags.id } : {}),
        ...(flags.replicas !== undefined ? { stream: { replicas: flags.replicas } } : {}),
        ...(flags.evaluationInterval !== undefined ? { evaluationIntervalMs: flags.evaluationInterval } : {}),
      });
    } catch (err) {
      await nc.close();
      throw new CliError((err as Error).message.split("\n")[0]!);
    }
    await runService({
      name: "collector",
      settings,
      nc,
      ...(flags.healthPort !== undefined ? { healthPort: flags.healthPort, healthHost: flags.healthHost } : {}),
      start: async () => {
        try {
          await collector.start();
        } catch (err) {
          throw new CliError(`collector could not start: ${(err as Error).message.split("\n")[0]}`);
        }
      },
      stop: () => collector.stop(),
      describe: () =>
        `collector ${collector.id} running on ${nc.getServer()} (prefix ${subjects.prefix}, ${collector.rules.length} alert rule${collector.rules.length === 1 ? "" : "s"}` +
        `${collector.url ? `, metrics at ${collector.url}/metrics` : ""})`,
      details: () => ({ id: collector.id, rules: collector.rules.length, metricsUrl: collector.url ?? null }),
      health: () => {
        const s = collector.stats();
        return { ok: true, id: collector.id, received: s.received, alertsPendingPublish: s.alertsPendingPublish };
      },
    });
  });
  return cmd;
}
