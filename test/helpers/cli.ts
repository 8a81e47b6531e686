/**
 * Runs the `switchboard` CLI as a real subprocess from source (`node --import tsx src/cli/main.ts`),
 * so CLI tests need no build: one-shot runs with their exit code and output, or long-running
 * commands whose output lines a test can wait for and which it stops with a signal.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/** Repository root. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

/** Environment for CLI subprocesses: no colour forcing, quiet component logs unless asked. */
function cliEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env, SB_LOG_LEVEL: process.env.SB_LOG_LEVEL ?? "warn" };
  delete base.FORCE_COLOR;
  delete base.VITEST; // the subprocess is a normal CLI run, not a test worker
  delete base.NATS_URL;
  delete base.SB_PREFIX;
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete base[k];
    else base[k] = v;
  }
  return base;
}

/** Result of a finished CLI run. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `switchboard <args>` to completion (killed after `timeoutMs`). */
export function runCli(args: string[], opts: { env?: Record<string, string | undefined>; timeoutMs?: number; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], { cwd: ROOT, env: cliEnv(opts.env ?? {}), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 20_000);
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** A long-running CLI command under test. */
export interface CliProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Complete stdout lines so far. */
  lines(): string[];
  /** Waits until stdout (or stderr, with `stream: "stderr"`) matches. */
  waitFor(pattern: RegExp, opts?: { timeoutMs?: number; stream?: "stdout" | "stderr" }): Promise<RegExpExecArray>;
  /** Sends `signal` and resolves with the exit code (SIGKILL after `graceMs`). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

/** Every long-running CLI process started and not yet exited, so a failing test cannot leak one. */
const running = new Set<CliProcess>();

/** Stops (SIGKILL) every CLI process a test started and did not stop; call it in afterAll/afterEach. */
export async function killAllCli(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop("SIGKILL", 0)));
}

/** Starts a long-running `switchboard <args>`. */
export function startCli(args: string[], opts: { env?: Record<string, string | undefined> } = {}): CliProcess {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], { cwd: ROOT, env: cliEnv(opts.env ?? {}), stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  const waiters = new Set<() => void>();
  const poke = () => waiters.forEach((w) => w());
  child.stdout!.on("data", (d) => {
    out += d;
    poke();
  });
  child.stderr!.on("data", (d) => {
    err += d;
    poke();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.once("exit", poke);
  const proc: CliProcess = {
    child,
    stdout: () => out,
    stderr: () => err,
    lines: () => out.split("\n").slice(0, -1),
    waitFor(pattern, o = {}) {
      const timeoutMs = o.timeoutMs ?? 15_000;
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(o.stream === "stderr" ? err : out);
          if (m) {
            done();
            resolve(m);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`switchboard ${args.join(" ")} exited (${child.exitCode ?? child.signalCode}) before ${pattern}:\nstdout: ${out}\nstderr: ${err}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern} from switchboard ${args.join(" ")}:\nstdout: ${out}\nstderr: ${err}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop(signal = "SIGINT", graceMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
        const code = await exited;
        clearTimeout(t);
        return code;
      }
      return exited;
    },
  };
  running.add(proc);
  child.once("exit", () => running.delete(proc));
  return proc;
}

/** True while a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
