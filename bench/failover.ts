/**
 * Failover benchmark: the time from the SIGKILL of an instance to its removal from the routing of
 * every client, and the calls that fail meanwhile, under steady idempotent load, at heartbeat
 * intervals of 1 s and 250 ms. Coordinator and instances run as separate processes; the clients
 * (each with its own connection and registry cache) and their load run in this process.
 * Target: removal within 1.5 heartbeat intervals, 0 failed calls.
 *
 * Each round first starts a spare instance and waits until every client routes it (so the start-up
 * CPU of a new process does not disturb the measurement), then waits a random fraction of an interval
 * (so the kill falls anywhere between two heartbeats) and SIGKILLs the oldest instance.
 *
 * `npx tsx bench/failover.ts [--quick] [--rate=<calls/s per client, 0: closed loop>] [--json]`, or
 * `run(opts)` from a driver (`npm run bench`).
 */
import { setDefaultLogLevel } from "../src/protocol/logger.js";
import { cpus } from "node:os";
import { findNatsServer, startLocalNats } from "../src/cli/demo/LocalNatsServer.js";
import { createClient, type Client, type RegistryCache } from "../src/client/index.js";
import { runIfMain } from "./common/runIfMain.js";
import { startWorker, type Worker } from "./common/workers.js";

/** Options of {@link run}. */
export interface FailoverBenchOptions {
  /** Fewer rounds (under 40 s in all). */
  quick?: boolean;
  /**
   * Configurations to measure: heartbeat interval, and optionally the coordinator's `suspectGrace`
   * (default 0.5: suspect 1.5 intervals after the last heartbeat). Default: 1 s and 250 ms with the
   * default grace, then with a grace of 0.3 (at 250 ms only when quick).
   */
  configs?: Array<{ heartbeatMs: number; suspectGrace?: number }>;
  /** Kills per interval (default: quick 3 at 1 s and 5 at 250 ms; full 10 and 20). */
  rounds?: (heartbeatMs: number) => number;
  /** Clients measured (default 3). */
  clients?: number;
  /** Live instances (default 3). */
  instances?: number;
  /** Concurrent callers per client (default 8). */
  concurrency?: number;
  /**
   * Calls per second per client (default 500: steady load that leaves the 2-core machine headroom,
   * as production does); 0 = closed loop as fast as the callers go (saturates the machine).
   */
  rate?: number;
  /** Where progress and the report go (default stdout). */
  log?: (line: string) => void;
}

/** Figures of one heartbeat interval. */
export interface FailoverResult {
  heartbeatMs: number;
  /** The coordinator's suspectGrace (undefined: its default, 0.5). */
  suspectGrace: number | undefined;
  rounds: number;
  clients: number;
  /** Per round: ms from SIGKILL until the last client stopped routing to the instance. */
  removalMs: number[];
  /** Per round and client. */
  perClientMs: number[][];
  medianMs: number;
  maxMs: number;
  /** maxMs in heartbeat intervals. */
  maxIntervals: number;
  calls: number;
  /** Achieved load, all clients together. */
  callsPerSecond: number;
  /** Failed calls between a SIGKILL and the instance's removal from every client's routing. */
  failedDuringFailover: number;
  /** Failed calls over the whole run. */
  failed: number;
  /** Retries the clients made (what the kills cost instead of failures). */
  retries: number;
  noResponders: number;
  timeouts: number;
  /** The first few failures. */
  errors: string[];
}

/** What {@link run} returns. */
export interface FailoverBenchReport {
  results: FailoverResult[];
  natsServerVersion: string;
  node: string;
  cpus: number;
  markdown: string;
}

const now = () => performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const started = now();
  while (!check()) {
    if (now() - started > timeoutMs) throw new Error(`failover bench: timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(2);
  }
}

/** Steady load of idempotent calls on one client, paced to `rate` calls/s (0: closed loop); failures are time-stamped. */
function load(client: Client, concurrency: number, rate: number) {
  let running = true;
  const stats = { calls: 0, failed: [] as number[], errors: [] as string[] };
  const gapMs = rate > 0 ? (1000 * concurrency) / rate : 0;
  const workers = Array.from({ length: concurrency }, async (_, w) => {
    let due = now() + (gapMs * w) / concurrency;
    while (running) {
      stats.calls++;
      try {
        await client.call("failover", "whoami", undefined, { idempotent: true });
      } catch (e) {
        stats.failed.push(now());
        if (stats.errors.length < 5) stats.errors.push(`${(e as Error).name}: ${(e as Error).message}`);
      }
      if (gapMs > 0) {
        due += gapMs;
        await sleep(Math.max(0, due - now()));
      } else await sleep(0);
    }
  });
  return {
    stats,
    stop: async () => {
      running = false;
      await Promise.all(workers);
    },
  };
}

/** A coordinator or instance process that printed `READY <id>`, and that id. */
interface Started {
  worker: Worker;
  id: string;
}

async function start(name: "instance" | "coordinator", env: Record<string, string>): Promise<Started> {
  // Instances are the agent process the tests use too (bench/common/agentProcess.ts), serving `whoami`.
  const script = name === "instance" ? new URL("./common/agentProcess", import.meta.url) : new URL("./failover/coordinator", import.meta.url);
  const worker = startWorker({ script, env: name === "instance" ? { ...env, SB_SERVICE: "failover", SB_METRICS_MS: "0", SB_MAX_IN_FLIGHT: "100000" } : env, readyTimeoutMs: 20_000 });
  return { worker, id: await worker.ready };
}

async function measure(url: string, heartbeatMs: number, suspectGrace: number | undefined, rounds: number, o: Required<Pick<FailoverBenchOptions, "clients" | "instances" | "concurrency" | "rate">>, log: (l: string) => void): Promise<FailoverResult> {
  const prefix = `fo${heartbeatMs}x${Math.floor(Math.random() * 1e6).toString(36)}`;
  const env = { NATS_URL: url, SB_PREFIX: prefix, SB_HEARTBEAT_MS: String(heartbeatMs) };
  const workers: Worker[] = [];
  const clients: Client[] = [];
  try {
    workers.push((await start("coordinator", suspectGrace === undefined ? env : { ...env, SB_SUSPECT_GRACE: String(suspectGrace) })).worker);
    const live: Started[] = await Promise.all(Array.from({ length: o.instances }, () => start("instance", env)));
    workers.push(...live.map((s) => s.worker));
    for (let i = 0; i < o.clients; i++) {
      // Realistic call settings for a service answering in about a millisecond: a request lost inside
      // a killed process is retried after 1 s at most; retries wait 10-100 ms (full jitter).
      clients.push(await createClient({ servers: url, prefix, timeoutMs: 1000, backoff: { baseMs: 10, capMs: 100 } }).start());
    }
    const caches = clients.map((c) => c.registry as RegistryCache);
    const routes = (c: RegistryCache, id: string) => c.instances("failover").some((v) => v.instance.id === id);
    await until(() => live.every((w) => caches.every((c) => routes(c, w.id))), 15_000, "every client to route every instance");
    // When each client stopped routing to each instance.
    const leftAt = caches.map(() => new Map<string, number>());
    caches.forEach((c, i) =>
      c.onChange((ch) => {
        if (ch.previous === "up" && ch.type !== "up" && !leftAt[i]!.has(ch.id)) leftAt[i]!.set(ch.id, now());
      }),
    );
    const loads = clients.map((c) => load(c, o.concurrency, o.rate));
    const loadStarted = now();
    await sleep(Math.max(500, heartbeatMs));
    const removalMs: number[] = [];
    const perClientMs: number[][] = [];
    const windows: Array<[number, number]> = [];
    for (let r = 0; r < rounds; r++) {
      const spare = await start("instance", env);
      workers.push(spare.worker);
      live.push(spare);
      await until(() => caches.every((c) => routes(c, spare.id)), 15_000, "the spare instance to be routed");
      await sleep(200 + Math.random() * heartbeatMs);
      const victim = live.shift()!;
      const killedAt = now();
      victim.worker.child.kill("SIGKILL");
      await until(() => leftAt.every((m) => m.has(victim.id)), 20 * heartbeatMs, `every client to stop routing to ${victim.id}`);
      const per = leftAt.map((m) => m.get(victim.id)! - killedAt);
      perClientMs.push(per);
      removalMs.push(Math.max(...per));
      windows.push([killedAt, killedAt + Math.max(...per)]);
      log(`  heartbeat ${heartbeatMs} ms${suspectGrace === undefined ? "" : `, suspectGrace ${suspectGrace}`}, kill ${r + 1}/${rounds}: left every client's routing after ${Math.max(...per).toFixed(0)} ms (${per.map((x) => x.toFixed(0)).join(" / ")})`);
      await victim.worker.kill();
    }
    await sleep(200);
    await Promise.all(loads.map((l) => l.stop()));
    const loadSeconds = (now() - loadStarted) / 1000;
    const failedTimes = loads.flatMap((l) => l.stats.failed);
    const s = clients.map((c) => c.stats());
    const maxMs = Math.max(...removalMs);
    return {
      heartbeatMs,
      suspectGrace,
      rounds,
      clients: o.clients,
      removalMs,
      perClientMs,
      medianMs: median(removalMs),
      maxMs,
      maxIntervals: maxMs / heartbeatMs,
      calls: loads.reduce((a, l) => a + l.stats.calls, 0),
      callsPerSecond: loads.reduce((a, l) => a + l.stats.calls, 0) / loadSeconds,
      failedDuringFailover: failedTimes.filter((t) => windows.some(([a, b]) => t >= a && t <= b)).length,
      failed: failedTimes.length,
      retries: s.reduce((a, x) => a + x.retries, 0),
      noResponders: s.reduce((a, x) => a + x.noResponders, 0),
      timeouts: s.reduce((a, x) => a + x.timeouts, 0),
      errors: loads.flatMap((l) => l.stats.errors).slice(0, 5),
    };
  } finally {
    await Promise.all(clients.map((c) => c.stop().catch(() => {})));
    await Promise.all(workers.map((w) => w.kill()));
  }
}

function markdown(results: FailoverResult[]): string {
  const rows = results.map((r) => {
    const ok = r.maxIntervals <= 1.5 && r.failed === 0;
    return (
      `| ${r.heartbeatMs} ms | ${r.suspectGrace ?? "0.5 (default)"} | ${r.rounds} × ${r.clients} clients | ${r.medianMs.toFixed(0)} ms | ${r.maxMs.toFixed(0)} ms ` +
      `(${r.maxIntervals.toFixed(2)} intervals) | ${r.calls.toLocaleString("en-US")} (${Math.round(r.callsPerSecond).toLocaleString("en-US")}/s) | ${r.failedDuringFailover} / ${r.failed} | ` +
      `${r.retries} (${r.noResponders} no responders, ${r.timeouts} timeouts) | ${ok ? "met" : "missed"} |`
    );
  });
  return [
    "| heartbeat | suspectGrace | kills | removal from every client's routing: median | max | calls | failed during failover / in all | retries | target ≤ 1.5 intervals, 0 failed |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

/** Runs the benchmark and returns (and logs) the report. */
export async function run(opts: FailoverBenchOptions = {}): Promise<FailoverBenchReport> {
  const log = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const configs =
    opts.configs ??
    (opts.quick
      ? [{ heartbeatMs: 1000 }, { heartbeatMs: 250 }, { heartbeatMs: 250, suspectGrace: 0.3 }]
      : [{ heartbeatMs: 1000 }, { heartbeatMs: 250 }, { heartbeatMs: 1000, suspectGrace: 0.3 }, { heartbeatMs: 250, suspectGrace: 0.3 }]);
  const rounds = opts.rounds ?? ((hb: number) => (opts.quick ? (hb >= 1000 ? 3 : 5) : hb >= 1000 ? 10 : 20));
  const o = { clients: opts.clients ?? 3, instances: opts.instances ?? 3, concurrency: opts.concurrency ?? 8, rate: opts.rate ?? 500 };
  const server = await startLocalNats(findNatsServer(), { jetstream: false, detached: false });
  const results: FailoverResult[] = [];
  try {
    for (const c of configs) results.push(await measure(server.url, c.heartbeatMs, c.suspectGrace, rounds(c.heartbeatMs), o, log));
  } finally {
    await server.stop();
  }
  const md = markdown(results);
  log("");
  log(`Failover (${cpus().length} CPUs, Node ${process.version}, nats-server ${server.version}, ${o.instances} instances, ${o.clients} clients × ${o.concurrency} concurrent idempotent callers, ${o.rate > 0 ? `${o.rate} calls/s per client` : "closed loop"})`);
  log(md);
  for (const r of results) if (r.errors.length) log(`  heartbeat ${r.heartbeatMs} ms, first failures: ${r.errors.join(" | ")}`);
  return { results, natsServerVersion: server.version, node: process.version, cpus: cpus().length, markdown: md };
}

runIfMain(import.meta.url, async (argv) => {
  process.env.SB_LOG_LEVEL ??= "warn";
  setDefaultLogLevel(process.env.SB_LOG_LEVEL);
  const json = argv.includes("--json");
  const started = Date.now();
  const rateArg = argv.find((a) => a.startsWith("--rate="));
  const r = await run({ quick: argv.includes("--quick"), ...(rateArg ? { rate: Number(rateArg.slice(7)) } : {}), ...(json ? { log: () => {} } : {}) });
  if (json) process.stdout.write(`${JSON.stringify(r.results, null, 2)}\n`);
  process.stderr.write(`finished in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
});
