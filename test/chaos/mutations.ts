/**
 * Mutations of valid JSON messages for the fuzzing tests: a value replaced by something nasty, a
 * field deleted or added at any depth, the encoding truncated or a byte flipped.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { encodeJson } from "../../src/protocol/index.js";

export type Path = Array<string | number>;
/** Every path into a JSON value (objects and arrays), the root included. */
export function paths(v: unknown, at: Path = []): Path[] {
  const out: Path[] = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
  else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
  return out;
}
/** A deep copy of `v` with the value at `path` replaced (or deleted when `value` is DELETE). */
export const DELETE = Symbol("delete");
export function setAt(v: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value === DELETE ? undefined : value;
  const copy: unknown = Array.isArray(v) ? [...v] : { ...(v as object) };
  const [head, ...rest] = path;
  const c = copy as Record<string | number, unknown>;
  const next = setAt(c[head!], rest, value);
  if (rest.length === 0 && value === DELETE) {
    if (Array.isArray(copy)) copy.splice(head as number, 1);
    else delete c[head!];
  } else c[head!] = next;
  return copy;
}

/** Values that break schemas in interesting ways. */
export const nasty = fc.oneof(
  fc.anything(),
  fc.constantFrom("", " ", "a.b", "*", ">", "a b", "\r\nBcc: x@evil", "<script>", "\u0000", "🙂".repeat(40), "x".repeat(5000)),
  fc.constantFrom(-1, 0, 1.5, -0, Number.MAX_SAFE_INTEGER + 2, 1e308, 2 ** 53),
  fc.constantFrom(null, true, [], {}, [[[[[]]]]]),
  fc.string({ unit: "binary", maxLength: 64 }),
);

/** A mutation of `seed`: replace, delete or add at a random depth, or damage the encoding. */
export function mutation(seed: unknown): fc.Arbitrary<Uint8Array> {
  const all = paths(seed);
  const objects = all.filter((p) => {
    let v: unknown = seed;
    for (const k of p) v = (v as Record<string | number, unknown>)[k];
    return v !== null && typeof v === "object" && !Array.isArray(v);
  });
  const bytes = encodeJson(seed);
  return fc.oneof(
    fc.tuple(fc.constantFrom(...all), nasty).map(([p, x]) => encodeJson(setAt(seed, p, x) ?? null)),
    fc.constantFrom(...all.filter((p) => p.length > 0)).map((p) => encodeJson(setAt(seed, p, DELETE))),
    fc.tuple(fc.constantFrom(...objects), fc.string({ minLength: 1, maxLength: 12 }), nasty).map(([p, k, x]) => {
      let target: unknown = seed;
      for (const s of p) target = (target as Record<string | number, unknown>)[s];
      return encodeJson(setAt(seed, p, { ...(target as object), [k]: x }));
    }),
    fc.integer({ min: 0, max: Math.max(0, bytes.length - 1) }).map((n) => bytes.slice(0, n)),
    fc.tuple(fc.integer({ min: 0, max: bytes.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
      const copy = bytes.slice();
      copy[i] = b;
      return copy;
    }),
  );
}


/** The JSON examples docs/PROTOCOL.md validates, by schema name (one valid message per wire kind). */
export function protocolExamples(): Map<string, unknown> {
  const doc = readFileSync(join(import.meta.dirname, "..", "..", "docs", "PROTOCOL.md"), "utf8");
  const out = new Map<string, unknown>();
  for (const m of doc.matchAll(/<!-- validate: ([a-z-]+) -->\n```json\n([\s\S]*?)\n```/g)) out.set(m[1]!, JSON.parse(m[2]!));
  return out;
}
