/** Durations in rule and notifier files: "500ms", "30s", "5m", "1h", or a number of milliseconds. */

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
const DURATION = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/;

/** Parses a duration to milliseconds; throws RangeError on anything else. */
export function parseDuration(value: string | number): number {
  if (typeof value === "number") {
    if (!Number.isInteger(value) || value < 0) throw new RangeError(`invalid duration ${value}: use a non-negative integer of milliseconds`);
    return value;
  }
  const m = DURATION.exec(value.trim());
  if (!m) throw new RangeError(`invalid duration ${JSON.stringify(value)}: use e.g. "500ms", "30s", "5m", "1h"`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]);
}

/** Formats milliseconds compactly for humans: 1500 → "1.5s", 90000 → "1m30s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))}s`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${h ? `${h}h` : ""}${m ? `${m}m` : ""}${s ? `${s}s` : ""}` || "0s";
}
