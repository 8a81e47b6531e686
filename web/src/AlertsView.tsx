/** Firing and recently resolved alerts, grouped as the notifier groups them, with ack and mails. */
import { useMemo, useState } from "preact/hooks";
import type { ConsoleAlert } from "../../src/protocol/types.generated.js";
import { age, dateTime } from "./format.js";
import { useNow, useStore } from "./hooks.js";
import { StateBadge } from "./StateBadge.js";
import { store } from "./store.js";

const ACK_DURATIONS: Array<[string, number]> = [
  ["15 minutes", 15 * 60_000],
  ["1 hour", 3_600_000],
  ["4 hours", 4 * 3_600_000],
  ["1 day", 24 * 3_600_000],
  ["7 days", 7 * 24 * 3_600_000],
];

function KeyValues({ title, map }: { title: string; map: Record<string, string> }) {
  const entries = Object.entries(map);
  if (entries.length === 0) return null;
  return (
    <div class="kv">
      <h4>{title}</h4>
      <dl>
        {entries.map(([k, v]) => (
          <div class="kvrow">
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
    </div>
  );
}

function AckForm({ alert }: { alert: ConsoleAlert }) {
  const [duration, setDuration] = useState(ACK_DURATIONS[1]![1]);
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; text: string } | undefined>();
  const id = `ack-${alert.fingerprint}`;
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    const r = await store.ack(alert.fingerprint, duration, comment).catch((err: Error) => ({ ok: false as const, message: err.message }));
    setBusy(false);
    setResult(r.ok ? { ok: true, text: `acknowledged by notifier ${r.reply.notifier}${r.reply.until ? ` until ${dateTime(r.reply.until)}` : ""}` } : { ok: false, text: r.message });
  };
  return (
    <form class="ack" onSubmit={submit} aria-label={`acknowledge ${alert.rule} ${alert.fingerprint}`}>
      <label for={`${id}-d`}>Acknowledge for</label>
      <select id={`${id}-d`} value={String(duration)} onChange={(e) => setDuration(Number((e.target as HTMLSelectElement).value))}>
        {ACK_DURATIONS.map(([label, ms]) => (
          <option value={String(ms)}>{label}</option>
        ))}
      </select>
      <label for={`${id}-c`} class="sr-only">Comment</label>
      <input id={`${id}-c`} type="text" maxLength={1024} placeholder="comment (optional)" value={comment} onInput={(e) => setComment((e.target as HTMLInputElement).value)} />
      <button type="submit" disabled={busy}>{busy ? "Acknowledging…" : "Acknowledge"}</button>
      {result ? <span role="status" class={result.ok ? "ok" : "err"}>{result.text}</span> : null}
    </form>
  );
}

function AlertCard({ a, now }: { a: ConsoleAlert; now: number }) {
  return (
    <article class={`card alert ${a.status}`} aria-label={`${a.status} alert ${a.rule} on ${a.service}${a.instance ? ` instance ${a.instance}` : ""}`}>
      <header>
        <StateBadge state={a.status} /> <strong>{a.rule}</strong> <span class="badge sev">{a.severity}</span> on <a href={`#/service/${encodeURIComponent(a.service)}`}>{a.service}</a>
        {a.instance ? <span class="mono"> / {a.instance}</span> : null}
      </header>
      <p class="dim">
        {a.status === "firing" ? `firing for ${age(now - a.startsAt)} (since ${dateTime(a.startsAt)})` : `resolved ${age(now - (a.endsAt ?? now))} ago after ${age((a.endsAt ?? now) - a.startsAt)}`} · value{" "}
        {a.value === null ? "no data" : String(a.value)} · fingerprint <span class="mono">{a.fingerprint}</span>
      </p>
      {a.ack ? (
        <p class="acked" role="status">
          Acknowledged by {a.ack.by} at {dateTime(a.ack.at)}
          {a.ack.until ? ` until ${dateTime(a.ack.until)}` : ""}
          {a.ack.comment ? `: “${a.ack.comment}”` : ""}
        </p>
      ) : null}
      <div class="kvs">
        <KeyValues title="Labels" map={a.labels} />
        <KeyValues title="Annotations" map={a.annotations} />
      </div>
      <div class="mails">
        <h4>Mails sent</h4>
        {a.mails.length === 0 ? (
          <p class="dim">none recorded yet</p>
        ) : (
          <ul>
            {a.mails.map((m) => (
              <li>
                {dateTime(m.at)} · {m.status} · route {m.route}
                {m.messageId ? <span class="mono dim"> {m.messageId}</span> : null}
              </li>
            ))}
          </ul>
        )}
      </div>
      {a.status === "firing" ? <AckForm alert={a} /> : null}
    </article>
  );
}

export function AlertsView() {
  const version = useStore();
  const now = useNow();
  const groups = useMemo(() => {
    const firing = new Map<string, ConsoleAlert[]>();
    const resolved: ConsoleAlert[] = [];
    for (const a of store.alerts.values()) {
      if (a.status === "resolved") resolved.push(a);
      else {
        let g = firing.get(a.group);
        if (!g) firing.set(a.group, (g = []));
        g.push(a);
      }
    }
    for (const g of firing.values()) g.sort((x, y) => y.startsAt - x.startsAt);
    resolved.sort((x, y) => (y.endsAt ?? 0) - (x.endsAt ?? 0));
    return { firing: [...firing].sort((x, y) => x[0].localeCompare(y[0])), resolved: resolved.slice(0, 100) };
  }, [version]);
  const firingCount = groups.firing.reduce((n, [, g]) => n + g.length, 0);
  return (
    <section aria-labelledby="alerts-h">
      <div class="toolbar">
        <h1 id="alerts-h">Alerts</h1>
        <p class="summary" aria-live="polite">{firingCount} firing in {groups.firing.length} groups · {groups.resolved.length} recently resolved</p>
      </div>
      <h2>Firing</h2>
      {groups.firing.length === 0 ? <p class="empty">Nothing is firing.</p> : null}
      {groups.firing.map(([group, alerts]) => (
        <section class="group" aria-label={`group ${group}`}>
          <h3 class="grouphead">{group}</h3>
          {alerts.map((a) => (
            <AlertCard key={a.fingerprint} a={a} now={now} />
          ))}
        </section>
      ))}
      <h2>Recently resolved</h2>
      {groups.resolved.length === 0 ? <p class="empty">None.</p> : null}
      {groups.resolved.map((a) => (
        <AlertCard key={a.fingerprint} a={a} now={now} />
      ))}
    </section>
  );
}
