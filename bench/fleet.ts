/**
 * Fleet benchmark: Switchboard against Moleculer 0.14 with the same number of service instances (nodes)
 * over the same kind of nats-server, in one run.
 *
 * For each fleet size N (10, 100, 500, 2 000; --quick: 10, 100, 500) and each system, on a fresh
 * nats-server with its monitoring endpoint:
 *
 * - N service instances, many per process (each with its own NATS connection, as separate services
 *   would have), default heartbeat settings of each system (Switchboard: 1 s to the coordinators;
 *   Moleculer: 10 s, broadcast to every node, 30 s timeout); one Switchboard coordinator process;
 * - 3 consumers (a Switchboard client with its registry cache; a Moleculer broker);
 * - in steady state: messages and bytes per second through nats-server (`/varz` deltas), CPU of each
 *   process group (`/proc/<pid>/stat`), memory per consumer;
 * - time for a new consumer to know the whole registry;
 * - SIGKILL of one instance's process: time until it has left every consumer's routing.
 *
 * Then the fitted growth (exponent of a power law) of each measure, SVG charts (vega-lite, rendered
 * headless) and a markdown table. `npx tsx bench/fleet.ts [--quick] [--sizes 10,100] [--charts DIR]`,
 * or `run(opts)` from bench/run.ts.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { findNatsServer, freePort, startLocalNats, type LocalNats } from "../src/cli/demo/LocalNatsServer.js";
import { renderFleetCharts } from "./fleet/charts.js";
import { describeGrowth, fitPowerLaw } from "./fleet/growth.js";
import { runIfMain } from "./common/runIfMain.js";
import { startWorker, type Worker } from "./common/workers.js";

/** The two systems measured. */
export type FleetSystem = "switchboard" | "moleculer";

/** Options of {@link run}. */
export interface FleetBenchOptions {
  quick?: boolean;
  /** Fleet sizes (default 10, 100, 500, 2 000; without 2 000 with --quick). */
  sizes?: number[];
  /** Consumers that hold the registry (default 3). */
  consumers?: number;
  /** Steady-state measurement window, ms (default 12 000, --quick 6 000: Moleculer heartbeats every 10 s). */
  windowMs?: number;
  /**
   * Longest wait for a fleet and its consumers to come up, ms (default 300 000). A system that misses it
   * at one size is reported as not coming up there and is not tried at larger sizes.
   */
  startupLimitMs?: number;
  /** Folder for the SVG charts (default docs/fleet for a full run, a temporary folder with --quick). */
  chartsDir?: string;
  log?: (line: string) => void;
}

/** One system at one fleet size. */
export interface FleetResult {
  system: FleetSystem;
  instances: number;
  /** Messages per second through nats-server (in + out). */
  msgsPerSec: number;
  /** Bytes per second through nats-server (in + out). */
  bytesPerSec: number;
  /** CPU of the process groups, in % of one core. */
  cpu: { instances: number; consumers: number; coordinator: number; natsServer: number };
  /** Mean RSS and heap of a consumer, MB. */
  consumerRssMB: number;
  consumerHeapMB: number;
  /** A new consumer: ms from its connect to routing all N instances. */
  newConsumerMs: number;
  /** SIGKILL of one instance to its removal from every consumer's routing, ms (undefined: not within the limit). */
  removalMs: number | undefined;
  /** Time to bring the fleet up, s. */
  startupSec: number;
}

const PER_PROCESS = 250;
const CLK_TCK = 100;

/** utime + stime of a process, in seconds (0 once it is gone). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

interface Varz {
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
}

async function varz(port: number): Promise<Varz> {
  const res = await fetch(`http://127.0.0.1:${port}/varz`);
  return (await res.json()) as Varz;
}

/** Lines a consumer printed: READY, GONE and MEM. */
class ConsumerLines {
  readonly gone = new Map<string, number>();
  readonly mem: Array<{ rss: number; heap: number }> = [];
  onLine = (line: string): void => {
    const [kind, a, b] = line.split(" ");
    if (kind === "GONE" && a && b) this.gone.set(a, Number(b));
    else if (kind === "MEM") this.mem.push({ rss: Number(a), heap: Number(b) });
  };
}

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`fleet benchmark: ${what} not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Measures one system at one fleet size on its own nats-server. */
async function measure(
  system: FleetSystem,
  n: number,
  opts: Required<Pick<FleetBenchOptions, "consumers" | "windowMs" | "startupLimitMs">>,
  log: (l: string) => void,
): Promise<FleetResult | undefined> {
  const monitorPort = await freePort();
  const nats: LocalNats = await startLocalNats(findNatsServer(), { jetstream: false, detached: false, monitorPort });
  const workers: Worker[] = [];
  const prefix = "fleet";
  const env = { NATS_URL: nats.url, SB_PREFIX: prefix };
  const script = (name: string) => new URL(`./fleet/${system === "switchboard" ? "sb" : "mol"}-${name}`, import.meta.url);
  try {
    const started = Date.now();
    let coordinator: Worker | undefined;
    if (system === "switchboard") {
      coordinator = startWorker({ script: new URL("./failover/coordinator", import.meta.url), env });
      workers.push(coordinator);
      await coordinator.ready;
    }
    // N − 1 instances in processes of up to PER_PROCESS, and one alone in its own process: the victim.
    const fleet: Worker[] = [];
    for (let first = 0; first < n - 1; first += PER_PROCESS) {
      const count = Math.min(PER_PROCESS, n - 1 - first);
      fleet.push(startWorker({ script: script("instances"), env: { ...env, COUNT: String(count), FIRST: String(first) } }));
    }
    const victim = startWorker({ script: script("instances"), env: { ...env, COUNT: "1", FIRST: String(n - 1) } });
    workers.push(...fleet, victim);
    const deadline = started + opts.startupLimitMs;
    const upInTime = async (ready: Array<Promise<string>>) => {
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<false>((r) => (timer = setTimeout(() => r(false), Math.max(0, deadline - Date.now()))));
      const ok = await Promise.race([Promise.all(ready).then(() => true), limit]);
      clearTimeout(timer);
      return ok;
    };
    const tooSlow = () => {
      log(`  ${system} ${n}: the fleet and its consumers did not come up within ${opts.startupLimitMs / 1000} s`);
      return undefined;
    };
    if (!(await upInTime([...fleet, victim].map((w) => w.ready)))) return tooSlow();
    const consumerLines: ConsumerLines[] = [];
    const startConsumer = () => {
      const lines = new ConsumerLines();
      consumerLines.push(lines);
      const w = startWorker({ script: script("consumer"), env: { ...env, EXPECT: String(n) }, onLine: lines.onLine });
      workers.push(w);
      return w;
    };
    const consumers = Array.from({ length: opts.consumers }, startConsumer);
    if (!(await upInTime(consumers.map((c) => c.ready)))) return tooSlow();
    const startupSec = (Date.now() - started) / 1000;
    log(`  ${system} ${n}: fleet up in ${startupSec.toFixed(1)} s`);
    // Let start-up traffic (announces, Moleculer's INFO broadcasts) pass before the steady-state window.
    await sleep(2000);

    const groups: Record<keyof FleetResult["cpu"], Array<number | undefined>> = {
      instances: [...fleet, victim].map((w) => w.child.pid),
      consumers: consumers.map((w) => w.child.pid),
      coordinator: coordinator ? [coordinator.child.pid] : [],
      natsServer: [nats.pid],
    };
    const cpuOf = (pids: Array<number | undefined>) => pids.reduce<number>((sum, p) => sum + cpuSeconds(p), 0);
    const v0 = await varz(monitorPort);
    const c0 = Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, cpuOf(pids)]));
    const t0 = performance.now();
    await sleep(opts.windowMs);
    const v1 = await varz(monitorPort);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = Object.fromEntries(
      Object.entries(groups).map(([k, pids]) => [k, ((cpuOf(pids) - c0[k]!) / seconds) * 100]),
    ) as FleetResult["cpu"];
    const msgsPerSec = (v1.in_msgs + v1.out_msgs - v0.in_msgs - v0.out_msgs) / seconds;
    const bytesPerSec = (v1.in_bytes + v1.out_bytes - v0.in_bytes - v0.out_bytes) / seconds;

    for (const c of consumers) c.child.kill("SIGUSR2");
    await waitUntil(() => consumerLines.slice(0, consumers.length).every((l) => l.mem.length > 0), 10_000, "consumer memory reports");
    const mems = consumerLines.slice(0, consumers.length).map((l) => l.mem.at(-1)!);
    const consumerRssMB = mems.reduce((s, m) => s + m.rss, 0) / mems.length / 2 ** 20;
    const consumerHeapMB = mems.reduce((s, m) => s + m.heap, 0) / mems.length / 2 ** 20;

    const late = startConsumer();
    const newConsumerMs = Number(await late.ready);

    // SIGKILL the victim: how long until every consumer (the late one too) no longer routes to it.
    const victimId = `fleet-${n - 1}`;
    const killedAt = Date.now();
    await victim.kill();
    // Moleculer notices a silent node after its heartbeat timeout (30 s) and a check interval.
    const limitMs = system === "switchboard" ? 15_000 : 90_000;
    let removalMs: number | undefined;
    try {
      await waitUntil(() => consumerLines.every((l) => l.gone.has(victimId)), limitMs, "removal of the killed instance");
      removalMs = Math.max(...consumerLines.map((l) => l.gone.get(victimId)!)) - killedAt;
    } catch {
      removalMs = undefined;
    }
    const result: FleetResult = {
      system,
      instances: n,
      msgsPerSec,
      bytesPerSec,
      cpu,
      consumerRssMB,
      consumerHeapMB,
      newConsumerMs,
      removalMs,
      startupSec,
    };
    log(
      `  ${system} ${n}: ${msgsPerSec.toFixed(0)} msg/s, ${(bytesPerSec / 1024).toFixed(0)} KiB/s, CPU instances ${cpu.instances.toFixed(0)} % consumers ${cpu.consumers.toFixed(0)} % coordinator ${cpu.coordinator.toFixed(0)} % nats ${cpu.natsServer.toFixed(0)} %, consumer ${consumerRssMB.toFixed(0)} MB RSS, new consumer ${newConsumerMs.toFixed(0)} ms, removal ${removalMs ?? "—"} ms`,
    );
    return result;
  } finally {
    await Promise.allSettled(workers.map((w) => w.kill()));
    await nats.stop();
  }
}

const fmt = (x: number | undefined, digits = 0) =>
  x === undefined ? "—" : x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** The markdown report: one row per size and system, then the fitted growth of each measure. */
export function fleetMarkdown(results: readonly FleetResult[]): string {
  const rows = [
    "| system | instances | bus msg/s | bus KiB/s | CPU instances % | CPU consumers % | CPU coordinator % | CPU nats-server % | RSS / heap per consumer MB | new consumer ms | SIGKILL → removed ms |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...results.map(
      (r) =>
        `| ${r.system} | ${r.instances} | ${fmt(r.msgsPerSec)} | ${fmt(r.bytesPerSec / 1024)} | ${fmt(r.cpu.instances)} | ${fmt(r.cpu.consumers)} | ${fmt(r.cpu.coordinator)} | ${fmt(r.cpu.natsServer)} | ${fmt(r.consumerRssMB, 0)} / ${fmt(r.consumerHeapMB, 1)} | ${fmt(r.newConsumerMs)} | ${fmt(r.removalMs)} |`,
    ),
  ];
  const measures: Array<[string, (r: FleetResult) => number | undefined]> = [
    ["bus msg/s", (r) => r.msgsPerSec],
    ["bus bytes/s", (r) => r.bytesPerSec],
    ["CPU, all processes", (r) => r.cpu.instances + r.cpu.consumers + r.cpu.coordinator + r.cpu.natsServer],
    ["heap per consumer", (r) => r.consumerHeapMB],
    ["new consumer knows all", (r) => r.newConsumerMs],
  ];
  const fits = ["", "| measure | Switchboard growth | Moleculer growth |", "|---|---|---|"];
  for (const [name, get] of measures) {
    const cell = (system: FleetSystem) => {
      const fit = fitPowerLaw(results.filter((r) => r.system === system).map((r) => ({ n: r.instances, y: get(r) ?? NaN })));
      return fit ? `n^${fit.exponent.toFixed(2)} (${describeGrowth(fit.exponent)})` : "—";
    };
    fits.push(`| ${name} | ${cell("switchboard")} | ${cell("moleculer")} |`);
  }
  return [...rows, ...fits].join("\n");
}

/** Runs the fleet benchmark and prints its report; resolves with the results. */
export async function run(opts: FleetBenchOptions = {}): Promise<FleetResult[]> {
  const log = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const quick = opts.quick ?? false;
  const sizes = opts.sizes ?? (quick ? [10, 100, 500] : [10, 100, 500, 2000]);
  const settings = {
    consumers: opts.consumers ?? 3,
    windowMs: opts.windowMs ?? (quick ? 6000 : 12_000),
    startupLimitMs: opts.startupLimitMs ?? (quick ? 120_000 : 300_000),
  };
  log(
    `Fleet: ${sizes.join(", ")} instances, ${settings.consumers} consumers, ${settings.windowMs} ms window; ${cpus().length} CPUs, Node ${process.version}, ${new Date().toISOString()}`,
  );
  const results: FleetResult[] = [];
  const gaveUp = new Map<FleetSystem, number>();
  for (const n of sizes) {
    for (const system of ["switchboard", "moleculer"] as const) {
      if (gaveUp.has(system)) continue;
      const r = await measure(system, n, settings, log);
      if (r) results.push(r);
      else gaveUp.set(system, n);
    }
  }
  log("");
  log(fleetMarkdown(results));
  for (const [system, n] of gaveUp)
    log(`\n${system} did not come up at ${n} instances within ${settings.startupLimitMs / 1000} s; larger sizes not tried.`);
  const dir = opts.chartsDir ?? (quick ? join(tmpdir(), "switchboard-fleet") : "docs/fleet");
  mkdirSync(dir, { recursive: true });
  for (const [file, svg] of Object.entries(await renderFleetCharts(results))) writeFileSync(join(dir, file), svg);
  writeFileSync(join(dir, "results.json"), JSON.stringify(results, null, 2) + "\n");
  log(`\ncharts and results.json in ${dir}`);
  return results;
}

runIfMain(import.meta.url, async (argv) => {
  const sizesArg = argv.find((a, i) => argv[i - 1] === "--sizes");
  const chartsDir = argv.find((a, i) => argv[i - 1] === "--charts");
  await run({
    quick: argv.includes("--quick"),
    ...(sizesArg ? { sizes: sizesArg.split(",").map(Number) } : {}),
    ...(chartsDir ? { chartsDir } : {}),
  });
});
