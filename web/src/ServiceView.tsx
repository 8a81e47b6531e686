/** One service: its instances, endpoints (rates, latency), and registry timeline. */
import type { ConsoleInstance } from "../../src/protocol/types.generated.js";
import { Chart } from "./Chart.js";
import { age, clock, millis, percent, rate } from "./format.js";
import { useNow, useStore } from "./hooks.js";
import { StateBadge } from "./StateBadge.js";
import { store } from "./store.js";
import { VirtualList } from "./VirtualList.js";

function times(n: number, at: number, stepMs: number): number[] {
  return Array.from({ length: n }, (_, i) => (at - (n - 1 - i) * stepMs) / 1000);
}

function where(i: ConsoleInstance): string {
  return i.view.instance.address ?? `nats:${i.subject}`;
}

export function ServiceView({ service }: { service: string }) {
  useStore();
  const now = useNow();
  const d = store.detail;
  if (!d || d.service !== service) {
    return (
      <section aria-labelledby="svc-h">
        <p><a href="#/services">← Services</a></p>
        <h1 id="svc-h">{service}</h1>
        <p class="empty">{store.connection === "live" ? "No such service in the registry or the collector." : "Loading…"}</p>
      </section>
    );
  }
  const s = d.summary;
  const step = store.metricsStepMs;
  return (
    <section aria-labelledby="svc-h">
      <p><a href="#/services">← Services</a></p>
      <div class="toolbar">
        <h1 id="svc-h">{service}</h1>
        <p class="summary">
          <span class="c-up">{s.counts.up} up</span> · <span class="c-suspect">{s.counts.suspect} suspect</span> · <span class="c-down">{s.counts.down} down</span> · versions{" "}
          {s.versions.join(", ") || "–"} · {rate(s.requestRate)} · errors {percent(s.errorRate)} · p50 {millis(s.p50)} · p99 {millis(s.p99)}
          {s.firing ? <> · <a href="#/alerts" class="badge s-firing">{s.firing} firing</a></> : null}
        </p>
      </div>

      <h2>Instances</h2>
      <VirtualList
        label={`Instances of ${service}`}
        items={d.instances}
        rowHeight={40}
        height={`${Math.min(10, Math.max(2, d.instances.length)) * 40 + 4}px`}
        rowClass={(i) => (i.view.state === "down" ? "trouble" : i.view.state === "suspect" ? "warn" : "")}
        empty="No instances."
        header={
          <>
            <span role="columnheader" class="c-id">Instance</span>
            <span role="columnheader" class="c-state">State</span>
            <span role="columnheader" class="c-addr hide-narrow">Address / subject</span>
            <span role="columnheader" class="c-ver">Version</span>
            <span role="columnheader" class="c-tags hide-narrow">Tags</span>
            <span role="columnheader" class="c-num">In flight</span>
            <span role="columnheader" class="c-num hide-narrow">Requests</span>
            <span role="columnheader" class="c-num">Last heartbeat</span>
          </>
        }
        row={(i) => (
          <>
            <span role="cell" class="c-id mono" title={i.view.instance.id}>{i.view.instance.id}</span>
            <span role="cell" class="c-state">
              <StateBadge state={i.view.state} /> <span class="dim">{age(now - i.view.since)}</span>
            </span>
            <span role="cell" class="c-addr mono hide-narrow" title={where(i)}>{where(i)}</span>
            <span role="cell" class="c-ver" title={i.view.instance.version}>{i.view.instance.version}</span>
            <span role="cell" class="c-tags hide-narrow" title={(i.view.instance.tags ?? []).join(", ")}>
              {(i.view.instance.tags ?? []).map((t) => (
                <span class="tag">{t}</span>
              ))}
            </span>
            <span role="cell" class="c-num">{i.view.inFlight}{i.view.status !== "ok" ? ` (${i.view.status})` : ""}</span>
            <span role="cell" class="c-num hide-narrow">{i.stats ? rate(i.stats.requestRate) : "–"}</span>
            <span role="cell" class="c-num">{age(now - i.view.lastSeen)} ago</span>
          </>
        )}
      />
      <p class="note">Breaker states are kept by each client and are not published on the bus, so the console cannot show them.</p>

      <h2>Endpoints</h2>
      {d.endpoints.length === 0 ? <p class="empty">No traffic figures from a collector yet.</p> : null}
      <div class="endpoints">
        {d.endpoints.map((e) => (
          <article class="card" aria-label={`endpoint ${e.endpoint}`}>
            <h3 class="mono">{e.endpoint}</h3>
            <p>
              {rate(e.stats.requestRate)} · errors {percent(e.stats.errorRate)} · {e.stats.requests} requests
            </p>
            <div class="quantiles" role="img" aria-label={`latency of ${e.endpoint}: p50 ${millis(e.stats.latencyP50)}, p95 ${millis(e.stats.latencyP95)}, p99 ${millis(e.stats.latencyP99)}`}>
              {(["latencyP50", "latencyP95", "latencyP99"] as const).map((q) => {
                const v = e.stats[q];
                const max = Math.max(1e-9, e.stats.latencyP99 ?? 0, e.stats.latencyP95 ?? 0, e.stats.latencyP50 ?? 0);
                return (
                  <div class="qrow">
                    <span class="qname">{q.slice(7).toLowerCase()}</span>
                    <span class="qbar" style={{ width: `${v === null ? 0 : Math.max(2, (v / max) * 100)}%` }} />
                    <span class="qval">{millis(v)}</span>
                  </div>
                );
              })}
            </div>
            <Chart title={`p99 latency of ${e.endpoint}, last minutes`} times={times(e.spark.length, store.lastAt, step)} series={[{ label: "p99", unit: "ms", values: e.spark }]} height={120} />
          </article>
        ))}
      </div>
      <Chart title={`Request rate of ${service}, last minutes`} times={times(s.spark.length, store.lastAt, step)} series={[{ label: "requests", unit: "/s", values: s.spark }]} />

      <h2>Registry timeline</h2>
      <ol class="timeline" aria-label={`registry events of ${service}, newest first`}>
        {d.events.map((e) => (
          <li>
            <time dateTime={new Date(e.at).toISOString()}>{clock(e.at)}</time> <span class="mono">{e.id}</span> {e.previous ? <StateBadge state={e.previous} /> : "new"} → <StateBadge state={e.type} />{" "}
            <span class="dim">v{e.version} · rev {e.revision ?? "–"} · {e.source}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}
