/**
 * A private nats-server on 127.0.0.1 and a free port, owned by the process that started it: the demo's
 * embedded default (when nothing answers at NATS_URL), and the server every benchmark measures against.
 * JetStream (in a temporary store folder) unless turned off; stop() ends it and deletes the folder.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { toConnectionOptions, type NatsSettings } from "../../protocol/index.js";
import { CliError } from "../CliError.js";

/** A nats-server this process started and owns. */
export interface LocalNats {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Its temporary folder (the JetStream store when JetStream is on); deleted by stop(). */
  readonly storeDir: string;
  /** The server's version from its `Version:` log line ("unknown" if it printed none). */
  readonly version: string;
  /** SIGTERM, wait for exit (SIGKILL after 5 s), delete the store folder. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Where to look for nats-server: NATS_SERVER_BIN when set (and only there: an explicit choice is not
 * second-guessed), else the Debian package's path, /usr/local/bin, then PATH.
 */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.NATS_SERVER_BIN) return executable(env.NATS_SERVER_BIN) ? env.NATS_SERVER_BIN : undefined;
  const candidates = ["/usr/sbin/nats-server", "/usr/local/bin/nats-server"];
  for (const dir of (env.PATH ?? "").split(delimiter)) if (dir) candidates.push(join(dir, "nats-server"));
  return candidates.find(executable);
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** How the user can get nats-server, for the error when none is found. */
export const INSTALL_HINT =
  "install nats-server (Debian/Ubuntu: `apt-get install nats-server`; macOS: `brew install nats-server`; " +
  "or a release from https://github.com/nats-io/nats-server/releases) or set NATS_SERVER_BIN, or point NATS_URL at a running server";

/** Outcome of probing a NATS URL: something answers, nothing listens, or it answers but refuses us. */
export type ProbeResult = { kind: "ok" } | { kind: "absent"; error: unknown } | { kind: "refused"; error: unknown };

/** Tries to connect once (short timeout, no retries) and closes again. */
export async function probeNats(settings: NatsSettings, timeoutMs = 2000): Promise<ProbeResult> {
  try {
    const nc = await connect({ ...toConnectionOptions(settings), timeout: timeoutMs, maxReconnectAttempts: 0, reconnect: false });
    await nc.close();
    return { kind: "ok" };
  } catch (error) {
    const code = (error as { code?: string; cause?: { code?: string } }).cause?.code ?? (error as { code?: string }).code;
    const text = String((error as Error)?.message ?? error);
    const absent = code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EHOSTUNREACH" || /refused|timeout/i.test(text);
    return absent ? { kind: "absent", error } : { kind: "refused", error };
  }
}

/** A free TCP port on 127.0.0.1 (the OS picks it; something else may take it before it is bound). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      const port = typeof a === "object" && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether something accepts a TCP connection on 127.0.0.1:port ("Server is ready" is logged just before it listens). */
export function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
    s.connect(port, "127.0.0.1");
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Options of {@link startLocalNats}. */
export interface LocalNatsOptions {
  /** Run with JetStream (default true; the call path and failover benchmarks measure without it). */
  jetstream?: boolean;
  /**
   * Put the server in its own process group (default true) so a terminal Ctrl-C does not stop it before
   * the demo's components, which the demo then stops in order. A caller without a SIGINT handler of
   * its own (a benchmark) passes false, so that Ctrl-C ends the server together with it.
   */
  detached?: boolean;
  /** Serve nats-server's HTTP monitoring endpoints (`/varz`, `/connz`…) on this loopback port (default: none). */
  monitorPort?: number;
}

const VERSION_LINE = /Version:\s+(\S+)/;

/**
 * Starts nats-server on 127.0.0.1 and a free port (with `-js` unless `jetstream: false`); resolves once
 * it accepts connections. `bin` is usually {@link findNatsServer}'s answer; when it is undefined this
 * fails with the {@link INSTALL_HINT}. Failures are CliErrors with a one-line reason.
 */
export async function startLocalNats(bin: string | undefined, opts: LocalNatsOptions = {}): Promise<LocalNats> {
  if (!bin) throw new CliError(`no nats-server binary was found: ${INSTALL_HINT}`);
  const jetstream = opts.jetstream ?? true;
  const storeDir = mkdtempSync(join(tmpdir(), "switchboard-nats-"));
  let lastError: unknown;
  // A free port can be taken between choosing and binding it; try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const args = ["-a", "127.0.0.1", "-p", String(port), "-n", `switchboard-${process.pid}`, ...(jetstream ? ["-js", "-sd", storeDir] : [])];
    if (opts.monitorPort !== undefined) args.push("-m", String(opts.monitorPort));
    const child = spawn(bin, args, {
      stdio: ["ignore", "pipe", "pipe"],
      detached: opts.detached ?? true,
    });
    let output = "";
    let version: string | undefined;
    const collect = (d: Buffer) => {
      const joined = output + d.toString();
      // Read before trimming: the JetStream banner can push the line out of the kept tail.
      version ??= VERSION_LINE.exec(joined)?.[1];
      output = joined.slice(-4000);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
    const started = Date.now();
    let ready = false;
    while (Date.now() - started < 10_000) {
      const failed = await Promise.race([spawnError, new Promise<undefined>((r) => setTimeout(() => r(undefined), 50))]);
      if (failed) throw new CliError(`cannot run ${bin}: ${failed.message}; ${INSTALL_HINT}`);
      if (child.exitCode !== null) break;
      if (/Server is ready/.test(output) && (await acceptsConnections(port))) {
        ready = true;
        break;
      }
    }
    if (!ready) {
      lastError = output.trim().split("\n").slice(-3).join(" | ") || "did not become ready";
      child.kill("SIGKILL");
      await exited(child);
      continue;
    }
    // A last resort if the demo dies without cleaning up normally (uncaught error): never leave it running.
    const onExit = () => child.kill("SIGKILL");
    process.once("exit", onExit);
    let stopped: Promise<void> | undefined;
    return {
      url: `nats://127.0.0.1:${port}`,
      port,
      pid: child.pid!,
      storeDir,
      version: version ?? "unknown",
      stop() {
        stopped ??= (async () => {
          process.off("exit", onExit);
          if (child.exitCode === null && child.signalCode === null) {
            child.kill("SIGTERM");
            const t = setTimeout(() => child.kill("SIGKILL"), 5000);
            await exited(child);
            clearTimeout(t);
          }
          rmSync(storeDir, { recursive: true, force: true });
        })();
        return stopped;
      },
    };
  }
  rmSync(storeDir, { recursive: true, force: true });
  throw new CliError(`the local nats-server (${bin}) did not start: ${String(lastError)}`);
}
