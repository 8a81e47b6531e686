/**
 * A service instance for the failover benchmark (killed with SIGKILL by it): an agent serving `whoami`.
 * Env: NATS_URL, SB_PREFIX, SB_HEARTBEAT_MS. Prints `READY <instance id>`.
 */
import { createAgent } from "../../src/agent/index.js";

const agent = createAgent({
  service: "failover",
  servers: process.env.NATS_URL,
  prefix: process.env.SB_PREFIX,
  heartbeatMs: Number(process.env.SB_HEARTBEAT_MS ?? 1000),
  metricsIntervalMs: 0,
  maxInFlight: 100_000,
});
agent.endpoint("whoami", () => agent.id);
await agent.start();
process.stdout.write(`READY ${agent.id}\n`);
const stop = async () => {
  await agent.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
