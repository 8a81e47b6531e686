/**
 * Decoding of untrusted message bodies: size check, JSON parse, schema validation, in that order,
 * returning a result instead of throwing so that no handler can be crashed by its input.
 */
import { decodeJson } from "./codec.js";
import { describeErrors, validatorFor, type MessageKind, type MessageTypes } from "./schemas.js";

/** Default largest control-plane message (announce, heartbeat, query, …) accepted, in bytes. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;

/** Outcome of decoding an untrusted body. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: "too-large" | "not-json" | "schema"; error: string };

/**
 * Decodes and validates a message body of the given kind.
 * @param maxBytes bodies larger than this are refused before parsing
 */
export function decodeMessage<K extends MessageKind>(
  kind: K,
  data: Uint8Array,
  maxBytes = DEFAULT_MAX_MESSAGE_BYTES,
): Decoded<MessageTypes[K]> {
  return decodeWith<MessageTypes[K]>(kind, data, maxBytes);
}

/** Like {@link decodeMessage} for any schema file name, typed by the caller. */
export function decodeWith<T>(kind: string, data: Uint8Array, maxBytes = DEFAULT_MAX_MESSAGE_BYTES): Decoded<T> {
  if (data.length > maxBytes) {
    return { ok: false, reason: "too-large", error: `${kind} message of ${data.length} bytes exceeds the ${maxBytes}-byte limit` };
  }
  let value: unknown;
  try {
    value = decodeJson(data);
  } catch {
    return { ok: false, reason: "not-json", error: `${kind} message is not valid JSON` };
  }
  const validate = validatorFor(kind);
  if (!validate(value)) {
    return { ok: false, reason: "schema", error: `${kind} message ${describeErrors(validate.errors)}` };
  }
  return { ok: true, value: value as T };
}
