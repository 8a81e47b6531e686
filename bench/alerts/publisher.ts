/**
 * Metric snapshot publisher for the alerting benchmark, in its own process: N simulated instances
 * (3 endpoints each, ~1 KB snapshots) published round-robin as fast as the collector takes them.
 * Flow control: the benchmark publishes the collector's ingested count on `<prefix>.bench.progress`;
 * this stays at most WINDOW snapshots ahead of it, so the server never drops for a slow consumer.
 * Env: NATS_URL, SB_PREFIX, N (default 10 000), WINDOW (default 20000). Prints `READY`.
 */
import { connect } from "@nats-io/transport-node";
import { Subjects, type MetricsSnapshot } from "../../src/protocol/index.js";

const nc = await connect({ servers: process.env.NATS_URL, noAsyncTraces: true });
const subjects = new Subjects(process.env.SB_PREFIX ?? "sb");
const n = Number(process.env.N ?? 10_000);
const windowSize = Number(process.env.WINDOW ?? 20_000);
const bounds = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000];
const startedAt = Date.now();

interface Instance {
  subject: string;
  snap: MetricsSnapshot;
}
const instances: Instance[] = [];
for (let i = 0; i < n; i++) {
  const service = `svc${i % 20}`;
  const id = `inst${i}`;
  instances.push({
    subject: subjects.metrics(service, id),
    snap: {
      v: 1,
      service,
      id,
      seq: 0,
      sentAt: 0,
      startedAt,
      intervalMs: 1000,
      endpoints: ["get", "put", "list"].map((endpoint) => ({
        endpoint,
        requests: 0,
        errors: 0,
        latencyMs: { bounds, counts: bounds.map(() => 0), sum: 0, count: 0 },
      })),
    },
  });
}

let ingested = 0;
nc.subscribe(`${subjects.prefix}.bench.progress`, {
  callback: (_e, m) => {
    ingested = Number(m.string());
  },
});
let stopped = false;
process.on("SIGTERM", () => (stopped = true));
await nc.flush();
process.stdout.write("READY\n");

let sent = 0;
let next = 0;
while (!stopped) {
  if (sent - ingested >= windowSize) {
    await new Promise((r) => setTimeout(r, 1));
    continue;
  }
  for (let b = 0; b < 500 && !stopped; b++) {
    const inst = instances[next]!;
    next = (next + 1) % instances.length;
    const s = inst.snap;
    s.seq++;
    s.sentAt = Date.now();
    for (const ep of s.endpoints) {
      // Ten requests per snapshot, one slow one, no errors: realistic histograms, cheap to produce.
      ep.requests += 10;
      ep.latencyMs.count += 10;
      ep.latencyMs.sum += 9 * 2 + 150;
      for (let k = 0; k < bounds.length; k++) ep.latencyMs.counts[k]! += bounds[k]! >= 200 ? 10 : bounds[k]! >= 2 ? 9 : 0;
    }
    nc.publish(inst.subject, JSON.stringify(s));
    sent++;
  }
  await new Promise((r) => setImmediate(r));
}
await nc.drain();
process.exit(0);
