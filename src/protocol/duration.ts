/**
 * The one duration grammar of Switchboard — rules files, config files, CLI flags and requests all
 * use it — Prometheus's: an integer with a unit, `ms`, `s`, `m`, `h`, `d` or `w`, optionally
 * several from the largest unit down (`1h30m`, `2m30s`). `0` alone is allowed. A bare number is
 * refused as ambiguous (milliseconds? seconds?), and so is a fraction (`1.5s`: write `1500ms`).
 */

const UNIT_MS: Readonly<Record<string, number>> = { w: 604_800_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
const ORDER = ["w", "d", "h", "m", "s", "ms"];
const PART = /(\d+)(ms|s|m|h|d|w)/y;

/** The JSON Schema pattern of the grammar (schemas use it too). */
export const DURATION_PATTERN = "^(0|([0-9]+(ms|s|m|h|d|w))+)$";

/** Thrown for a value that is not a duration; the message says why and what to write. */
export class DurationError extends RangeError {
  override readonly name = "DurationError";
}

/** Parses a duration to milliseconds; throws {@link DurationError} with a clear message on anything else. */
export function parseDuration(value: unknown): number {
  if (typeof value === "number") {
    if (value === 0) return 0;
    throw new DurationError(`${value} is ambiguous: a duration needs a unit, e.g. "${value}ms" or "${value}s"`);
  }
  if (typeof value !== "string") throw new DurationError(`${JSON.stringify(value)} is not a duration: use e.g. "500ms", "30s", "5m", "1h30m"`);
  const text = value.trim();
  if (text === "0") return 0;
  if (/^\d+$/.test(text)) throw new DurationError(`"${text}" is ambiguous: a duration needs a unit, e.g. "${text}ms" or "${text}s"`);
  if (/^\d*\.\d+\s*(ms|s|m|h|d|w)$/.test(text)) throw new DurationError(`"${text}": fractions are not allowed; use a smaller unit (e.g. "1500ms" for 1.5s)`);
  let total = 0;
  let last = -1;
  PART.lastIndex = 0;
  let pos = 0;
  while (pos < text.length) {
    PART.lastIndex = pos;
    const m = PART.exec(text);
    if (!m) break;
    const rank = ORDER.indexOf(m[2]!);
    if (rank <= last) throw new DurationError(`"${text}": units must go from the largest down, each once (e.g. "1h30m")`);
    last = rank;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = PART.lastIndex;
  }
  if (pos === 0 || pos !== text.length) throw new DurationError(`${JSON.stringify(value)} is not a duration: use e.g. "500ms", "30s", "5m", "1h30m"`);
  if (!Number.isSafeInteger(total)) throw new DurationError(`"${text}" is too long`);
  return total;
}

/** Why `value` is not a duration (for schema errors on duration fields). */
export function durationProblem(value: unknown): string {
  try {
    parseDuration(value);
    return 'must be a duration such as "500ms", "30s", "5m", "1h30m"';
  } catch (err) {
    return (err as Error).message;
  }
}
