/**
 * Call-path benchmark: `client.call` against raw nats.js `nc.request()` (defaults, and
 * `noAsyncTraces: true`), a minimal multiplexed request on plain publish/subscribe (the practical
 * ceiling; against a bare echo responder and against the Switchboard agent), and Moleculer 0.14 with
 * its NATS transporter. One nats-server; the callee(s) and each caller in separate processes; echo
 * payloads of 100 B and 10 KB; closed loop at concurrency 1, 16 and 128. Prints calls/s, latency
 * percentiles (hdr-histogram-js), caller CPU per call, and the ratios.
 *
 * `npx tsx bench/call.ts [--quick] [--markdown]`, or `run(opts)` from a driver.
 */
import { setDefaultLogLevel } from "../src/protocol/logger.js";
import { cpus, loadavg } from "node:os";
import { findNatsServer, startLocalNats } from "../src/cli/demo/LocalNatsServer.js";
import { createCoordinator } from "../src/coordinator/index.js";
import type { CallResult, Variant } from "./call/caller.js";
import { runIfMain } from "./common/runIfMain.js";
import { startWorker, type Worker } from "./common/workers.js";

export type { CallResult, Variant };

/** Options of {@link run}. */
export interface CallBenchOptions {
  /** Short runs (finishes well under two minutes). */
  quick?: boolean;
  variants?: Variant[];
  payloads?: number[];
  concurrencies?: number[];
  warmupMs?: number;
  measureMs?: number;
  /**
   * Rounds of the whole set (default 1 with quick, else 3). Each scenario reports the round with the
   * median throughput, which filters out a round disturbed by other work on the machine.
   */
  rounds?: number;
  /** Where progress and the report go (default: stdout). */
  log?: (line: string) => void;
}

/** What {@link run} returns. */
export interface CallBenchReport {
  results: CallResult[];
  natsServerVersion: string;
  node: string;
  cpus: number;
  /** 1-minute load average before and after the run: other work on the machine skews the figures. */
  loadBefore: number;
  loadAfter: number;
  /** The report as Markdown tables. */
  markdown: string;
}

const ALL_VARIANTS: Variant[] = ["mux", "mux-agent", "client.call", "client.call+otel", "nc.request-noAsyncTraces", "nc.request", "moleculer"];

const LABEL: Record<Variant, string> = {
  "client.call": "**client.call** (agent callee)",
  "client.call+otel": "client.call, OpenTelemetry SDK in the caller",
  "mux-agent": "multiplexed ceiling → agent callee",
  mux: "multiplexed ceiling → bare echo",
  "nc.request-noAsyncTraces": "nc.request(), noAsyncTraces",
  "nc.request": "nc.request(), defaults",
  moleculer: "Moleculer 0.14 (NATS)",
};

/** Runs the benchmark and returns (and logs) the report. */
export async function run(opts: CallBenchOptions = {}): Promise<CallBenchReport> {
  const log = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const variants = opts.variants ?? ALL_VARIANTS;
  const payloads = opts.payloads ?? [100, 10_240];
  const concurrencies = opts.concurrencies ?? [1, 16, 128];
  const warmupMs = opts.warmupMs ?? (opts.quick ? 200 : 1000);
  const measureMs = opts.measureMs ?? (opts.quick ? 700 : 3000);
  const rounds = Math.max(1, opts.rounds ?? (opts.quick ? 1 : 3));
  const prefix = "bench";
  const loadBefore = loadavg()[0]!;

  const server = await startLocalNats(findNatsServer(), { jetstream: false, detached: false });
  const workers: Worker[] = [];
  const coordinator = createCoordinator({ servers: server.url, prefix, jetstream: false });
  const all: CallResult[] = [];
  try {
    await coordinator.start();
    const worker = (name: string, env: Record<string, string>) => startWorker({ script: new URL(`./call/${name}`, import.meta.url), env });
    const callee = worker("callee", { NATS_URL: server.url, SB_PREFIX: prefix });
    workers.push(callee);
    const agentId = await callee.ready;
    if (variants.includes("moleculer")) {
      const mc = worker("moleculer-callee", { NATS_URL: server.url });
      workers.push(mc);
      await mc.ready;
    }
    const scenarios = payloads.flatMap((payloadBytes) => concurrencies.map((concurrency) => ({ payloadBytes, concurrency })));
    for (let round = 1; round <= rounds; round++) {
      if (rounds > 1) process.stderr.write(`round ${round} of ${rounds}\n`);
      for (const variant of variants) {
        const caller = worker("caller", {
          NATS_URL: server.url,
          NATS_PID: String(server.pid),
          SB_PREFIX: prefix,
          AGENT_ID: agentId,
          VARIANT: variant,
          SCENARIOS: JSON.stringify(scenarios),
          WARMUP_MS: String(warmupMs),
          MEASURE_MS: String(measureMs),
        });
        workers.push(caller);
        all.push(...((await caller.finished()) as CallResult[]));
        workers.pop();
      }
    }
  } finally {
    for (const w of workers.reverse()) await w.stop().catch(() => {});
    await coordinator.stop().catch(() => {});
    await server.stop();
  }
  const results = medianRounds(all);
  const loadAfter = loadavg()[0]!;
  const header = `nats-server ${server.version}, Node ${process.version}, ${cpus().length} CPUs; ${rounds} round(s) of ${warmupMs} ms warm-up + ${measureMs} ms per scenario (median round); load average ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after.`;
  const markdown = `${header}\n${report(results, payloads, concurrencies, variants)}`;
  log(markdown);
  return { results, natsServerVersion: server.version, node: process.version, cpus: cpus().length, loadBefore, loadAfter, markdown };
}

/** Per variant and scenario, the round with the median throughput. */
function medianRounds(all: CallResult[]): CallResult[] {
  const groups = new Map<string, CallResult[]>();
  for (const r of all) {
    const k = `${r.variant}|${r.payloadBytes}|${r.concurrency}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()].map((g) => g.sort((a, b) => a.rate - b.rate)[Math.floor((g.length - 1) / 2)]!);
}

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }) : "–";

/** Markdown tables: one per payload size, then the ratios. */
export function report(results: CallResult[], payloads: number[], concurrencies: number[], variants: Variant[]): string {
  const lines: string[] = [];
  const find = (v: Variant, p: number, c: number) => results.find((r) => r.variant === v && r.payloadBytes === p && r.concurrency === c);
  for (const p of payloads) {
    lines.push("", `Payload ${p >= 1024 ? `${p / 1024} KB` : `${p} B`}:`, "");
    lines.push(
      "| variant | concurrency | calls/s | p50 ms | p99 ms | p99.9 ms | CPU µs/call: caller | callee | nats-server | total | errors |",
    );
    lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const c of concurrencies) {
      for (const v of variants) {
        const r = find(v, p, c);
        if (!r) continue;
        const total = r.cpuUsPerCall + r.calleeCpuUsPerCall + r.serverCpuUsPerCall;
        lines.push(
          `| ${LABEL[v]} | ${c} | ${fmt(r.rate)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.p999, 2)} | ${fmt(r.cpuUsPerCall, 1)} | ${fmt(r.calleeCpuUsPerCall, 1)} | ${fmt(r.serverCpuUsPerCall, 1)} | ${fmt(total, 1)} | ${r.errors} |`,
        );
      }
    }
  }
  lines.push("", "Ratios of client.call throughput:", "");
  lines.push(
    "| payload | concurrency | ÷ ceiling (agent callee) | ÷ ceiling (bare echo) | ÷ Moleculer | ÷ nc.request() defaults | ÷ nc.request() noAsyncTraces |",
  );
  lines.push("|---|---:|---:|---:|---:|---:|---:|");
  for (const p of payloads) {
    for (const c of concurrencies) {
      const cc = find("client.call", p, c);
      if (!cc) continue;
      const ratio = (v: Variant) => {
        const r = find(v, p, c);
        return r && r.rate > 0 ? `${fmt(cc.rate / r.rate, 2)}×` : "–";
      };
      lines.push(
        `| ${p >= 1024 ? `${p / 1024} KB` : `${p} B`} | ${c} | ${ratio("mux-agent")} | ${ratio("mux")} | ${ratio("moleculer")} | ${ratio("nc.request")} | ${ratio("nc.request-noAsyncTraces")} |`,
      );
    }
  }
  return lines.join("\n");
}

/** `--quick`, `--variants a,b`, `--payloads 100,10240`, `--concurrency 1,16,128`, `--rounds n`, `--measure-ms`, `--warmup-ms`, `--json`. */
function parseArgs(argv: string[]): CallBenchOptions & { json?: boolean } {
  const o: CallBenchOptions & { json?: boolean } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const list = () => (argv[++i] ?? "").split(",").filter(Boolean);
    if (a === "--quick") o.quick = true;
    else if (a === "--json") o.json = true;
    else if (a === "--variants") o.variants = list() as Variant[];
    else if (a === "--payloads") o.payloads = list().map(Number);
    else if (a === "--concurrency") o.concurrencies = list().map(Number);
    else if (a === "--measure-ms") o.measureMs = Number(argv[++i]);
    else if (a === "--warmup-ms") o.warmupMs = Number(argv[++i]);
    else if (a === "--rounds") o.rounds = Number(argv[++i]);
  }
  return o;
}

runIfMain(import.meta.url, async (argv) => {
  process.env.SB_LOG_LEVEL ??= "warn";
  setDefaultLogLevel(process.env.SB_LOG_LEVEL);
  const args = parseArgs(argv);
  const started = Date.now();
  process.stderr.write(`call-path benchmark${args.quick ? " (quick)" : ""}: ${cpus().length} CPUs, Node ${process.version}\n`);
  const r = await run(args.json ? { ...args, log: () => {} } : args);
  if (args.json) process.stdout.write(`${JSON.stringify(r.results, null, 2)}\n`);
  process.stderr.write(`finished in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
});
