/** `switchboard bridge`: makes HTTP-registered services callable over NATS (scale out by running several). */
import { Command, Option } from "commander";
import { createHttpBridge } from "../../bridge/index.js";
import { runService } from "../runService.js";
import { durationArg, open, portOption, withCommonOptions } from "./common.js";

/** Builds the `bridge` command. */
export function bridgeCommand(): Command {
  const cmd = new Command("bridge")
    .description(
      "serve the NATS subjects of HTTP-registered instances by POSTing to <serviceAddress>/<endpoint> (every gateway runs one too; several share the work in queue group sb-bridge)",
    )
    .addOption(new Option("--timeout <duration>", "longest wait for an HTTP service when a request has no deadline (default 30s)").argParser(durationArg()))
    .addOption(portOption("--health-port <port>", "serve GET /healthz on this port (for container health checks)"));
  withCommonOptions(cmd, ["switchboard bridge", "switchboard call legacy-billing invoice '{\"amount\":10}'"]);
  cmd.action(async (flags: { timeout?: number; healthPort?: number }) => {
    const { settings, subjects, nc } = await open(cmd, "bridge");
    const bridge = createHttpBridge({ nats: nc, prefix: subjects.prefix, ...(flags.timeout !== undefined ? { timeoutMs: flags.timeout } : {}) });
    await runService({
      name: "bridge",
      settings,
      nc,
      ...(flags.healthPort !== undefined ? { healthPort: flags.healthPort } : {}),
      start: async () => {
        await bridge.start();
      },
      stop: () => bridge.stop(),
      describe: () => `bridge running on ${nc.getServer()} (prefix ${subjects.prefix}, ${bridge.stats().instances} HTTP instance(s) served)`,
      details: () => ({ instances: bridge.stats().instances }),
      health: () => ({ ok: true, ...bridge.stats() }),
    });
  });
  return cmd;
}
