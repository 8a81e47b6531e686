/**
 * `switchboard bench`: runs the benchmarks in bench/ (each starts its own nats-server and measures its
 * baseline in the same run). They need the development dependencies (hdr-histogram-js, moleculer), so
 * this works from a checkout after `npm ci`, not from a production install.
 */
import { Command, Option } from "commander";
import { CliError } from "../CliError.js";

/** Builds the `bench` command. */
export function benchCommand(): Command {
  return new Command("bench")
    .description("run the benchmarks (call path, coordinator, alerting, failover) against local nats-servers and print ratios and percentiles")
    .option("--quick", "short runs: the whole set in a few minutes")
    .addOption(new Option("--only <names>", "comma-separated subset of: call, heartbeat, alerts, failover").argParser((v) => v.split(",")))
    .addHelpText("after", "\nExamples:\n  switchboard bench --quick\n  switchboard bench --only call\n\nResults and their interpretation: docs/BENCHMARKS.md")
    .action(async (opts: { quick?: boolean; only?: string[] }) => {
      // bench/ sits beside src/ both in the checkout (tsx) and in dist/ (built).
      const ext = import.meta.url.endsWith(".ts") ? "ts" : "js";
      let mod: typeof import("../../../bench/run.js");
      try {
        mod = (await import(new URL(`../../../bench/run.${ext}`, import.meta.url).href)) as typeof import("../../../bench/run.js");
      } catch (err) {
        throw new CliError(`cannot load the benchmarks (${(err as Error).message}): run from a checkout after \`npm ci && npm run build\``);
      }
      const unknown = (opts.only ?? []).filter((n) => !(n in mod.SUITES));
      if (unknown.length > 0) throw new CliError(`unknown benchmark ${unknown.join(", ")}: choose from ${Object.keys(mod.SUITES).join(", ")}`, 2);
      await mod.runAll({ quick: opts.quick ?? false, only: (opts.only ?? []) as Array<keyof typeof mod.SUITES> });
    });
}
