/**
 * V8 flags a command needs from its first instruction on, applied by running the command again in a child
 * node process when the current one lacks them (V8 reads heap-sizing flags only at start-up;
 * `v8.setFlagsFromString` afterwards has no effect on them).
 */
import { spawn } from "node:child_process";

/**
 * Flags per command. The coordinator ingests a steady stream of short-lived heartbeat objects: with the
 * default young generation V8 grows it to 2 × 16 MB, which alone takes a 10 000-instance coordinator past
 * 100 MB RSS; 2 × 4 MB keeps it under (docs/BENCHMARKS.md, coordinator memory).
 */
export const COMMAND_NODE_FLAGS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  coordinator: ["--max-semi-space-size=4"],
});

/** The flags of `flags` that neither node's own arguments nor NODE_OPTIONS already set (by flag name). */
export function missingNodeFlags(flags: readonly string[], execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const present = [...execArgv, ...(nodeOptions ?? "").split(/\s+/)].map((a) => a.split("=")[0]);
  return flags.filter((f) => !present.includes(f.split("=")[0]));
}

/**
 * When the command named in `argv` needs node flags this process lacks, runs the same command line in a
 * child node process with them (signals forwarded, same standard streams) and resolves with its exit
 * code; otherwise resolves undefined and the caller runs the command itself. `optOut` (SB_NO_REEXEC=1 at
 * the CLI's entry) disables it.
 */
export function relaunchWithNodeFlags(argv: readonly string[], optOut: boolean): Promise<number> | undefined {
  const command = argv[2];
  if (optOut || command === undefined || !Object.hasOwn(COMMAND_NODE_FLAGS, command)) return undefined;
  const missing = missingNodeFlags(COMMAND_NODE_FLAGS[command]!, process.execArgv, process.env.NODE_OPTIONS);
  if (missing.length === 0) return undefined;
  const child = spawn(process.execPath, [...missing, ...process.execArgv, ...argv.slice(1)], { stdio: "inherit" });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, forward(signal));
  return new Promise((resolve) => {
    child.once("error", () => resolve(1));
    child.once("exit", (code, signal) => resolve(code ?? (signal === "SIGINT" ? 130 : 143)));
  });
}
