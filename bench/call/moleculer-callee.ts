/** Moleculer 0.14 callee broker with its NATS transporter (nats v2): service `echo`, action `echo`. Prints `READY`. */
import { connect } from "@nats-io/transport-node";
import Moleculer from "moleculer";

const broker = new Moleculer.ServiceBroker({
  nodeID: `callee-${process.pid}`,
  transporter: { type: "NATS", options: { url: process.env.NATS_URL! } },
  logger: false,
});
broker.createService({ name: "echo", actions: { echo: (ctx: Moleculer.Context) => ctx.params } });
await broker.start();
// CPU used so far (µs), so callers can report the callee's CPU per call.
const side = await connect({ servers: process.env.NATS_URL! });
side.subscribe("bench.cpu.moleculer", { callback: (_e, m) => void m.respond(JSON.stringify(process.cpuUsage())) });
await side.flush();
process.stdout.write("READY moleculer\n");

const stop = async () => {
  await broker.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
