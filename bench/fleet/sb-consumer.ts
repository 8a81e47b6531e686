/**
 * A Switchboard consumer of the fleet benchmark: a client with its registry cache. Prints
 * `READY <ms>` once its cache routes EXPECT instances of `fleet` (ms from the start of its connect), then
 * `GONE <id> <epoch ms>` whenever an instance leaves its routing, and `MEM <rss bytes> <heap bytes>` on SIGUSR2.
 * Env: NATS_URL, SB_PREFIX, EXPECT.
 */
import { createClient, type RegistryCache } from "../../src/client/index.js";

const expected = Number(process.env.EXPECT ?? 1);
const started = performance.now();
const client = await createClient({ servers: process.env.NATS_URL, prefix: process.env.SB_PREFIX }).start();
const cache = client.registry as RegistryCache;
const routed = new Set<string>();
let ready = false;
const check = () => {
  if (!ready && cache.instances("fleet").length >= expected) {
    ready = true;
    process.stdout.write(`READY ${(performance.now() - started).toFixed(1)}\n`);
  }
};
cache.onChange((c) => {
  if (c.type === "up") routed.add(c.id);
  else if (routed.delete(c.id)) process.stdout.write(`GONE ${c.id} ${Date.now()}\n`);
  check();
});
for (const v of cache.instances("fleet")) routed.add(v.instance.id);
check();
process.on("SIGUSR2", () => {
  const m = process.memoryUsage();
  process.stdout.write(`MEM ${m.rss} ${m.heapUsed}\n`);
});
const stop = async () => {
  await client.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
