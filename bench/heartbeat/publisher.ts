/**
 * Simulated instances in one process: announces N instances, then publishes their heartbeats —
 * round-robin, each instance's seq increasing — either as fast as the consumer takes them (flow
 * control: at most WINDOW heartbeats beyond the count the consumer last reported, so nats-server never
 * cuts a slow consumer) or at a fixed RATE per second (steady state for memory measurements).
 * Env: NATS_URL, SB_PREFIX, N, SERVICES (default 100), HEARTBEAT_MS (announced, default 1000),
 * WINDOW (default 50 000), RATE (0 = as fast as possible). Heartbeats start when `<prefix>.bench.go` arrives
 * (the driver sends it once the consumer has taken in the announcements and finished persisting them).
 */
import { connect } from "@nats-io/transport-node";

const url = process.env.NATS_URL!;
const prefix = process.env.SB_PREFIX ?? "bench";
const n = Number(process.env.N ?? 10_000);
const services = Number(process.env.SERVICES ?? 100);
const heartbeatMs = Number(process.env.HEARTBEAT_MS ?? 1000);
const window = Number(process.env.WINDOW ?? 50_000);
const rate = Number(process.env.RATE ?? 0);

const nc = await connect({ servers: url, noAsyncTraces: true });
const subjects: string[] = [];
const heads: string[] = [];
const startedAt = Date.now();
for (let i = 0; i < n; i++) {
  const id = `inst-${i.toString(16).padStart(8, "0")}-0000-4000-8000-${(i * 7919).toString(16).padStart(12, "0")}`;
  const service = `svc-${i % services}`;
  const record = { id, service, version: "1.0.0", endpoints: ["get", "put"], heartbeatMs, startedAt, metadata: { zone: `z${i % 3}` } };
  nc.publish(`${prefix}.announce.${service}.${id}`, JSON.stringify({ v: 1, instance: record }));
  subjects.push(`${prefix}.heartbeat.${service}.${id}`);
  heads.push(`{"v":1,"id":"${id}","service":"${service}","seq":`);
  if (i % 5000 === 4999) await nc.flush();
}
await nc.flush();

let credited = 0;
let wake: (() => void) | undefined;
nc.subscribe(`${prefix}.bench.progress`, {
  callback: (_e, m) => {
    const p = JSON.parse(m.string()) as { count: number };
    if (p.count > credited) credited = p.count;
    if (wake) {
      const w = wake;
      wake = undefined;
      w();
    }
  },
});
let go!: () => void;
const started = new Promise<void>((r) => (go = r));
nc.subscribe(`${prefix}.bench.go`, { callback: () => go() });
await nc.flush();
process.stdout.write(`READY ${n}\n`);
await started;
const goAt = performance.now();

let sent = 0;
let i = 0;
let round = 1;
let stopping = false;
const next = () => {
  nc.publish(subjects[i]!, `${heads[i]}${round},"sentAt":${Date.now()},"inFlight":0,"status":"ok"}`);
  sent++;
  if (++i === n) {
    i = 0;
    round++;
  }
};

let waits = 0;
let waitedMs = 0;
process.on("SIGTERM", () => {
  stopping = true;
  // How often flow control held the publisher back: high means the consumer was the bottleneck.
  const elapsedMs = performance.now() - goAt;
  process.stdout.write(`RESULT ${JSON.stringify({ sent, waits, waitedMs: Math.round(waitedMs), elapsedMs: Math.round(elapsedMs) })}\n`);
  void nc.close().then(() => process.exit(0));
});

if (rate > 0) {
  // Steady state: `rate` heartbeats per second in 10 ms slices.
  const perSlice = Math.max(1, Math.round(rate / 100));
  setInterval(() => {
    for (let k = 0; k < perSlice; k++) next();
  }, 10);
} else {
  for (;;) {
    if (stopping) break;
    while (sent - credited < window) next();
    const t0 = performance.now();
    await new Promise<void>((r) => (wake = r));
    waits++;
    waitedMs += performance.now() - t0;
  }
}

