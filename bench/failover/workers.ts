/** Spawns the failover benchmark's worker processes (TypeScript under tsx, or the compiled .js under dist/). */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const isTs = import.meta.url.endsWith(".ts");

/** A worker process that printed `READY <value>`. */
export interface Worker {
  readonly child: ChildProcess;
  readonly ready: string;
  /** SIGKILL; resolves when the process is gone. */
  kill(): Promise<void>;
}

/** Starts `bench/failover/<name>` with `env` and resolves once it printed `READY …`. */
export async function startWorker(name: "instance" | "coordinator", env: Record<string, string>): Promise<Worker> {
  const file = fileURLToPath(new URL(`./${name}${isTs ? ".ts" : ".js"}`, import.meta.url));
  const child = spawn(process.execPath, [...(isTs ? ["--import", "tsx"] : []), file], {
    env: { ...process.env, SB_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stderr?.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  const ready = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${name} did not start:\n${out}`));
    }, 20_000);
    child.stdout?.on("data", (d: Buffer) => {
      const m = /READY (\S+)/.exec((out += d.toString()));
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before READY:\n${out}`));
    });
  });
  const gone = () =>
    child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once("exit", () => r()));
  return {
    child,
    ready,
    kill: async () => {
      child.kill("SIGKILL");
      await gone();
    },
  };
}
