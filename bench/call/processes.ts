/** Spawns the benchmark's worker processes (TypeScript under tsx, or the compiled .js under dist/). */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const isTs = import.meta.url.endsWith(".ts");

/** A worker process and the lines it printed. */
export interface Worker {
  child: ChildProcess;
  /** Resolves with the text after `READY ` on its first ready line. */
  ready: Promise<string>;
  /** Resolves with every `RESULT <json>` line's JSON when the process exits with 0. */
  results: Promise<unknown[]>;
  stop(): Promise<void>;
}

/** Starts `bench/call/<name>` with `env`; extra node flags (e.g. --cpu-prof) via BENCH_NODE_FLAGS. */
export function startWorker(name: string, env: Record<string, string>): Worker {
  const file = fileURLToPath(new URL(`./${name}${isTs ? ".ts" : ".js"}`, import.meta.url));
  const flags = (process.env.BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean);
  const args = [...flags, ...(isTs ? ["--import", "tsx"] : []), file];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, SB_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const results: unknown[] = [];
  let readyResolve!: (v: string) => void;
  let readyReject!: (e: Error) => void;
  const ready = new Promise<string>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
    let nl: number;
    while ((nl = out.indexOf("\n")) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      if (line.startsWith("READY ")) readyResolve(line.slice(6).trim());
      else if (line.startsWith("RESULT ")) results.push(JSON.parse(line.slice(7)));
      else if (line.startsWith("PROGRESS ")) process.stderr.write(`  ${line.slice(9)}\n`);
    }
  });
  child.stderr?.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-8000)));
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  void exited.then((code) => readyReject(new Error(`${name} exited (${code}) before READY:\n${err}`)));
  return {
    child,
    ready,
    results: exited.then((code) => {
      if (code !== 0) throw new Error(`${name} failed (${code}):\n${err}`);
      return results;
    }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      await exited;
    },
  };
}
