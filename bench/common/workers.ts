/**
 * A benchmark's worker process: a script in its own node process (TypeScript under tsx, or the
 * compiled .js under dist/) that talks to the benchmark through stdout lines:
 *
 * - `READY [value]` once it serves (value: an instance id, a count…),
 * - `RESULT <json>` with its figures,
 * - `PROGRESS <text>` for the operator; these and any other line go to the line handler.
 *
 * Benchmarks keep their workers in separate processes so that each party's CPU and memory can be
 * measured on its own and the driver's load does not disturb the figures.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { basename, extname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** `.ts` when the benchmarks run under tsx, `.js` when they run compiled from dist/. */
const OWN_EXTENSION = import.meta.url.endsWith(".ts") ? ".ts" : ".js";

/** Options of {@link startWorker}. */
export interface WorkerOptions {
  /**
   * The script, as a file URL (`new URL("./call/caller", import.meta.url)`) or a path. Without an
   * extension it gets the benchmarks' own (see {@link resolveScript}). A `.ts` script runs with
   * `--import tsx`, anything else on bare node.
   */
  script: URL | string;
  /** Environment on top of this process's; SB_LOG_LEVEL defaults to `warn`. */
  env?: Record<string, string>;
  /**
   * Node flags, after the space-separated ones in BENCH_NODE_FLAGS (e.g. `--cpu-prof`, which applies
   * to every worker of a run).
   */
  nodeFlags?: string[];
  /**
   * Every stdout line other than READY and RESULT, without its newline. Default {@link printProgress}:
   * `PROGRESS` lines to stderr, anything else ignored.
   */
  onLine?: (line: string) => void;
  /** Give up on READY after this long: SIGKILL the worker and reject `ready` (default: wait as long as it runs). */
  readyTimeoutMs?: number;
}

/** A running worker process and what it printed. */
export interface Worker {
  /** The script's file name without extension, for messages. */
  readonly name: string;
  readonly child: ChildProcess;
  /**
   * Resolves with the text after `READY` (trimmed, "" for a bare `READY`); rejects with the tail of
   * its stderr if the process exits, or readyTimeoutMs passes, first.
   */
  readonly ready: Promise<string>;
  /** The JSON of every `RESULT` line so far. */
  readonly results: unknown[];
  /** Resolves with {@link results} once the process exited with 0; rejects with its stderr tail otherwise. */
  finished(): Promise<unknown[]>;
  /** SIGTERM (SIGKILL after 5 s); resolves when the process is gone. */
  stop(): Promise<void>;
  /** SIGKILL; resolves when the process is gone. */
  kill(): Promise<void>;
}

/**
 * The script's absolute path: a file URL or path as given; one without a `.ts`, `.js` or `.mjs`
 * extension gets `.ts` when the benchmarks run under tsx and `.js` when they run compiled, so one
 * name serves both.
 */
export function resolveScript(script: URL | string): string {
  const path = script instanceof URL ? fileURLToPath(script) : script;
  return [".ts", ".js", ".mjs"].includes(extname(path)) ? path : `${path}${OWN_EXTENSION}`;
}

/** The default line handler: `PROGRESS <text>` lines go to stderr, indented; other lines are ignored. */
export function printProgress(line: string): void {
  if (line.startsWith("PROGRESS ")) process.stderr.write(`  ${line.slice(9)}\n`);
}

/** Starts a worker process; see {@link WorkerOptions}. */
export function startWorker(opts: WorkerOptions): Worker {
  const file = resolveScript(opts.script);
  const name = basename(file, extname(file));
  const flags = [...(process.env.BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean), ...(opts.nodeFlags ?? [])];
  const preload = ["--import", pathToFileURL(resolveScript(new URL("./logLevel", import.meta.url))).href];
  const child = spawn(process.execPath, [...flags, ...(file.endsWith(".ts") ? ["--import", "tsx"] : []), ...preload, file], {
    env: { ...process.env, SB_LOG_LEVEL: "warn", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const onLine = opts.onLine ?? printProgress;
  const results: unknown[] = [];
  let err = "";
  child.stderr?.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-8000)));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

  let resolveReady!: (value: string) => void;
  let rejectReady!: (error: Error) => void;
  const ready = new Promise<string>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  // Whoever awaits `ready` sees the failure; nobody awaiting it must not crash the benchmark.
  ready.catch(() => {});
  const timer =
    opts.readyTimeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          child.kill("SIGKILL");
          rejectReady(new Error(`${name} was not ready after ${opts.readyTimeoutMs} ms:\n${err}`));
        }, opts.readyTimeoutMs);
  void exited.then((code) => {
    clearTimeout(timer);
    rejectReady(new Error(`${name} exited (${code}) before READY:\n${err}`));
  });

  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
    let nl: number;
    while ((nl = out.indexOf("\n")) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      if (line === "READY" || line.startsWith("READY ")) {
        clearTimeout(timer);
        resolveReady(line.slice(5).trim());
      } else if (line.startsWith("RESULT ")) results.push(JSON.parse(line.slice(7)));
      else onLine(line);
    }
  });

  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    name,
    child,
    ready,
    results,
    finished: async () => {
      const code = await exited;
      if (code !== 0) throw new Error(`${name} failed (${code}):\n${err}`);
      return results;
    },
    stop: async () => {
      if (!running()) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
    kill: async () => {
      if (running()) child.kill("SIGKILL");
      await exited;
    },
  };
}
