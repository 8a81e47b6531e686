/** Runs TypeScript fixtures as real child processes that tests can SIGKILL. */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/** A child process started from a fixture, with the first `READY <value>` line it printed. */
export interface FixtureProcess {
  readonly child: ChildProcess;
  /** Whatever followed `READY ` on the fixture's first ready line (an instance id for agent-process). */
  readonly ready: string;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** SIGKILL: a crash, no leave, no cleanup. Resolves when the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM: a graceful stop. Resolves when the process is gone. */
  stop(): Promise<void>;
}

const AGENT_PROCESS = fileURLToPath(new URL("../../bench/common/agentProcess.ts", import.meta.url));

/** Absolute path of a file under test/fixtures. */
export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
}

/** Starts `test/fixtures/<name>` under tsx with extra env, and resolves once it prints `READY …`. */
export function startFixture(name: string, env: Record<string, string>, timeoutMs = 15_000): Promise<FixtureProcess> {
  return startProcess(name, process.execPath, ["--import", "tsx", fixturePath(name)], env, timeoutMs);
}

/**
 * Starts any program (a fixture, an example in another language) with extra env, and resolves once it
 * prints `READY <value>` on stdout; rejects (after a SIGKILL) if it exits first or takes over `timeoutMs`.
 */
export async function startProcess(name: string, command: string, args: string[], env: Record<string, string>, timeoutMs = 15_000): Promise<FixtureProcess> {
  const child = spawn(command, args, {
    env: { ...process.env, SB_LOG_LEVEL: process.env.SB_LOG_LEVEL ?? "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stderr?.on("data", (d) => (out += d));
  const ready = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${name} did not print READY within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    child.stdout?.on("data", (d) => {
      out += d;
      const m = /READY (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before READY:\n${out}`));
    });
  });
  const gone = () =>
    child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once("exit", () => r()));
  return {
    child,
    ready,
    output: () => out,
    kill: async () => {
      child.kill("SIGKILL");
      await gone();
    },
    stop: async () => {
      child.kill("SIGTERM");
      await gone();
    },
  };
}

/** Starts the agent process shared with the benchmarks (bench/common/agentProcess.ts); `ready` is its instance id. */
export function startAgentProcess(env: {
  NATS_URL: string;
  SB_PREFIX: string;
  SB_SERVICE?: string;
  SB_HEARTBEAT_MS?: string;
  SB_DELAY_MS?: string;
  SB_FAIL?: string;
  SB_ID?: string;
  SB_DRAIN?: string;
  SB_VERSION?: string;
  SB_TAGS?: string;
  SB_METADATA?: string;
}): Promise<FixtureProcess> {
  // 25 s: tsx compiles the process at start, which takes several seconds on a loaded 2-core machine.
  return startProcess("agent process", process.execPath, ["--import", "tsx", AGENT_PROCESS], env as Record<string, string>, 25_000);
}
