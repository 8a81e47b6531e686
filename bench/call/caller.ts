/**
 * The caller process: runs one variant over every scenario (payload size × concurrency) as a closed
 * loop — each of `concurrency` workers sends its next call as soon as the previous one returns — and
 * prints one `RESULT <json>` line per scenario.
 * Env: NATS_URL, SB_PREFIX, AGENT_ID, VARIANT, SCENARIOS (JSON), WARMUP_MS, MEASURE_MS.
 */
import { readFileSync } from "node:fs";
import { connect, createInbox, type Msg, type NatsConnection } from "@nats-io/transport-node";
import * as hdr from "hdr-histogram-js";
import { createClient, type RegistryCache } from "../../src/client/index.js";

export type Variant = "client.call" | "client.call+otel" | "nc.request" | "nc.request-noAsyncTraces" | "mux" | "mux-agent" | "moleculer";

/** One scenario's figures. */
export interface CallResult {
  variant: Variant;
  payloadBytes: number;
  concurrency: number;
  calls: number;
  errors: number;
  seconds: number;
  /** Calls per second. */
  rate: number;
  /** Latency percentiles in ms. */
  p50: number;
  p99: number;
  p999: number;
  /** Caller CPU (user + system) per call, in µs. */
  cpuUsPerCall: number;
  /** Callee process CPU per call, in µs (the bare echo responder and the agent share one process). */
  calleeCpuUsPerCall: number;
  /** nats-server CPU per call, in µs (10 ms resolution of /proc). */
  serverCpuUsPerCall: number;
}

const url = process.env.NATS_URL!;
const prefix = process.env.SB_PREFIX ?? "bench";
const variant = process.env.VARIANT as Variant;
const scenarios = JSON.parse(process.env.SCENARIOS ?? "[]") as Array<{ payloadBytes: number; concurrency: number }>;
const warmupMs = Number(process.env.WARMUP_MS ?? 500);
const measureMs = Number(process.env.MEASURE_MS ?? 2000);

/** Side connection for CPU probes (not part of any measured path). */
const probe = await connect({ servers: url, noAsyncTraces: true });
const calleeCpuSubject = variant === "moleculer" ? "bench.cpu.moleculer" : "bench.cpu.callee";

/** CPU (user + system, µs) the callee process has used so far. */
async function calleeCpu(): Promise<number> {
  const m = await probe.request(calleeCpuSubject, undefined, { timeout: 5000 });
  const u = m.json<{ user: number; system: number }>();
  return u.user + u.system;
}

/** CPU (µs) the nats-server process has used so far, from /proc (clock ticks of 10 ms). */
function serverCpu(): number {
  const pid = process.env.NATS_PID;
  if (!pid) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10_000; // utime + stime, ticks of 1/100 s
  } catch {
    return NaN;
  }
}

/** A payload object whose JSON encoding is exactly `bytes` long. */
function payloadOf(bytes: number): { data: string } {
  return { data: "x".repeat(Math.max(0, bytes - '{"data":""}'.length)) };
}

/**
 * The practical ceiling: request-reply multiplexed over plain publish/subscribe with nothing else —
 * one wildcard reply subscription, a Map of pending calls, one coarse sweep timer for timeouts.
 */
class MinimalMux {
  private readonly prefix = `${createInbox()}.`;
  private n = 0;
  private readonly pending = new Map<string, { resolve: (m: Msg) => void; reject: (e: Error) => void; expires: number }>();
  constructor(private readonly nc: NatsConnection) {
    const len = this.prefix.length;
    nc.subscribe(`${this.prefix}*`, {
      callback: (_e, m) => {
        const t = m.subject.substring(len);
        const p = this.pending.get(t);
        if (p) {
          this.pending.delete(t);
          p.resolve(m);
        }
      },
    });
    setInterval(() => {
      const now = Date.now();
      for (const [t, p] of this.pending) if (p.expires <= now) (this.pending.delete(t), p.reject(new Error("timeout")));
    }, 100).unref();
  }
  request(subject: string, data: Uint8Array): Promise<Msg> {
    const t = (this.n++).toString(36);
    return new Promise((resolve, reject) => {
      this.pending.set(t, { resolve, reject, expires: Date.now() + 5000 });
      this.nc.publish(subject, data, { reply: this.prefix + t });
    });
  }
}

type CallFn = (payload: { data: string }, bytes: Uint8Array) => Promise<unknown>;

/** Installs a tracer provider whose batched exporter discards the spans. */
async function installTracing(): Promise<void> {
  const { trace } = await import("@opentelemetry/api");
  const { BasicTracerProvider, BatchSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
  const discard = { export: (_spans: unknown[], done: (r: { code: number }) => void) => done({ code: 0 }), shutdown: async () => {} };
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(discard)] }));
}

async function setup(): Promise<{ call: CallFn; close: () => Promise<void> }> {
  switch (variant) {
    case "client.call+otel":
      // The same, with an OpenTelemetry SDK installed in the caller: a recording span per call and
      // per attempt, batched to an exporter that drops them (the cost of tracing, not of shipping).
      await installTracing();
    // falls through
    case "client.call": {
      // Every feature on: registry-cache routing with p2c-ewma, breakers, retry bookkeeping and
      // budget, deadline header, JSON encode/decode of payload and reply.
      const client = await createClient({ servers: url, prefix }).start();
      const registry = client.registry as RegistryCache;
      while (registry.instances("echo").length === 0) await new Promise((r) => setTimeout(r, 20));
      return { call: (p) => client.call("echo", "echo", p), close: () => client.stop() };
    }
    case "nc.request":
    case "nc.request-noAsyncTraces": {
      const nc = await connect({ servers: url, noAsyncTraces: variant === "nc.request-noAsyncTraces" });
      return { call: (_p, b) => nc.request("bench.echo", b, { timeout: 5000 }), close: () => nc.close() };
    }
    case "mux":
    case "mux-agent": {
      const nc = await connect({ servers: url, noAsyncTraces: true });
      const mux = new MinimalMux(nc);
      const subject = variant === "mux" ? "bench.echo" : `${prefix}.inst.echo.${process.env.AGENT_ID}.echo`;
      return { call: (_p, b) => mux.request(subject, b), close: () => nc.close() };
    }
    case "moleculer": {
      const { default: Moleculer } = await import("moleculer");
      const broker = new Moleculer.ServiceBroker({
        nodeID: `caller-${process.pid}`,
        transporter: { type: "NATS", options: { url } },
        logger: false,
      });
      await broker.start();
      await broker.waitForServices(["echo"]);
      return { call: (p) => broker.call("echo.echo", p), close: () => broker.stop() };
    }
    default:
      throw new Error(`unknown variant ${variant}`);
  }
}

async function runScenario(call: CallFn, payloadBytes: number, concurrency: number): Promise<CallResult> {
  const payload = payloadOf(payloadBytes);
  const bytes = new TextEncoder().encode(JSON.stringify(payload));
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  let recording = false;
  let stop = false;
  let calls = 0;
  let errors = 0;
  const worker = async () => {
    while (!stop) {
      const t0 = performance.now();
      try {
        await call(payload, bytes);
        if (recording) {
          histogram.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
          calls++;
        }
      } catch {
        if (recording) errors++;
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  await new Promise((r) => setTimeout(r, warmupMs));
  const callee0 = await calleeCpu();
  const server0 = serverCpu();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  recording = true;
  await new Promise((r) => setTimeout(r, measureMs));
  recording = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const server1 = serverCpu();
  const callee1 = await calleeCpu();
  stop = true;
  await Promise.all(workers);
  const ms = (p: number) => histogram.getValueAtPercentile(p) / 1000;
  return {
    variant,
    payloadBytes,
    concurrency,
    calls,
    errors,
    seconds,
    rate: calls / seconds,
    p50: ms(50),
    p99: ms(99),
    p999: ms(99.9),
    cpuUsPerCall: calls > 0 ? (cpu.user + cpu.system) / calls : 0,
    calleeCpuUsPerCall: calls > 0 ? (callee1 - callee0) / calls : 0,
    serverCpuUsPerCall: calls > 0 ? (server1 - server0) / calls : 0,
  };
}

const { call, close } = await setup();
process.stdout.write("READY caller\n");
for (const s of scenarios) {
  const r = await runScenario(call, s.payloadBytes, s.concurrency);
  process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
  process.stdout.write(`PROGRESS ${variant} ${s.payloadBytes} B c=${s.concurrency}: ${Math.round(r.rate)} calls/s\n`);
}
await close();
await probe.close();
process.exit(0);
