/** Every service: instances by state, versions, traffic, sparkline; trouble first. */
import { useMemo, useState } from "preact/hooks";
import type { ConsoleServiceSummary } from "../../src/protocol/types.generated.js";
import { millis, percent, rate } from "./format.js";
import { useStore } from "./hooks.js";
import { Sparkline } from "./Sparkline.js";
import { store } from "./store.js";
import { VirtualList } from "./VirtualList.js";

function byTrouble(a: ConsoleServiceSummary, b: ConsoleServiceSummary): number {
  return b.trouble - a.trouble || (a.service < b.service ? -1 : a.service > b.service ? 1 : 0);
}

export function ServicesView() {
  const version = useStore();
  const [filter, setFilter] = useState("");
  const list = useMemo(() => {
    const f = filter.trim().toLowerCase();
    const all = [...store.services.values()];
    return (f ? all.filter((s) => s.service.toLowerCase().includes(f)) : all).sort(byTrouble);
  }, [version, filter]);
  const totals = useMemo(() => {
    const t = { up: 0, suspect: 0, down: 0 };
    for (const s of store.services.values()) {
      t.up += s.counts.up;
      t.suspect += s.counts.suspect;
      t.down += s.counts.down;
    }
    return t;
  }, [version]);
  const open = (s: ConsoleServiceSummary) => (location.hash = `#/service/${encodeURIComponent(s.service)}`);

  return (
    <section aria-labelledby="services-h">
      <div class="toolbar">
        <h1 id="services-h">Services</h1>
        <p class="summary" aria-live="polite">
          {store.services.size} services · <span class="c-up">{totals.up} up</span> · <span class="c-suspect">{totals.suspect} suspect</span> ·{" "}
          <span class="c-down">{totals.down} down</span>
        </p>
        <label class="filter">
          Filter <input type="search" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} placeholder="service name" />
        </label>
      </div>
      <VirtualList
        label="Services, trouble first"
        items={list}
        rowHeight={40}
        rowClass={(s) => (s.firing > 0 || s.counts.down > 0 ? "trouble" : s.counts.suspect > 0 ? "warn" : "")}
        onOpen={open}
        empty="No services yet: the registry is empty or no coordinator answered."
        header={
          <>
            <span role="columnheader" class="c-name">Service</span>
            <span role="columnheader" class="c-counts">Instances</span>
            <span role="columnheader" class="c-ver">Versions</span>
            <span role="columnheader" class="c-num">Requests</span>
            <span role="columnheader" class="c-num">Errors</span>
            <span role="columnheader" class="c-num hide-narrow">p50</span>
            <span role="columnheader" class="c-num hide-narrow">p99</span>
            <span role="columnheader" class="c-spark hide-narrow">Last minutes</span>
            <span role="columnheader" class="c-alerts">Alerts</span>
          </>
        }
        row={(s) => (
          <>
            <span role="cell" class="c-name">
              <a href={`#/service/${encodeURIComponent(s.service)}`} tabIndex={-1}>
                {s.service}
              </a>
            </span>
            <span role="cell" class="c-counts">
              <span class="c-up" title="up">{s.counts.up}</span>
              {s.counts.suspect ? <span class="c-suspect"> · {s.counts.suspect} suspect</span> : null}
              {s.counts.down ? <span class="c-down"> · {s.counts.down} down</span> : null}
            </span>
            <span role="cell" class="c-ver" title={s.versions.join(", ")}>
              {s.versions.join(", ") || "–"}
            </span>
            <span role="cell" class="c-num">{rate(s.requestRate)}</span>
            <span role="cell" class={`c-num ${s.errorRate ? "c-down" : ""}`}>{percent(s.errorRate)}</span>
            <span role="cell" class="c-num hide-narrow">{millis(s.p50)}</span>
            <span role="cell" class="c-num hide-narrow">{millis(s.p99)}</span>
            <span role="cell" class="c-spark hide-narrow">
              <Sparkline values={s.spark} label={`request rate of ${s.service} over the last minutes`} />
            </span>
            <span role="cell" class="c-alerts">{s.firing ? <span class="badge s-firing">{s.firing} firing</span> : ""}</span>
          </>
        )}
      />
    </section>
  );
}
