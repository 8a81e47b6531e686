/** JSON encoding of message bodies; one shared encoder/decoder keeps the hot path allocation-light. */
const decoder = new TextDecoder();

/**
 * Encodes a value as UTF-8 JSON bytes. Buffer.from is several times faster than TextEncoder for the
 * small bodies of typical messages (it allocates from Node's shared pool); a Buffer is a Uint8Array.
 */
export function encodeJson(value: unknown): Uint8Array {
  const text = JSON.stringify(value);
  // JSON.stringify gives undefined for undefined or a function: an empty body, as before.
  return text === undefined ? new Uint8Array(0) : Buffer.from(text, "utf8");
}

/** Parses UTF-8 JSON bytes; throws SyntaxError on anything else. An empty body is `undefined`. */
export function decodeJson(data: Uint8Array): unknown {
  if (data.length === 0) return undefined;
  return JSON.parse(decoder.decode(data));
}
