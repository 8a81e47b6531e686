/** JSON encoding of message bodies; one shared encoder/decoder keeps the hot path allocation-light. */
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a value as UTF-8 JSON bytes. */
export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Decodes UTF-8 bytes to a string. */
export function decodeText(data: Uint8Array): string {
  return decoder.decode(data);
}

/** Parses UTF-8 JSON bytes; throws SyntaxError on anything else. An empty body is `undefined`. */
export function decodeJson(data: Uint8Array): unknown {
  if (data.length === 0) return undefined;
  return JSON.parse(decoder.decode(data));
}
