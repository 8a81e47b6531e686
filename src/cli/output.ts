/** Terminal output: colour only on a TTY, aligned tables, short durations, JSON lines. */
import pc from "picocolors";

/** The picocolors formatter set for one stream. */
export type Colors = ReturnType<typeof pc.createColors>;

/**
 * Colour on a TTY only, as the NO_COLOR convention asks: off when NO_COLOR is set or TERM is dumb,
 * forced on with FORCE_COLOR. (picocolors' own default also colours whenever CI is set, even into a pipe.)
 */
export function colorsFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Colors {
  const forced = env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0";
  const enabled = !env.NO_COLOR && (forced || (stream.isTTY === true && env.TERM !== "dumb"));
  return pc.createColors(enabled);
}

/** Colours for stdout. */
export const out: Colors = colorsFor(process.stdout);
/** Colours for stderr. */
export const err: Colors = colorsFor(process.stderr);

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/**
 * Characters a terminal acts on instead of printing: C0 controls (ESC starts a sequence that can clear
 * the screen or move the cursor; CR/LF forge table rows), DEL and C1 controls, bidi marks, embeddings,
 * overrides and isolates (U+202E shows text reversed), line/paragraph separators, zero-width characters
 * and the BOM.
 */
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
/** {@link UNPRINTABLE} less the C0 controls, which JSON text has only as its own line breaks. */
const UNPRINTABLE_IN_JSON = /[\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/**
 * `text` with every character a terminal would act on shown as an escape (`\x1b`, `\u202e`). Every
 * string that came from the bus (names, versions, addresses, messages, annotations) goes through this
 * before the CLI prints it; our own colours are added after.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** Visible width of a string (ANSI colour codes do not count). */
export function visibleWidth(text: string): number {
  return text.replace(ANSI, "").length;
}

/** Formats rows as an aligned table with a header row; cells may carry colour. */
export function table(header: string[], rows: string[][], colors: Colors = out): string {
  const widths = header.map((h, i) => Math.max(visibleWidth(h), ...rows.map((r) => visibleWidth(r[i] ?? ""))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + " ".repeat(widths[i]! - visibleWidth(c))))
      .join("  ")
      .trimEnd();
  return [colors.bold(line(header)), ...rows.map(line)].join("\n");
}

/** A short human duration: `850ms`, `12s`, `4m05s`, `3h12m`, `2d04h`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, "0")}h`;
}

/** Local wall-clock time `HH:MM:SS.mmm` of an epoch-ms timestamp, for log-like lines. */
export function clock(epochMs: number): string {
  const d = new Date(epochMs);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/**
 * Writes one JSON value as a line on stdout (NDJSON for streams). JSON escapes C0 controls itself; the
 * rest of what {@link printable} covers (C1, bidi) is escaped too, as a JSON `\\u` escape, so the
 * line still parses to the same value.
 */
export function printJsonLine(value: unknown): void {
  process.stdout.write(jsonText(value) + "\n");
}

/** `JSON.stringify(value, null, indent)` with C1, bidi and other invisible characters as `\\u` escapes. */
export function jsonText(value: unknown, indent?: number): string {
  // JSON.stringify already escapes C0 controls inside strings; its own newlines (indentation) must stay.
  return JSON.stringify(value, null, indent).replace(UNPRINTABLE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Colours an instance state (or `label`, shown in the state's colour): up green, suspect yellow, down red, removed dim. */
export function colorState(state: string, colors: Colors = out, label: string = state): string {
  switch (state) {
    case "up":
      return colors.green(label);
    case "suspect":
      return colors.yellow(label);
    case "down":
      return colors.red(label);
    default:
      return colors.dim(label);
  }
}
