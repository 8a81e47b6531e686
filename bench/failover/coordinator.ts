/**
 * The coordinator of the failover benchmark, in its own process (as in production: the clients'
 * load must not delay its failure detection). In-memory registry: one coordinator, no JetStream.
 * Env: NATS_URL, SB_PREFIX, SB_SUSPECT_GRACE (optional). Prints `READY <id>`.
 */
import { createCoordinator } from "../../src/coordinator/index.js";

const grace = process.env.SB_SUSPECT_GRACE;
const coordinator = createCoordinator({
  servers: process.env.NATS_URL,
  prefix: process.env.SB_PREFIX,
  jetstream: false,
  ...(grace ? { suspectGrace: Number(grace) } : {}),
});
await coordinator.start();
process.stdout.write(`READY ${coordinator.id}\n`);
const stop = async () => {
  await coordinator.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
