/**
 * A Moleculer consumer of the fleet benchmark: a broker (a node like any other) that calls nothing and only
 * keeps its registry. Same lines as sb-consumer: `READY <ms>` once EXPECT `fleet-*` nodes are available,
 * `GONE <nodeID> <epoch ms>` when one disconnects, `MEM <rss> <heap>` on SIGUSR2. Env: NATS_URL, EXPECT.
 */
import Moleculer from "moleculer";

const expected = Number(process.env.EXPECT ?? 1);
const started = performance.now();
const broker = new Moleculer.ServiceBroker({
  nodeID: `consumer-${process.pid}`,
  transporter: { type: "NATS", options: { url: process.env.NATS_URL! } },
  logger: false,
});
let ready = false;
const available = () =>
  (broker.registry.nodes.list({ onlyAvailable: true, withServices: false }) as Array<{ id: string }>).filter((n) =>
    n.id.startsWith("fleet-"),
  ).length;
broker.createService({
  name: "watcher",
  events: {
    "$node.disconnected"(ctx: Moleculer.Context<{ node: { id: string } }>) {
      process.stdout.write(`GONE ${ctx.params.node.id} ${Date.now()}\n`);
    },
  },
});
await broker.start();
const timer = setInterval(() => {
  if (!ready && available() >= expected) {
    ready = true;
    clearInterval(timer);
    process.stdout.write(`READY ${(performance.now() - started).toFixed(1)}\n`);
  }
}, 5);
process.on("SIGUSR2", () => {
  const m = process.memoryUsage();
  process.stdout.write(`MEM ${m.rss} ${m.heapUsed}\n`);
});
const stop = async () => {
  await broker.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
