/**
 * Page update cost of the operator console at scale: 1,000 services and 10,000 instances.
 * A stand-in console server (fastify, the built page from dist/web, a synthetic SSE stream) feeds
 * the real page in Debian's Chromium (playwright-core); Chrome's own counters (CDP
 * Performance.getMetrics: task, script, layout and style time of the page) are read around each
 * phase. The baseline, in the same run, is the same page receiving no updates for as long.
 * Phases: first snapshot; Services view; Events view; the detail of one service with 10,000
 * instances. Updates are batched as the real console batches them (one per flush, 4 a second here,
 * twice the console's default rate), with a 10,000-instance detail at most every 2 s as it sends them.
 */
import fastifyStatic from "@fastify/static";
import Fastify from "fastify";
import type { ServerResponse } from "node:http";
import type { CDPSession, Page } from "playwright-core";
import { findWebRoot } from "../src/console/webAssets.js";
import type { ConsoleEvent, ConsoleInstance, ConsoleServiceDetail, ConsoleServiceSummary, ConsoleSnapshot, ConsoleUpdate } from "../src/protocol/index.js";
import { runIfMain } from "./common/runIfMain.js";
import { launchChromium } from "./common/chromium.js";

const SERVICES = 1000;
const PER_SERVICE = 10;
const BIG_SERVICE_INSTANCES = 10_000;

function summary(i: number, tick: number): ConsoleServiceSummary {
  const down = i % 97 === 0 ? 1 : 0;
  const suspect = i % 31 === 0 ? 1 : 0;
  return {
    service: `svc-${String(i).padStart(4, "0")}`,
    counts: { up: PER_SERVICE - down - suspect, suspect, down },
    versions: [`1.${i % 7}.0`],
    requestRate: 50 + ((i * 7 + tick) % 40),
    errorRate: i % 13 === 0 ? 0.02 : 0,
    p50: 1 + (i % 5),
    p99: 10 + ((i + tick) % 30),
    spark: Array.from({ length: 90 }, (_, k) => 50 + ((i + k + tick) % 40)),
    firing: down,
    trouble: down * 1_000_000 + suspect * 100,
  };
}

let seq = 0;
function event(i: number, at: number): ConsoleEvent {
  const service = `svc-${String(i % SERVICES).padStart(4, "0")}`;
  return { seq: ++seq, at, revision: seq, service, id: `${service}-i${i % PER_SERVICE}`, type: i % 2 ? "suspect" : "up", previous: i % 2 ? "up" : "suspect", version: "1.0.0", source: "event" };
}

function instance(i: number, now: number): ConsoleInstance {
  const id = `big-${String(i).padStart(5, "0")}`;
  return {
    view: {
      instance: { id, service: "big", version: "3.1.4", endpoints: ["work"], heartbeatMs: 1000, startedAt: now - 3_600_000, tags: ["zone-a"] },
      state: i % 500 === 0 ? "down" : "up",
      since: now - 60_000,
      lastSeen: now - (i % 1000),
      seq: i,
      inFlight: i % 4,
      status: "ok",
    },
    subject: `sb.inst.big.${id}.*`,
  };
}

function bigDetail(now: number, tick: number): ConsoleServiceDetail {
  const instances = Array.from({ length: BIG_SERVICE_INSTANCES }, (_, i) => instance(i + tick, now));
  const s = { ...summary(1, tick), service: "big", counts: { up: BIG_SERVICE_INSTANCES - 20, suspect: 0, down: 20 } };
  return { service: "big", summary: s, instances, endpoints: [], events: [] };
}

function snapshot(withBig: boolean): ConsoleSnapshot {
  const now = Date.now();
  return {
    v: 1,
    at: now,
    prefix: "bench",
    metricsStepMs: 2000,
    registry: { synced: true, revision: 1, instances: SERVICES * PER_SERVICE, services: SERVICES },
    collector: { ok: true, collector: "bench", at: now },
    services: Array.from({ length: SERVICES }, (_, i) => summary(i, 0)),
    alerts: [],
    events: Array.from({ length: 500 }, (_, i) => event(i, now)),
    ...(withBig ? { detail: bigDetail(now, 0) } : {}),
  };
}

/** One flush's worth: 100 changed services (a metrics step touches many) and 200 registry events. */
function update(tick: number, withBig: boolean): ConsoleUpdate {
  const now = Date.now();
  return {
    v: 1,
    at: now,
    services: Array.from({ length: 100 }, (_, k) => summary((tick * 100 + k) % SERVICES, tick)),
    events: Array.from({ length: 200 }, (_, k) => event(tick * 200 + k, now)),
    ...(withBig ? { detail: bigDetail(now, tick) } : {}),
  };
}

interface Metrics {
  task: number;
  script: number;
  layout: number;
  style: number;
}

async function metrics(cdp: CDPSession): Promise<Metrics> {
  const r = (await cdp.send("Performance.getMetrics")) as { metrics: Array<{ name: string; value: number }> };
  const get = (n: string) => (r.metrics.find((m) => m.name === n)?.value ?? 0) * 1000;
  return { task: get("TaskDuration"), script: get("ScriptDuration"), layout: get("LayoutDuration"), style: get("RecalcStyleDuration") };
}

const diff = (a: Metrics, b: Metrics): Metrics => ({ task: b.task - a.task, script: b.script - a.script, layout: b.layout - a.layout, style: b.style - a.style });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the benchmark and prints its table; returns the rows. */
export async function run(opts: { quick?: boolean } = {}): Promise<Array<Record<string, string | number>>> {
  const webRoot = findWebRoot();
  if (!webRoot) throw new Error("the console page is not built: run `npm run build` first");
  const updates = opts.quick ? 12 : 40;
  const rateHz = 4;
  const streams = new Set<{ res: ServerResponse; big: boolean }>();
  const app = Fastify({ logger: false });
  await app.register(fastifyStatic, { root: webRoot });
  app.get<{ Querystring: { service?: string } }>("/api/stream", (req, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
    const s = { res: reply.raw, big: req.query.service === "big" };
    streams.add(s);
    reply.raw.on("close", () => streams.delete(s));
    reply.raw.write(`event: snapshot\ndata: ${JSON.stringify(snapshot(s.big))}\n\n`);
  });
  app.get("/api/session", async () => ({ authRequired: false, authenticated: true }));
  await app.listen({ port: 0, host: "127.0.0.1" });
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/`;
  const browser = await launchChromium();
  const rows: Array<Record<string, string | number>> = [];
  try {
    const page: Page = await browser.context.newPage();
    const cdp = await browser.context.newCDPSession(page);
    await cdp.send("Performance.enable");

    const t0 = Date.now();
    await page.goto(`${url}#/services`);
    await page.getByRole("link", { name: "svc-0000", exact: true }).waitFor();
    const firstMs = Date.now() - t0;
    const loadCost = await metrics(cdp);
    rows.push({ phase: `first snapshot (${SERVICES} services, ${SERVICES * PER_SERVICE} instances)`, updates: 1, "wall ms": firstMs, "task ms/update": loadCost.task.toFixed(1), "script ms/update": loadCost.script.toFixed(1), "layout+style ms/update": (loadCost.layout + loadCost.style).toFixed(1) });

    const phase = async (name: string, big: boolean, n: number, send: boolean) => {
      const before = await metrics(cdp);
      const started = Date.now();
      for (let t = 1; t <= n; t++) {
        if (send) {
          // The console sends a detail of more than 1,000 instances at most every 2 s (UpdateHub).
          const data = `event: update\ndata: ${JSON.stringify(update(t, big && t % (2 * rateHz) === 0))}\n\n`;
          for (const s of streams) s.res.write(data);
        }
        await sleep(1000 / rateHz);
      }
      await sleep(300);
      await page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))");
      const d = diff(before, await metrics(cdp));
      const per = (v: number) => (v / n).toFixed(2);
      rows.push({ phase: name, updates: send ? n : 0, "wall ms": Date.now() - started, "task ms/update": per(d.task), "script ms/update": per(d.script), "layout+style ms/update": per(d.layout + d.style) });
      return d;
    };

    await phase("baseline: Services view, no updates", false, updates, false);
    await phase("Services view: 100 services + 200 events per update", false, updates, true);
    await page.goto(`${url}#/events`);
    await page.getByRole("table", { name: /Registry events/ }).waitFor();
    await phase("Events view: same updates", false, updates, true);
    await page.goto(`${url}#/service/big`);
    await page.getByRole("table", { name: "Instances of big" }).waitFor();
    await phase(`Service detail, ${BIG_SERVICE_INSTANCES} instances (whole detail every 2 s) + the same updates`, true, updates, true);
    const domNodes = await page.evaluate<number>("document.getElementsByTagName('*').length");
    rows.push({ phase: `DOM elements on the 10,000-instance detail page`, updates: 0, "wall ms": 0, "task ms/update": domNodes, "script ms/update": "", "layout+style ms/update": "" });
  } finally {
    await browser.close();
    await app.close();
  }
  console.table(rows);
  return rows;
}

runIfMain(import.meta.url, (argv) => run({ quick: argv.includes("--quick") }));
