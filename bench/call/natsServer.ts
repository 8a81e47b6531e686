/** Starts a plain nats-server for a benchmark run (no JetStream: the call path does not need it). */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";

/** The nats-server binary: NATS_SERVER_BIN, else the Debian package's path. */
const BIN = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      const port = typeof a === "object" && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A running benchmark nats-server. */
export interface BenchNatsServer {
  url: string;
  version: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts nats-server on a free port and resolves when it is ready. */
export async function startBenchNatsServer(): Promise<BenchNatsServer> {
  const port = await freePort();
  const child: ChildProcess = spawn(BIN, ["-a", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  const started = Date.now();
  while (!/Server is ready/.test(out)) {
    if (child.exitCode !== null) throw new Error(`nats-server exited: ${out}`);
    if (Date.now() - started > 10_000) {
      child.kill("SIGKILL");
      throw new Error(`nats-server did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const version = /Version:\s+(\S+)/.exec(out)?.[1] ?? "unknown";
  return {
    url: `nats://127.0.0.1:${port}`,
    version,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    },
  };
}
