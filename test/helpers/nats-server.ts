/**
 * Starts real nats-server processes for tests: each test gets its own server on a free port,
 * with JetStream in a temporary folder, and can stop, SIGKILL and restart it (same port, same
 * data) or run a 3-node cluster. No test talks to a mocked connection.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acceptsConnections, freePort } from "../../src/cli/demo/LocalNatsServer.js";

/** The nats-server binary: NATS_SERVER_BIN, else the Debian package's path. */
export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";

function assertBinary(): void {
  if (!existsSync(NATS_SERVER_BIN)) {
    throw new Error(
      `nats-server not found at ${NATS_SERVER_BIN}. Install it with 'apt-get update && apt-get install -y nats-server' ` +
        `or point NATS_SERVER_BIN at a nats-server binary.`,
    );
  }
}

/** A free TCP port on 127.0.0.1 (the OS picks it): the one the demo and the benchmarks use. */
export { freePort };

/** Options for {@link startNatsServer}. */
export interface NatsServerOptions {
  /** Port to listen on; default a free one. */
  port?: number;
  /** Enable JetStream (default true). */
  jetstream?: boolean;
  /** Extra configuration-file text appended to the generated config (users, permissions, tls…). */
  config?: string;
  /** Cluster settings, used by {@link startNatsCluster}. */
  cluster?: { name: string; port: number; routes: number[]; serverName: string };
  /** Data folder (default a new temporary folder). */
  storeDir?: string;
}

/** A running nats-server that a test controls. */
export interface NatsServer {
  readonly port: number;
  readonly url: string;
  readonly storeDir: string;
  /** The server process's pid (changes on restart). */
  readonly pid: number | undefined;
  /** Graceful stop (SIGTERM) and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: a crash, not a shutdown. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data folder. */
  restart(): Promise<void>;
  /** Stops it and deletes its data folder. */
  dispose(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Starts a nats-server and resolves once it accepts connections (and JetStream is ready). */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  assertBinary();
  const port = opts.port ?? (await freePort());
  const storeDir = opts.storeDir ?? mkdtempSync(join(tmpdir(), "sb-nats-"));
  const configFile = join(storeDir, "nats.conf");
  const lines = [`listen: "127.0.0.1:${port}"`, `max_payload: 1048576`];
  if (opts.jetstream !== false) lines.push(`jetstream { store_dir: ${JSON.stringify(join(storeDir, "js"))} }`);
  if (opts.cluster) {
    lines.push(`server_name: ${opts.cluster.serverName}`);
    lines.push(
      `cluster { name: ${opts.cluster.name}, listen: "127.0.0.1:${opts.cluster.port}", routes: [${opts.cluster.routes
        .map((p) => `"nats-route://127.0.0.1:${p}"`)
        .join(", ")}] }`,
    );
  }
  if (opts.config) lines.push(opts.config);
  writeFileSync(configFile, lines.join("\n") + "\n");

  let child: ChildProcess | undefined;
  let output = "";

  const launch = async (): Promise<void> => {
    output = "";
    child = spawn(NATS_SERVER_BIN, ["-c", configFile], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.on("data", (d) => (output = (output + d).slice(-8000)));
    child.stderr?.on("data", (d) => (output = (output + d).slice(-8000)));
    const started = Date.now();
    while (Date.now() - started < 15_000) {
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}:\n${output}`);
      if (/Server is ready/.test(output) && (await acceptsConnections(port))) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill("SIGKILL");
    throw new Error(`nats-server on port ${port} did not become ready:\n${output}`);
  };

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    if (!child) return;
    const c = child;
    child = undefined;
    if (c.exitCode === null && c.signalCode === null) c.kill(signal);
    await exited(c);
  };

  await launch();
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    storeDir,
    get pid() {
      return child?.pid;
    },
    stop: () => halt("SIGTERM"),
    kill: () => halt("SIGKILL"),
    restart: async () => {
      await halt("SIGTERM");
      await launch();
    },
    dispose: async () => {
      await halt("SIGKILL");
      if (!opts.storeDir) rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

/** A cluster of nats-servers with JetStream, routed to each other. */
export interface NatsCluster {
  readonly servers: NatsServer[];
  /** All client URLs, for a connection that fails over between nodes. */
  readonly urls: string[];
  dispose(): Promise<void>;
}

/** Starts an n-node (default 3) cluster with JetStream; resolves when every node is ready. */
export async function startNatsCluster(n = 3): Promise<NatsCluster> {
  const clusterPorts = await Promise.all(Array.from({ length: n }, () => freePort()));
  const name = `sb${Math.floor(Math.random() * 1e6)}`;
  const servers = await Promise.all(
    clusterPorts.map((port, i) =>
      startNatsServer({
        cluster: { name, port, routes: clusterPorts.filter((_, j) => j !== i), serverName: `${name}-n${i + 1}` },
      }),
    ),
  );
  return {
    servers,
    urls: servers.map((s) => s.url),
    dispose: async () => {
      await Promise.all(servers.map((s) => s.dispose()));
    },
  };
}

/** Removes a folder, ignoring errors (for test cleanup). */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
