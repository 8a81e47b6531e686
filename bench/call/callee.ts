/**
 * The callee process: a raw echo responder (for nc.request() and the multiplexed ceiling) and a
 * Switchboard agent serving `echo` (for client.call), on one NATS connection each.
 * Env: NATS_URL, SB_PREFIX. Prints `READY <agent instance id>`.
 */
import { connect } from "@nats-io/transport-node";
import { createAgent } from "../../src/agent/index.js";

const url = process.env.NATS_URL!;
const raw = await connect({ servers: url, noAsyncTraces: true });
// Echo the request bytes: no decoding, the cheapest possible responder.
raw.subscribe("bench.echo", { callback: (_e, m) => void m.respond(m.data) });
// CPU used so far (µs), so callers can report the callee's CPU per call.
raw.subscribe("bench.cpu.callee", { callback: (_e, m) => void m.respond(JSON.stringify(process.cpuUsage())) });
await raw.flush();

const agent = createAgent({
  service: "echo",
  servers: url,
  prefix: process.env.SB_PREFIX ?? "bench",
  version: "1.0.0",
  maxInFlight: 100_000,
});
agent.endpoint("echo", (payload) => payload);
await agent.start();
process.stdout.write(`READY ${agent.id}\n`);

const stop = async () => {
  await agent.stop();
  await raw.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
