/** Number and time formatting for the page. Every value ends up as text (Preact escapes it). */

export function rate(v: number | null | undefined): string {
  if (v === null || v === undefined) return "–";
  return v >= 100 ? `${Math.round(v)}/s` : v >= 10 ? `${v.toFixed(1)}/s` : `${v.toFixed(2)}/s`;
}

export function percent(v: number | null | undefined): string {
  if (v === null || v === undefined) return "–";
  if (v === 0) return "0%";
  return v < 0.001 ? "<0.1%" : `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`;
}

export function millis(v: number | null | undefined): string {
  if (v === null || v === undefined) return "–";
  return v < 1 ? `${v.toFixed(2)} ms` : v < 100 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
}

/** "12s", "4m 3s", "2h 5m", "3d 4h". */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function clock(at: number): string {
  return new Date(at).toLocaleTimeString(undefined, { hour12: false });
}

export function dateTime(at: number): string {
  return new Date(at).toLocaleString(undefined, { hour12: false });
}
