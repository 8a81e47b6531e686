/**
 * The demo service instances, each in its own child process (`switchboard demo-service`), so one
 * can be killed with SIGKILL like a crashed host: no leave message, no goodbye, just silence.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";

/** One running instance. */
export interface ServiceProcess {
  readonly index: number;
  readonly pid: number;
  readonly id: string;
  /** `running`, `killed` (by us, SIGKILL), `stopped` (by us, SIGTERM) or `exited` (on its own). */
  status: "running" | "killed" | "stopped" | "exited";
  readonly child: ChildProcess;
}

/** Options of {@link startServiceProcess}. */
export interface ServiceProcessOptions {
  index: number;
  servers: string[];
  prefix: string;
  service: string;
  heartbeatMs: number;
  jitterMs: number;
  /** Extra environment (log level…). */
  env?: NodeJS.ProcessEnv;
}

/**
 * The command line that runs this CLI again: the same node, the same loader flags (e.g. `--import tsx`
 * when running from source), and main.ts or main.js beside this folder.
 */
function selfCommand(): { command: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  const main = fileURLToPath(new URL(`../main${extname(here)}`, import.meta.url));
  return { command: process.execPath, args: [...process.execArgv, main] };
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Starts one instance and resolves when it printed its ready line (with its instance id). */
export async function startServiceProcess(opts: ServiceProcessOptions): Promise<ServiceProcess> {
  const self = selfCommand();
  const args = [
    ...self.args,
    "demo-service",
    "--json",
    "--servers",
    opts.servers.join(","),
    "--prefix",
    opts.prefix,
    "--service",
    opts.service,
    "--heartbeat",
    `${opts.heartbeatMs}ms`,
    "--jitter",
    String(opts.jitterMs),
    "--stdin-lifeline",
  ];
  // Own process group: a terminal Ctrl-C reaches only the demo, which then stops the instances in
  // order (calls first). The stdin pipe is a lifeline: if the demo dies, the instance stops too.
  const child = spawn(self.command, args, {
    detached: true,
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, SB_LOG_LEVEL: "error", NO_COLOR: "1", ...opts.env },
  });
  let output = "";
  let buffer = "";
  return new Promise<ServiceProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`demo service instance ${opts.index + 1} did not start within 20 s: ${output.trim().split("\n").slice(-3).join(" | ")}`));
    }, 20_000);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`demo service instance ${opts.index + 1} exited (${signal ?? code}) before it was ready: ${output.trim().split("\n").slice(-3).join(" | ")}`));
    });
    child.stderr?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    child.stdout?.on("data", (d: Buffer) => {
      buffer += d.toString();
      output = (output + d.toString()).slice(-4000);
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          const event = JSON.parse(line) as { event?: string; id?: string };
          if (event.event === "ready" && event.id) {
            clearTimeout(timer);
            child.removeAllListeners("exit");
            const proc: ServiceProcess = { index: opts.index, pid: child.pid!, id: event.id, status: "running", child };
            child.once("exit", () => {
              if (proc.status === "running") proc.status = "exited";
            });
            // Keep draining its output so a chatty child can never block on a full pipe.
            child.stdout?.removeAllListeners("data");
            child.stdout?.resume();
            resolve(proc);
            return;
          }
        } catch {
          // a log line, not an event
        }
      }
    });
  });
}

/** SIGKILL: the instance vanishes without a word, as a crashed host would. */
export async function killServiceProcess(p: ServiceProcess): Promise<void> {
  p.status = "killed";
  p.child.kill("SIGKILL");
  await exited(p.child);
}

/** SIGTERM (the instance leaves the registry and drains), SIGKILL after `graceMs`. */
export async function stopServiceProcess(p: ServiceProcess, graceMs = 5000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  if (p.status === "running") p.status = "stopped";
  p.child.kill("SIGTERM");
  const t = setTimeout(() => p.child.kill("SIGKILL"), graceMs);
  await exited(p.child);
  clearTimeout(t);
}
