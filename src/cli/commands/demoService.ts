/**
 * `switchboard demo-service`: an instance of the demo service (`echo`, `whoami`, `slow`), as the demo
 * starts three of and docker-compose runs. A real agent: it announces, heartbeats, serves and reports metrics.
 */
import { Command, Option } from "commander";
import { createAgent } from "../../agent/index.js";
import { ServiceError, isToken } from "../../protocol/index.js";
import { CliError } from "../CliError.js";
import { printJsonLine } from "../output.js";
import { runService } from "../runService.js";
import { durationArg, intArg, open, portOption, withCommonOptions, healthHostOption } from "./common.js";

/** Options of the demo service. */
export interface DemoServiceOptions {
  service: string;
  heartbeat: number;
  delay: number;
  jitter: number;
  healthPort?: number;
  healthHost: string;
  id?: string;
  stdinLifeline?: boolean;
  drain: number;
}

/** Builds the `demo-service` command. */
export function demoServiceCommand(): Command {
  const cmd = new Command("demo-service")
    .description("run one instance of the demo service: endpoints echo (returns its payload), whoami (instance id), slow ({ms})")
    .addOption(new Option("--service <name>", "service name").default("echo"))
    .addOption(new Option("--heartbeat <duration>", "heartbeat interval").default(1000, "1s").argParser(durationArg()))
    .addOption(new Option("--delay <ms>", "fixed handler delay in ms").default(0).argParser(intArg("--delay", 0, 60_000)))
    .addOption(new Option("--jitter <ms>", "extra random handler delay, 0..ms").default(0).argParser(intArg("--jitter", 0, 60_000)))
    .option("--id <id>", "instance id (default a random UUID)")
    .addOption(
      new Option("--drain <duration>", "on SIGTERM/SIGINT: announce draining, finish requests in flight within this time, then leave (0: stop at once)")
        .default(10_000, "10s")
        .argParser(durationArg()),
    )
    .addOption(portOption("--health-port <port>", "serve GET /healthz on this port"))
    .addOption(healthHostOption())
    // For `switchboard demo`: stop when the parent closes our stdin (it died or is stopping us).
    .addOption(new Option("--stdin-lifeline", "stop when stdin closes").hideHelp());
  withCommonOptions(cmd, ["switchboard demo-service --service echo --heartbeat 250ms", "switchboard call echo echo '{\"hi\":1}'"]);
  cmd.action(async (opts: DemoServiceOptions) => {
    if (!isToken(opts.service)) throw new CliError(`invalid service name ${JSON.stringify(opts.service)}`, 2);
    if (opts.id !== undefined && !isToken(opts.id)) throw new CliError(`invalid instance id ${JSON.stringify(opts.id)}`, 2);
    if (opts.heartbeat < 10) throw new CliError("--heartbeat must be at least 10ms", 2);
    const { settings, subjects, nc } = await open(cmd, "demo-service");
    const agent = createAgent({
      nats: nc,
      service: opts.service,
      version: "1.0.0",
      prefix: subjects.prefix,
      heartbeatMs: opts.heartbeat,
      description: "Switchboard demo service",
      metadata: { demo: "true" },
      ...(opts.id ? { id: opts.id } : {}),
    });
    const pause = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());
    const handlerDelay = () => opts.delay + (opts.jitter > 0 ? Math.random() * opts.jitter : 0);
    agent.endpoint("echo", async (payload) => {
      await pause(handlerDelay());
      return { echo: payload ?? null, instance: agent.id };
    });
    agent.endpoint("whoami", () => ({ instance: agent.id, service: opts.service, pid: process.pid }));
    agent.endpoint("slow", async (payload, ctx) => {
      const ms = typeof (payload as { ms?: unknown })?.ms === "number" ? (payload as { ms: number }).ms : 1000;
      if (!(ms >= 0 && ms <= 60_000)) throw new ServiceError("BAD_REQUEST", "ms must be between 0 and 60000");
      await Promise.race([pause(ms), new Promise((r) => ctx.signal.addEventListener("abort", r, { once: true }))]);
      return { slept: ms, instance: agent.id };
    });
    await runService({
      name: "demo-service",
      settings,
      nc,
      ...(opts.healthPort !== undefined ? { healthPort: opts.healthPort, healthHost: opts.healthHost } : {}),
      start: async () => {
        await agent.start();
        // The demo (and tests) wait for this line before using the instance.
        if (!settings.json) process.stdout.write(`READY ${agent.id}\n`);
        else printJsonLine({ event: "ready", service: opts.service, id: agent.id, pid: process.pid });
      },
      // A graceful drain by default: announce `draining`, let every client see it, finish in flight.
      stop: () => (opts.drain > 0 ? agent.drain({ deadlineMs: opts.drain }) : agent.stop()),
      ...(opts.stdinLifeline
        ? {
            stopWhen: new Promise<string>((resolve) => {
              process.stdin.on("data", () => undefined);
              process.stdin.once("end", () => resolve("parent process went away"));
              process.stdin.once("close", () => resolve("parent process went away"));
            }),
          }
        : {}),
      describe: () => `demo service ${opts.service} instance ${agent.id} serving on ${nc.getServer()} (prefix ${subjects.prefix})`,
      details: () => ({ service: opts.service, id: agent.id }),
    });
  });
  return cmd;
}
