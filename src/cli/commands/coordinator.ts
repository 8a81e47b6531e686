/** `switchboard coordinator`: runs a registry coordinator (run two or more for availability). */
import { Command, Option } from "commander";
import { createCoordinator } from "../../coordinator/index.js";
import { CliError } from "../CliError.js";
import { runService } from "../runService.js";
import { durationArg, intArg, open, portOption, withCommonOptions, healthHostOption } from "./common.js";

interface CoordinatorFlags {
  id?: string;
  lease?: number;
  kvReplicas?: number;
  jetstream: boolean;
  suspectGrace?: string;
  downAfter?: number;
  removeAfter?: number;
  registerTtl?: number;
  healthPort?: number;
  healthHost: string;
}

/** Builds the `coordinator` command. */
export function coordinatorCommand(): Command {
  const cmd = new Command("coordinator")
    .description("run a registry coordinator: failure detection, registry queries and events (run 2+ for availability; one leads)")
    .option("--id <id>", "coordinator name shown in snapshots and events (default coord-<random>)")
    .addOption(new Option("--lease <duration>", "leadership lease: a silent leader is replaced after this long (default 3s)").argParser(durationArg()))
    .addOption(new Option("--kv-replicas <n>", "replicas of the registry and lease KV buckets (default 1; 3 on a 3-node cluster)").argParser(intArg("--kv-replicas", 1, 5)))
    .option("--no-jetstream", "keep the registry in memory only, no lease: run exactly one such coordinator")
    .option("--suspect-grace <fraction>", "extra fraction of a heartbeat interval before suspect (default 0.5)")
    .addOption(new Option("--down-after <intervals>", "missed heartbeat intervals before down (default 3)").argParser(intArg("--down-after", 2, 1_000_000)))
    .addOption(new Option("--remove-after <intervals>", "missed heartbeat intervals before removal (default 10)").argParser(intArg("--remove-after", 3, 100_000_000)))
    .addOption(new Option("--register-ttl <duration>", "lifetime of HTTP/NATS registrations without a refresh (default 30s)").argParser(durationArg()))
    .addOption(portOption("--health-port <port>", "serve GET /healthz on this port (for container health checks)"))
    .addOption(healthHostOption());
  withCommonOptions(cmd, ["switchboard coordinator", "switchboard coordinator --servers nats://n1:4222,nats://n2:4222 --kv-replicas 3 --health-port 8081"]);
  cmd.action(async (flags: CoordinatorFlags) => {
    let suspectGrace: number | undefined;
    if (flags.suspectGrace !== undefined) {
      suspectGrace = Number(flags.suspectGrace);
      if (!(suspectGrace >= 0 && suspectGrace <= 100)) throw new CliError("--suspect-grace must be a number between 0 and 100", 2);
    }
    const { settings, subjects, nc } = await open(cmd, "coordinator");
    const c = settings.config.coordinator ?? {};
    const coordinator = createCoordinator({
      nats: nc,
      prefix: subjects.prefix,
      ...((flags.id ?? c.id) !== undefined ? { id: flags.id ?? c.id } : {}),
      ...(flags.lease !== undefined ? { leaseMs: flags.lease } : {}),
      ...(flags.kvReplicas !== undefined ? { kvReplicas: flags.kvReplicas } : {}),
      ...(flags.jetstream === false ? { jetstream: false } : {}),
      ...(suspectGrace !== undefined ? { suspectGrace } : {}),
      ...(flags.downAfter !== undefined ? { downAfterIntervals: flags.downAfter } : {}),
      ...(flags.removeAfter !== undefined ? { removeAfterIntervals: flags.removeAfter } : {}),
      ...(flags.registerTtl !== undefined ? { defaultRegisterTtlMs: flags.registerTtl } : {}),
    });
    await runService({
      name: "coordinator",
      settings,
      nc,
      ...(flags.healthPort !== undefined ? { healthPort: flags.healthPort, healthHost: flags.healthHost } : {}),
      start: async () => {
        try {
          await coordinator.start();
        } catch (err) {
          throw new CliError(`coordinator could not start: ${(err as Error).message}`);
        }
      },
      stop: () => coordinator.stop(),
      describe: () => {
        const s = coordinator.stats();
        return `coordinator ${s.id} running on ${nc.getServer()} (prefix ${subjects.prefix}, ${s.leader ? "leader" : "follower"}, ${s.instances} instances)`;
      },
      details: () => {
        const s = coordinator.stats();
        return { id: s.id, leader: s.leader, instances: s.instances };
      },
      health: () => {
        const s = coordinator.stats();
        return { ok: true, id: s.id, leader: s.leader, instances: s.instances, revision: s.revision };
      },
    });
  });
  return cmd;
}
