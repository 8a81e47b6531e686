/**
 * Runs every benchmark in one go: `npm run bench [-- --quick] [-- --only call,alerts]`, or `switchboard bench`.
 * Each benchmark starts its own nats-server and runs its baseline in the same run, then prints its table.
 */
import { setDefaultLogLevel } from "../src/protocol/logger.js";
import { cpus, totalmem } from "node:os";
import { runIfMain } from "./common/runIfMain.js";

/** The benchmarks, in the order they run. Each module exports `run({ quick })`. */
export const SUITES = {
  call: () => import("./call.js"),
  heartbeat: () => import("./heartbeat.js"),
  alerts: () => import("./alerts.js"),
  failover: () => import("./failover.js"),
  fleet: () => import("./fleet.js"),
  console: () => import("./console.js"),
  signing: () => import("./signing.js"),
  gateway: () => import("./gateway.js"),
} as const;
export type SuiteName = keyof typeof SUITES;

/** Options of {@link runAll}. */
export interface RunAllOptions {
  /** Short runs (the whole set in a few minutes) instead of full ones. */
  quick?: boolean;
  /** Only these benchmarks. */
  only?: SuiteName[];
  /** Where progress goes (default stderr). */
  log?: (line: string) => void;
}

/** Runs the selected benchmarks one after the other (they would disturb each other's numbers in parallel). */
export async function runAll(opts: RunAllOptions = {}): Promise<void> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const names = opts.only && opts.only.length > 0 ? opts.only : (Object.keys(SUITES) as SuiteName[]);
  for (const n of names) if (!(n in SUITES)) throw new Error(`unknown benchmark ${JSON.stringify(n)}; known: ${Object.keys(SUITES).join(", ")}`);
  log(`Switchboard benchmarks${opts.quick ? " (quick)" : ""}: ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${new Date().toISOString()}`);
  process.env.SB_LOG_LEVEL ??= "warn";
  setDefaultLogLevel(process.env.SB_LOG_LEVEL);
  for (const name of names) {
    const started = Date.now();
    log(`\n=== ${name} ===`);
    const mod = await SUITES[name]();
    await mod.run({ quick: opts.quick ?? false });
    log(`=== ${name}: ${((Date.now() - started) / 1000).toFixed(0)} s ===`);
  }
}

/** Parses `--quick` and `--only a,b` from command-line arguments. */
export function parseRunAllArgs(argv: readonly string[]): RunAllOptions {
  const only: SuiteName[] = [];
  argv.forEach((a, i) => {
    if (a === "--only") only.push(...((argv[i + 1] ?? "").split(",").filter(Boolean) as SuiteName[]));
    else if (a.startsWith("--only=")) only.push(...(a.slice(7).split(",").filter(Boolean) as SuiteName[]));
  });
  return { quick: argv.includes("--quick"), only };
}

runIfMain(import.meta.url, (argv) => runAll(parseRunAllArgs(argv)));
