/**
 * Moleculer 0.14 side of the fleet benchmark: COUNT brokers in this one process, each a node with its own
 * NATS transporter connection and the default heartbeat settings (every node receives every node's
 * heartbeat), serving service `fleet` with action `echo`. Env: NATS_URL, COUNT, FIRST. Prints `READY <count>`.
 */
import Moleculer from "moleculer";

const count = Number(process.env.COUNT ?? 1);
const first = Number(process.env.FIRST ?? 0);
const brokers: Moleculer.ServiceBroker[] = [];
for (let i = 0; i < count; i += 25) {
  const batch = Array.from({ length: Math.min(25, count - i) }, (_, j) => {
    const broker = new Moleculer.ServiceBroker({
      nodeID: `fleet-${first + i + j}`,
      transporter: { type: "NATS", options: { url: process.env.NATS_URL! } },
      logger: false,
    });
    broker.createService({ name: "fleet", actions: { echo: (ctx: Moleculer.Context) => ctx.params } });
    brokers.push(broker);
    return broker.start();
  });
  await Promise.all(batch);
}
process.stdout.write(`READY ${brokers.length}\n`);

const stop = async () => {
  await Promise.allSettled(brokers.map((b) => b.stop()));
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
