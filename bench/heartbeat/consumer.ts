/**
 * The ingesting process: either a Switchboard coordinator or a bare subscriber that only JSON.parses
 * each heartbeat (the ceiling). Every PROGRESS_MS it publishes `<prefix>.bench.progress` with how many
 * heartbeats it has processed and its memory, which the publisher uses as flow control (credit) and the
 * driver as the measurement. `<prefix>.bench.memory` (request) answers memory after a forced GC when
 * node runs with --expose-gc.
 * Env: NATS_URL, SB_PREFIX, VARIANT (bare | coordinator), PROGRESS_MS (default 5).
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createCoordinator, type Coordinator } from "../../src/coordinator/index.js";
import { QueryTimings } from "./queryTimings.js";

const url = process.env.NATS_URL!;
const prefix = process.env.SB_PREFIX ?? "bench";
const variant = process.env.VARIANT ?? "coordinator";
const progressMs = Number(process.env.PROGRESS_MS ?? 5);

let nc: NatsConnection;
let count: () => number;
let instances: () => number = () => 0;
let persisted: () => number = () => 0;
let coordinator: Coordinator | undefined;
const queryTimings = new QueryTimings();

if (variant === "bare") {
  nc = await connect({ servers: url, noAsyncTraces: true });
  const decoder = new TextDecoder();
  let n = 0;
  let sink = 0;
  nc.subscribe(`${prefix}.heartbeat.*.*`, {
    callback: (_e, m) => {
      const v = JSON.parse(decoder.decode(m.data)) as { seq: number };
      sink ^= v.seq;
      n++;
    },
  });
  count = () => n + (sink & 0);
} else {
  coordinator = createCoordinator({ servers: url, prefix, leaseMs: 3000, onQueryAnswered: queryTimings.record });
  await coordinator.start();
  nc = coordinator.nc;
  const c = coordinator.registry.counters;
  count = () => c.heartbeats + c.stale + c.unknown;
  instances = () => coordinator!.registry.size;
  persisted = () => coordinator!.stats().persisted;
}

const memory = () => {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
};
// Cheap enough to send every few ms: process.memoryUsage() walks the heap spaces, .rss() does not.
const timer = setInterval(() => {
  nc.publish(
    `${prefix}.bench.progress`,
    JSON.stringify({ count: count(), t: performance.timeOrigin + performance.now(), instances: instances(), persisted: persisted(), rss: process.memoryUsage.rss() }),
  );
}, progressMs);
nc.subscribe(`${prefix}.bench.memory`, {
  callback: (_e, m) => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc) {
      gc();
      gc();
    }
    m.respond(JSON.stringify({ ...memory(), gc: Boolean(gc), instances: instances() }));
  },
});
nc.subscribe(`${prefix}.bench.stats`, {
  callback: (_e, m) => {
    const last = Number(m.string() || 1024);
    m.respond(JSON.stringify(coordinator ? { ...coordinator.stats(), queries: queryTimings.summary(last) } : {}));
  },
});
await nc.flush();
process.stdout.write(`READY ${variant}\n`);

const stop = async () => {
  clearInterval(timer);
  if (coordinator) await coordinator.stop();
  else await nc.close();
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
