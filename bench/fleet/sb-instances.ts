/**
 * Switchboard side of the fleet benchmark: COUNT service instances in this one process, each an agent with
 * its own NATS connection (as separate service processes would have), default heartbeat settings.
 * Env: NATS_URL, SB_PREFIX, COUNT, FIRST (index of the first instance, for unique ids). Prints `READY <count>`.
 */
import { createAgent, type Agent } from "../../src/agent/index.js";

const count = Number(process.env.COUNT ?? 1);
const first = Number(process.env.FIRST ?? 0);
const agents: Agent[] = [];
// Start in small batches: a fleet comes up over time, not in one burst of connects.
for (let i = 0; i < count; i += 25) {
  const batch = Array.from({ length: Math.min(25, count - i) }, (_, j) => {
    const agent = createAgent({
      service: "fleet",
      version: "1.0.0",
      servers: process.env.NATS_URL,
      prefix: process.env.SB_PREFIX,
      id: `fleet-${first + i + j}`,
    });
    agent.endpoint("echo", (payload) => payload);
    agents.push(agent);
    return agent.start();
  });
  await Promise.all(batch);
}
process.stdout.write(`READY ${agents.length}\n`);

const stop = async () => {
  await Promise.allSettled(agents.map((a) => a.stop()));
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
