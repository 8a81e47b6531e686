/** Worker processes of the heartbeat benchmark. */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const isTs = import.meta.url.endsWith(".ts");

/**
 * Under tsx, the TypeScript loader costs a worker ~37 MB of RSS, which would swamp what the coordinator
 * itself uses. So a worker is bundled to plain JavaScript first (esbuild, which tsx brings along), into
 * node_modules/.cache (package imports and the schemas/ folder resolve from there), and run by bare node.
 * Falls back to tsx when esbuild is unavailable. Compiled benchmarks (dist/) run .js workers directly.
 */
const bundled = new Map<string, string>();
let runtime: "node" | "node (bundled with esbuild)" | "tsx" = isTs ? "tsx" : "node";

/** How workers run: bare node on compiled or bundled JavaScript, or tsx (whose loader inflates RSS). */
export function workerRuntime(): string {
  return runtime;
}

async function bundle(name: string): Promise<string | undefined> {
  if (bundled.has(name)) return bundled.get(name);
  try {
    const esbuild = (await import("esbuild" as string)) as {
      build(o: Record<string, unknown>): Promise<unknown>;
    };
    const entry = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
    const outfile = fileURLToPath(new URL(`../../node_modules/.cache/switchboard-bench/${name}.mjs`, import.meta.url));
    await esbuild.build({ entryPoints: [entry], bundle: true, platform: "node", format: "esm", target: "node20", packages: "external", outfile, logLevel: "error" });
    bundled.set(name, outfile);
    runtime = "node (bundled with esbuild)";
    return outfile;
  } catch {
    return undefined;
  }
}

/** Prepares a worker for {@link startWorker} (bundles it when running under tsx). */
export async function prepareWorker(name: string): Promise<void> {
  if (isTs) await bundle(name);
}

/** A worker process of the benchmark. */
export interface Worker {
  child: ChildProcess;
  /** Resolves with the text after `READY `. */
  ready: Promise<string>;
  /** Every `RESULT <json>` line so far. */
  results: unknown[];
  stop(): Promise<void>;
}

/** Starts `bench/heartbeat/<name>` (under tsx, or the compiled .js); node flags from BENCH_NODE_FLAGS (e.g. --cpu-prof). */
export function startWorker(name: string, env: Record<string, string>, nodeFlags: string[] = []): Worker {
  const js = bundled.get(name);
  const file = js ?? fileURLToPath(new URL(`./${name}${isTs ? ".ts" : ".js"}`, import.meta.url));
  const flags = [...(process.env.BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean), ...nodeFlags];
  const child = spawn(process.execPath, [...flags, ...(isTs && !js ? ["--import", "tsx"] : []), file], {
    env: { ...process.env, SB_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const results: unknown[] = [];
  let resolveReady!: (v: string) => void;
  let rejectReady!: (e: Error) => void;
  const ready = new Promise<string>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
    let nl: number;
    while ((nl = out.indexOf("\n")) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      if (line.startsWith("READY ")) resolveReady(line.slice(6).trim());
      else if (line.startsWith("RESULT ")) results.push(JSON.parse(line.slice(7)));
    }
  });
  child.stderr?.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-8000)));
  child.once("exit", (code) => rejectReady(new Error(`${name} exited (${code}) before READY:\n${err}`)));
  return {
    child,
    ready,
    results,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await new Promise((r) => child.once("exit", r));
      clearTimeout(t);
    },
  };
}
