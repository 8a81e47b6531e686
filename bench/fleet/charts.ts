/**
 * The fleet benchmark's charts: one SVG per measure, fleet size against the measure on log-log axes
 * (a straight line's slope is the growth exponent), one line per system. Rendered headless with
 * vega-lite + vega (no browser, no canvas).
 */
import { compile, type TopLevelSpec } from "vega-lite";
import * as vega from "vega";
import type { FleetResult } from "../fleet.js";

interface Measure {
  file: string;
  title: string;
  unit: string;
  get(r: FleetResult): number | undefined;
}

const MEASURES: Measure[] = [
  { file: "fleet-bus-messages.svg", title: "Messages through nats-server", unit: "messages / s", get: (r) => r.msgsPerSec },
  { file: "fleet-bus-bytes.svg", title: "Bytes through nats-server", unit: "KiB / s", get: (r) => r.bytesPerSec / 1024 },
  {
    file: "fleet-cpu.svg",
    title: "CPU of all processes",
    unit: "% of one core",
    get: (r) => r.cpu.instances + r.cpu.consumers + r.cpu.coordinator + r.cpu.natsServer,
  },
  { file: "fleet-consumer-heap.svg", title: "JavaScript heap per consumer", unit: "MB", get: (r) => r.consumerHeapMB },
  { file: "fleet-new-consumer.svg", title: "A new consumer knows the whole registry", unit: "ms", get: (r) => r.newConsumerMs },
  { file: "fleet-removal.svg", title: "SIGKILL to removal from every consumer", unit: "ms", get: (r) => r.removalMs },
];

function spec(m: Measure, results: readonly FleetResult[]): TopLevelSpec {
  const values = results.flatMap((r) => {
    const y = m.get(r);
    return y === undefined || !(y > 0)
      ? []
      : [{ instances: r.instances, value: y, system: r.system === "switchboard" ? "Switchboard" : "Moleculer 0.14" }];
  });
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: m.title,
    width: 420,
    height: 260,
    background: "white",
    data: { values },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "instances", type: "quantitative", scale: { type: "log" }, title: "service instances" },
      y: { field: "value", type: "quantitative", scale: { type: "log" }, title: m.unit },
      color: { field: "system", type: "nominal", title: null, scale: { domain: ["Switchboard", "Moleculer 0.14"] } },
    },
  };
}

/** File name → SVG text, for every measure. */
export async function renderFleetCharts(results: readonly FleetResult[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const m of MEASURES) {
    const view = new vega.View(vega.parse(compile(spec(m, results)).spec), { renderer: "none" });
    out[m.file] = await view.toSVG();
    view.finalize();
  }
  return out;
}
