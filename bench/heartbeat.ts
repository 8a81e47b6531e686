/**
 * Coordinator benchmark, three measurements on one JetStream nats-server, every party in its own process:
 *
 * 1. Heartbeat ingestion: simulated instances (a publisher process: announces, then heartbeats as fast
 *    as the consumer takes them) against a coordinator process, and against a bare subscriber process
 *    that only JSON.parses each heartbeat — the ceiling. Same run, same server, same flow control.
 * 2. Memory: RSS (and heap after a forced GC) of a coordinator process holding 0 / 1 000 / 10 000 /
 *    50 000 instances that heartbeat once a second.
 * 3. Registry query latency at 10 000 instances (round trip from a client, hdr-histogram-js): the whole
 *    registry (split into parts past max_payload) and one service's instances.
 *
 * `npx tsx bench/heartbeat.ts [--quick] [--markdown]`, or `run(opts)` from a driver.
 * Profile the coordinator with BENCH_NODE_FLAGS=--cpu-prof (profiles land in the working folder).
 */
import { cpus } from "node:os";
import { connect, createInbox, type NatsConnection } from "@nats-io/transport-node";
import * as hdr from "hdr-histogram-js";
import { findNatsServer, startLocalNats, type LocalNats } from "../src/cli/demo/LocalNatsServer.js";
import { queryRegistry } from "../src/client/index.js";
import { Subjects } from "../src/protocol/index.js";
import { bundleWorker } from "./common/bundleWorker.js";
import { runIfMain } from "./common/runIfMain.js";
import { startWorker } from "./common/workers.js";

/** Options of {@link run}. */
export interface HeartbeatBenchOptions {
  /** Short runs (about 40 s in all; no 50 000-instance memory run). */
  quick?: boolean;
  /** Simulated instances for the ingestion measurement (default 10 000). */
  instances?: number;
  warmupMs?: number;
  measureMs?: number;
  /** Alternating rounds per variant (the machine may be shared; the median counts). */
  rounds?: number;
  /** Registry sizes for the memory measurement (default 0, 1 000, 10 000, 50 000; without 50 000 with --quick). */
  memorySizes?: number[];
  /**
   * Node flags for a second, tuned memory measurement of the coordinator (default
   * `--max-semi-space-size=4`: V8 otherwise grows its young generation to 2 × 16 MB under a steady
   * stream of short-lived heartbeat objects). Empty: skip it.
   */
  tunedNodeFlags?: string[];
  /** Registry sizes for the tuned measurement (default all memorySizes; 10 000 only with --quick). */
  tunedSizes?: number[];
  /** Steady-state time before reading memory, ms. */
  steadyMs?: number;
  /** Queries per kind for the latency measurement. */
  queries?: number;
  /** Where progress and the report go (default stdout). */
  log?: (line: string) => void;
}

/** Ingestion rate of one variant. */
export interface IngestResult {
  variant: "bare" | "coordinator";
  heartbeats: number;
  seconds: number;
  /** Heartbeats per second. */
  rate: number;
}

/** Memory of a coordinator holding `instances`. */
export interface MemoryResult {
  instances: number;
  /** Node flags of the coordinator process ("" = defaults). */
  nodeFlags: string;
  /** Resident set size in steady state (max over the last second), MB. */
  rssMB: number;
  /** RSS and V8 heap after a forced GC, MB. */
  rssAfterGcMB: number;
  heapAfterGcMB: number;
  /** V8 heap reserved, and memory outside it (buffers), after the GC, MB. */
  heapTotalMB: number;
  externalMB: number;
}

interface Memory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

/** Latency of one kind of query, ms. */
export interface QueryResult {
  kind: string;
  instancesPerReply: number;
  queries: number;
  p50: number;
  p99: number;
  max: number;
}

/** What {@link run} returns. */
export interface HeartbeatBenchReport {
  /** Median of the rounds, bare subscriber then coordinator. */
  ingest: IngestResult[];
  /** Every round. */
  rounds: IngestResult[];
  /** Coordinator rate / bare subscriber rate. */
  ratio: number;
  memory: MemoryResult[];
  query: QueryResult[];
  natsServerVersion: string;
  node: string;
  cpus: number;
  /** How the worker processes ran (bare node, or tsx whose loader adds ~37 MB RSS). */
  runtime: string;
  markdown: string;
}

interface Progress {
  count: number;
  t: number;
  instances: number;
  persisted: number;
  rss: number;
}

/**
 * The worker scripts, bundled to plain JavaScript under tsx (see bundleWorker: the TypeScript loader
 * would add ~37 MB to the coordinator's measured RSS).
 */
interface Scripts {
  consumer: string;
  publisher: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (bytes: number) => Math.round((bytes / (1024 * 1024)) * 10) / 10;
let seq = 0;
const freshPrefix = (what: string) => `hb${what}${process.pid}x${++seq}`;

function watchProgress(nc: NatsConnection, prefix: string) {
  const samples: Progress[] = [];
  const sub = nc.subscribe(`${prefix}.bench.progress`, {
    callback: (_e, m) => {
      samples.push(JSON.parse(m.string()) as Progress);
      if (samples.length > 10_000) samples.splice(0, 5_000);
    },
  });
  return { samples, last: () => samples[samples.length - 1], stop: () => sub.unsubscribe() };
}

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * A registry query that only waits for every reply part to arrive (no JSON parsing, no validation):
 * the coordinator's answer time plus the transfer, without the client's decoding.
 */
function rawQuery(nc: NatsConnection, s: Subjects, query: Record<string, unknown>): Promise<void> {
  const inbox = createInbox();
  return new Promise<void>((resolve, reject) => {
    let got = 0;
    const timer = setTimeout(() => {
      sub.unsubscribe();
      reject(new Error("raw query timed out"));
    }, 10_000);
    const sub = nc.subscribe(inbox, {
      callback: (_e, m) => {
        got++;
        const head = Buffer.from(m.data.buffer, m.data.byteOffset, Math.min(300, m.data.length)).toString("latin1");
        const parts = Number(/"parts":(\d+)/.exec(head)?.[1] ?? 1);
        if (got >= parts) {
          clearTimeout(timer);
          sub.unsubscribe();
          resolve();
        }
      },
    });
    nc.publish(s.registryQuery, JSON.stringify({ v: 1, ...query }), { reply: inbox });
  });
}

/** Lets the publisher start heartbeating once the consumer holds every instance and has stopped writing to KV. */
async function startHeartbeats(nc: NatsConnection, prefix: string, progress: ReturnType<typeof watchProgress>, n: number, variant: string) {
  if (variant !== "bare") {
    await waitUntil(() => (progress.last()?.instances ?? -1) >= n, 120_000, `${n} instances announced`);
    let last = -1;
    let stableSince = Date.now();
    await waitUntil(() => {
      const p = progress.last()!.persisted;
      if (p !== last) {
        last = p;
        stableSince = Date.now();
      }
      return p >= n && Date.now() - stableSince > 300;
    }, 120_000, "persistence to settle");
  }
  nc.publish(`${prefix}.bench.go`, "");
  await nc.flush();
}

async function ingest(server: LocalNats, scripts: Scripts, nc: NatsConnection, variant: "bare" | "coordinator", o: Required<Pick<HeartbeatBenchOptions, "instances" | "warmupMs" | "measureMs">>): Promise<IngestResult> {
  const prefix = freshPrefix(variant);
  const progress = watchProgress(nc, prefix);
  await nc.flush();
  const consumer = startWorker({ script: scripts.consumer, env: { NATS_URL: server.url, SB_PREFIX: prefix, VARIANT: variant } });
  await consumer.ready;
  const publisher = startWorker({ script: scripts.publisher, env: { NATS_URL: server.url, SB_PREFIX: prefix, N: String(o.instances) } });
  try {
    await publisher.ready;
    await startHeartbeats(nc, prefix, progress, o.instances, variant);
    await waitUntil(() => (progress.last()?.count ?? 0) > 0, 10_000, "first heartbeats");
    await sleep(o.warmupMs);
    const p0 = progress.last()!;
    await sleep(o.measureMs);
    const p1 = progress.last()!;
    const seconds = (p1.t - p0.t) / 1000;
    const heartbeats = p1.count - p0.count;
    return { variant, heartbeats, seconds, rate: heartbeats / seconds };
  } finally {
    await publisher.stop();
    await consumer.stop();
    progress.stop();
    const r = publisher.results[0] as { waitedMs: number; elapsedMs: number } | undefined;
    if (r && process.env.BENCH_DEBUG) process.stderr.write(`  publisher waited ${Math.round((100 * r.waitedMs) / r.elapsedMs)} % of the time for ${variant}\n`);
  }
}

async function memoryAndQueries(
  server: LocalNats,
  scripts: Scripts,
  nc: NatsConnection,
  n: number,
  o: { steadyMs: number; queries: number; queryAt: number; nodeFlags: string[] },
): Promise<{ memory: MemoryResult; query: QueryResult[] }> {
  const prefix = freshPrefix(`mem${n}`);
  const progress = watchProgress(nc, prefix);
  await nc.flush();
  const consumer = startWorker({
    script: scripts.consumer,
    env: { NATS_URL: server.url, SB_PREFIX: prefix, VARIANT: "coordinator", PROGRESS_MS: "100" },
    nodeFlags: ["--expose-gc", ...o.nodeFlags],
  });
  await consumer.ready;
  const publisher =
    n > 0
      ? startWorker({ script: scripts.publisher, env: { NATS_URL: server.url, SB_PREFIX: prefix, N: String(n), HEARTBEAT_MS: "1000", RATE: String(n) } })
      : undefined;
  const query: QueryResult[] = [];
  try {
    await publisher?.ready;
    if (publisher) await startHeartbeats(nc, prefix, progress, n, "coordinator");
    await waitUntil(() => (progress.last()?.instances ?? -1) >= n, 60_000, `${n} instances`);
    await sleep(o.steadyMs);
    const recent = progress.samples.slice(-10);
    const rss = Math.max(...recent.map((p) => p.rss));
    const after = JSON.parse((await nc.request(`${prefix}.bench.memory`, "", { timeout: 10_000 })).string()) as Memory;
    const memory: MemoryResult = {
      instances: n,
      nodeFlags: o.nodeFlags.join(" "),
      rssMB: mb(rss),
      rssAfterGcMB: mb(after.rss),
      heapAfterGcMB: mb(after.heapUsed),
      heapTotalMB: mb(after.heapTotal),
      externalMB: mb(after.external),
    };
    if (n === o.queryAt) {
      const s = new Subjects(prefix);
      const one = await queryRegistry(nc, s, { service: "svc-7" }, { timeoutMs: 10_000 });
      const all = await queryRegistry(nc, s, {}, { timeoutMs: 10_000 });
      for (const [kind, q, per, decode] of [
        ["one service, answered", { service: "svc-7" }, one.instances.length, false],
        ["one service, answered + decoded", { service: "svc-7" }, one.instances.length, true],
        ["whole registry, answered", {}, all.instances.length, false],
        ["whole registry, answered + decoded", {}, all.instances.length, true],
      ] as const) {
        const ask = () => (decode ? queryRegistry(nc, s, q, { timeoutMs: 10_000 }) : rawQuery(nc, s, q));
        const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
        for (let i = 0; i < Math.min(20, o.queries); i++) await ask(); // warm-up
        for (let i = 0; i < o.queries; i++) {
          const t0 = performance.now();
          await ask();
          h.recordValue(Math.round((performance.now() - t0) * 1000));
        }
        query.push({
          kind,
          instancesPerReply: per,
          queries: o.queries,
          p50: h.getValueAtPercentile(50) / 1000,
          p99: h.getValueAtPercentile(99) / 1000,
          max: h.maxValue / 1000,
        });
        h.destroy();
        if (!decode) {
          // The coordinator's own time for exactly these queries (its last o.queries answers).
          const st = JSON.parse((await nc.request(`${prefix}.bench.stats`, String(o.queries), { timeout: 5000 })).string()) as {
            queries: { p50Ms: number; p99Ms: number; maxMs: number; p50CpuMs: number; p99CpuMs: number };
          };
          query.push({
            kind: `${kind.split(",")[0]}, inside the coordinator (encode + publish), wall`,
            instancesPerReply: per,
            queries: o.queries,
            p50: st.queries.p50Ms,
            p99: st.queries.p99Ms,
            max: st.queries.maxMs,
          });
          query.push({
            kind: `${kind.split(",")[0]}, inside the coordinator (encode + publish), CPU`,
            instancesPerReply: per,
            queries: o.queries,
            p50: st.queries.p50CpuMs,
            p99: st.queries.p99CpuMs,
            max: NaN,
          });
        }
      }
    }
    return { memory, query };
  } finally {
    await publisher?.stop();
    await consumer.stop();
    progress.stop();
  }
}

/** The run with the median rate (the lower middle one for an even count). */
function median(runs: IngestResult[]): IngestResult | undefined {
  const sorted = [...runs].sort((a, b) => a.rate - b.rate);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

function table(headers: string[], rows: Array<Array<string | number>>): string {
  return [`| ${headers.join(" | ")} |`, `|${headers.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

/** Runs the coordinator benchmark and returns (and logs) its figures. */
export async function run(opts: HeartbeatBenchOptions = {}): Promise<HeartbeatBenchReport> {
  const quick = opts.quick ?? false;
  const log = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const o = {
    instances: opts.instances ?? 10_000,
    warmupMs: opts.warmupMs ?? (quick ? 500 : 1000),
    measureMs: opts.measureMs ?? (quick ? 2000 : 5000),
  };
  const rounds = opts.rounds ?? (quick ? 2 : 3);
  // 50 000 instances take ~15 s to announce and persist on 2 cores: full runs only.
  const memorySizes = opts.memorySizes ?? (quick ? [0, 1_000, 10_000] : [0, 1_000, 10_000, 50_000]);
  const steadyMs = opts.steadyMs ?? (quick ? 1500 : 5000);
  const tunedFlags = opts.tunedNodeFlags ?? ["--max-semi-space-size=4"];
  const tunedSizes = opts.tunedSizes ?? (quick ? memorySizes.filter((n) => n === 10_000) : memorySizes);
  const queries = opts.queries ?? (quick ? 100 : 500);

  const consumerScript = await bundleWorker(new URL("./heartbeat/consumer", import.meta.url));
  const publisherScript = await bundleWorker(new URL("./heartbeat/publisher", import.meta.url));
  const scripts: Scripts = { consumer: consumerScript.script, publisher: publisherScript.script };
  const server = await startLocalNats(findNatsServer(), { detached: false });
  const nc = await connect({ servers: server.url, noAsyncTraces: true });
  try {
    log(`heartbeat ingestion: ${o.instances} simulated instances, ${rounds} alternating rounds of ${o.measureMs} ms per variant`);
    const runs: IngestResult[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const variant of ["bare", "coordinator"] as const) {
        const res = await ingest(server, scripts, nc, variant, o);
        runs.push(res);
        log(`  round ${r + 1} ${variant}: ${Math.round(res.rate)} heartbeats/s`);
      }
    }
    const none: IngestResult = { variant: "bare", heartbeats: 0, seconds: 0, rate: NaN };
    const bare = median(runs.filter((x) => x.variant === "bare")) ?? none;
    const coord = median(runs.filter((x) => x.variant === "coordinator")) ?? { ...none, variant: "coordinator" };
    const ratio = coord.rate / bare.rate;

    const memory: MemoryResult[] = [];
    const query: QueryResult[] = [];
    for (const n of memorySizes) {
      log(`coordinator memory with ${n} instances${n === 10_000 ? " (and query latency)" : ""}`);
      const r = await memoryAndQueries(server, scripts, nc, n, { steadyMs, queries, queryAt: 10_000, nodeFlags: [] });
      memory.push(r.memory);
      query.push(...r.query);
    }
    if (tunedFlags.length > 0) {
      for (const n of tunedSizes) {
        log(`coordinator memory with ${n} instances, ${tunedFlags.join(" ")}`);
        const r = await memoryAndQueries(server, scripts, nc, n, { steadyMs, queries, queryAt: -1, nodeFlags: tunedFlags });
        memory.push(r.memory);
      }
    }

    const roundsOf = (v: string) =>
      runs
        .filter((x) => x.variant === v)
        .map((x) => Math.round(x.rate))
        .join(" / ");
    const markdown = [
      table(
        ["variant", "heartbeats/s (median)", "rounds", "vs bare"],
        [
          ["bare subscriber (JSON.parse only)", Math.round(bare.rate), roundsOf("bare"), "1.00"],
          ["coordinator", Math.round(coord.rate), roundsOf("coordinator"), ratio.toFixed(2)],
        ],
      ),
      "",
      table(
        ["instances", "node flags", "RSS MB (steady)", "RSS MB (after GC)", "heap used MB (after GC)", "heap total MB", "external MB"],
        memory.map((m) => [m.instances, m.nodeFlags || "(defaults)", m.rssMB, m.rssAfterGcMB, m.heapAfterGcMB, m.heapTotalMB, m.externalMB]),
      ),
      "",
      table(
        ["query at 10 000 instances", "instances in the answer", "queries", "p50 ms", "p99 ms", "max ms"],
        query.map((q) => [q.kind, q.instancesPerReply, q.queries, q.p50.toFixed(2), q.p99.toFixed(2), Number.isNaN(q.max) ? "–" : q.max.toFixed(2)]),
      ),
    ].join("\n");
    const report: HeartbeatBenchReport = {
      ingest: [bare, coord],
      rounds: runs,
      ratio,
      memory,
      query,
      natsServerVersion: server.version,
      node: process.version,
      cpus: cpus().length,
      runtime: consumerScript.runtime,
      markdown,
    };
    log("");
    log(`Node ${report.node}, nats-server ${report.natsServerVersion}, ${report.cpus} CPUs, workers on ${report.runtime}`);
    log(markdown);
    return report;
  } finally {
    await nc.close();
    await server.stop();
  }
}

runIfMain(import.meta.url, (argv) => run({ quick: argv.includes("--quick") }));
