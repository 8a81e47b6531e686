/** The live registry event stream, newest first, with filters. */
import { useMemo, useState } from "preact/hooks";
import { clock } from "./format.js";
import { useStore } from "./hooks.js";
import { StateBadge } from "./StateBadge.js";
import { store } from "./store.js";
import { VirtualList } from "./VirtualList.js";

const STATES = ["all", "up", "suspect", "down", "removed"];

export function EventsView() {
  const version = useStore();
  const [service, setService] = useState("");
  const [state, setState] = useState("all");
  const [text, setText] = useState("");
  const list = useMemo(() => {
    const s = service.trim().toLowerCase();
    const t = text.trim().toLowerCase();
    const out = [];
    for (let i = store.events.length - 1; i >= 0; i--) {
      const e = store.events[i]!;
      if (s && !e.service.toLowerCase().includes(s)) continue;
      if (state !== "all" && e.type !== state) continue;
      if (t && !`${e.id} ${e.version}`.toLowerCase().includes(t)) continue;
      out.push(e);
    }
    return out;
  }, [version, service, state, text]);
  return (
    <section aria-labelledby="events-h">
      <div class="toolbar">
        <h1 id="events-h">Registry events</h1>
        <p class="summary" aria-live="polite">{list.length} of {store.events.length} events</p>
      </div>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="event filters">
        <label>
          Service <input type="search" value={service} onInput={(e) => setService((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          State{" "}
          <select value={state} onChange={(e) => setState((e.target as HTMLSelectElement).value)}>
            {STATES.map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Instance or version <input type="search" value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
        </label>
      </form>
      <VirtualList
        label="Registry events, newest first"
        items={list}
        rowHeight={34}
        height="calc(100vh - 250px)"
        rowClass={(e) => (e.type === "down" ? "trouble" : e.type === "suspect" ? "warn" : "")}
        empty="No registry events yet."
        onOpen={(e) => (location.hash = `#/service/${encodeURIComponent(e.service)}`)}
        header={
          <>
            <span role="columnheader" class="c-time">Time</span>
            <span role="columnheader" class="c-name">Service</span>
            <span role="columnheader" class="c-id">Instance</span>
            <span role="columnheader" class="c-change">Change</span>
            <span role="columnheader" class="c-ver hide-narrow">Version</span>
            <span role="columnheader" class="c-num hide-narrow">Revision</span>
          </>
        }
        row={(e) => (
          <>
            <span role="cell" class="c-time">{clock(e.at)}</span>
            <span role="cell" class="c-name"><a href={`#/service/${encodeURIComponent(e.service)}`} tabIndex={-1}>{e.service}</a></span>
            <span role="cell" class="c-id mono" title={e.id}>{e.id}</span>
            <span role="cell" class="c-change">{e.previous ? <StateBadge state={e.previous} /> : <span class="dim">new</span>} → <StateBadge state={e.type} /></span>
            <span role="cell" class="c-ver hide-narrow" title={e.version}>{e.version}</span>
            <span role="cell" class="c-num hide-narrow">{e.revision ?? "–"}</span>
          </>
        )}
      />
    </section>
  );
}
