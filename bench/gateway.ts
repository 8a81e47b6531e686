/**
 * POST /call through the gateway (issue 12): requests/s and p50/p99 latency of a balanced call through
 * the gateway to an agent over NATS and to an HTTP service through the bridge, beside a direct HTTP
 * request to the same HTTP service (the ceiling) and the seed's naive proxy (an HTTP server that makes a
 * plain `fetch` per call). All in one run on one nats-server; `npm run bench -- --only gateway`.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createAgent } from "../src/agent/index.js";
import { createCoordinator } from "../src/coordinator/index.js";
import { createGateway } from "../src/gateway/index.js";
import { findNatsServer, startLocalNats } from "../src/cli/demo/LocalNatsServer.js";
import { runIfMain } from "./common/runIfMain.js";

const CONCURRENCY = 16;

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

/** Runs `CONCURRENCY` loops of `post(url)` for `ms`; returns req/s and latency percentiles. */
async function measure(url: string, ms: number): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const body = JSON.stringify({ amount: 10 });
  const lat: number[] = [];
  let errors = 0;
  const warmUntil = performance.now() + Math.min(500, ms / 4);
  while (performance.now() < warmUntil) await (await fetch(url, { method: "POST", body, headers: { "Content-Type": "application/json" } })).arrayBuffer();
  const end = performance.now() + ms;
  const loop = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const r = await fetch(url, { method: "POST", body, headers: { "Content-Type": "application/json" } });
      await r.arrayBuffer();
      if (r.status !== 200) errors++;
      lat.push(performance.now() - t0);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  const took = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
  return { rps: lat.length / took, p50: q(0.5), p99: q(0.99), errors };
}

export async function run(opts: { quick?: boolean } = {}): Promise<void> {
  const ms = opts.quick ? 1500 : 5000;
  const nats = await startLocalNats(findNatsServer(), { jetstream: true, detached: false });
  const prefix = "benchgw";
  const coordinator = await createCoordinator({ servers: nats.url, prefix }).start();
  const agent = createAgent({ servers: nats.url, prefix, service: "echo", heartbeatMs: 1000 });
  agent.endpoint("invoice", (payload) => ({ ok: true, payload }));
  await agent.start();
  const service = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = JSON.stringify({ ok: true, payload: JSON.parse(Buffer.concat(chunks).toString() || "null") });
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
      res.end(text);
    });
  });
  const serviceUrl = await listen(service);
  // The seed's proxy: one plain fetch per call, no balancing, no retries.
  const naive = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const r = await fetch(`${serviceUrl}/invoice`, { method: "POST", body: Buffer.concat(chunks), headers: { "Content-Type": "application/json" } });
      const text = await r.text();
      res.writeHead(r.status, { "Content-Type": "application/json" });
      res.end(text);
    });
  });
  const naiveUrl = await listen(naive);
  const gateway = await createGateway({ servers: nats.url, prefix, port: 0 }).start();
  await fetch(`${gateway.url}/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ serviceName: "legacy", serviceAddress: serviceUrl, endpoints: ["invoice"] }),
  });
  for (let i = 0; i < 100; i++) {
    const [a, b] = await Promise.all([fetch(`${gateway.url}/call/echo/invoice`, { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } }), fetch(`${gateway.url}/call/legacy/invoice`, { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } })]);
    await a.arrayBuffer();
    await b.arrayBuffer();
    if (a.status === 200 && b.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const rows: Array<[string, Awaited<ReturnType<typeof measure>>]> = [];
  rows.push(["direct HTTP to the service (ceiling)", await measure(`${serviceUrl}/invoice`, ms)]);
  rows.push(["seed's naive proxy (fetch per call)", await measure(naiveUrl, ms)]);
  rows.push(["gateway POST /call → HTTP service (bridge)", await measure(`${gateway.url}/call/legacy/invoice`, ms)]);
  rows.push(["gateway POST /call → agent over NATS", await measure(`${gateway.url}/call/echo/invoice`, ms)]);
  console.log(`\nPOST /call, ${CONCURRENCY} concurrent HTTP clients, ${ms} ms each (one process: clients, gateway, bridge, services)`);
  console.log("| path | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|");
  for (const [name, r] of rows) console.log(`| ${name} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.errors} |`);
  await gateway.stop();
  await agent.stop();
  await coordinator.stop();
  service.close();
  naive.close();
  await nats.stop();
}

runIfMain(import.meta.url, (argv) => run({ quick: argv.includes("--quick") }));
