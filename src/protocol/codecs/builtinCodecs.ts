/**
 * The built-in codecs: `json` (the default), `raw` (opaque bytes, no parse, no copy) and `msgpack`
 * (MessagePack through msgpackr, chosen by measurement: see docs/BENCHMARKS.md).
 */
import { Packr } from "msgpackr";
import { decodeJson, encodeJson } from "../codec.js";
import type { Codec } from "./Codec.js";

const EMPTY = new Uint8Array(0);

/** UTF-8 JSON; an empty body is `undefined` (and `undefined` is an empty body). */
export const jsonCodec: Codec = {
  name: "json",
  encode: encodeJson,
  decode: decodeJson,
};

/**
 * Opaque bytes: the payload must be a `Uint8Array` (a Buffer is one) and is sent as it is; the
 * handler and the caller receive a view of the received message, never a copy.
 */
export const rawCodec: Codec<Uint8Array> = {
  name: "raw",
  encode(value: Uint8Array): Uint8Array {
    if (value === undefined || value === null) return EMPTY;
    if (!(value instanceof Uint8Array)) throw new TypeError(`the raw codec takes a Uint8Array, got ${Array.isArray(value) ? "an array" : typeof value}`);
    return value;
  },
  decode: (data: Uint8Array) => data,
};

/**
 * msgpackr without its record extension (plain MessagePack maps, readable by any MessagePack
 * library). Decoding untrusted bytes: maps become plain objects (msgpackr renames a `__proto__` key),
 * truncated or too deeply nested input throws.
 */
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** MessagePack; an empty body is `undefined` (and `undefined` is an empty body). */
export const msgpackCodec: Codec = {
  name: "msgpack",
  encode: (value: unknown) => (value === undefined ? EMPTY : packr.pack(value)),
  decode: (data: Uint8Array) => (data.length === 0 ? undefined : packr.unpack(data)),
};

/** Built-in codecs by name. */
export const BUILTIN_CODECS: ReadonlyMap<string, Codec> = new Map<string, Codec>([
  ["json", jsonCodec],
  ["raw", rawCodec as Codec],
  ["msgpack", msgpackCodec],
]);

/** The codec names built in. */
export type BuiltinCodecName = "json" | "raw" | "msgpack";
