/**
 * A body codec: how an endpoint's request and reply bodies become bytes and back. JSON is the
 * default; `raw` and `msgpack` are built in; anything else (protobuf through the user's generated
 * code, CBOR…) is a user codec implementing this interface, known to the agent and the client by
 * name. The endpoint announces its codec's name and every request carries it in the `Sb-Codec`
 * header (absent: `json`), so a mismatch is answered `BAD_REQUEST`, never decoded as garbage.
 */

/**
 * A codec. `encode` and `decode` may throw on values or bytes they cannot handle: the side that
 * threw reports it (`BadRequestError` for a payload the client cannot encode, `BAD_REQUEST` for a
 * request the agent cannot decode, `BadReplyError` for a reply the client cannot decode, `INTERNAL`
 * for a reply the agent cannot encode) and nothing crashes.
 *
 * @example A protobuf codec from generated code (protobufjs / ts-proto style):
 * ```ts
 * const orderCodec: Codec<Order> = {
 *   name: "protobuf/shop.Order",
 *   encode: (o) => Order.encode(o).finish(),
 *   decode: (b) => Order.decode(b),
 * };
 * agent.endpoint("get", handler, { codec: orderCodec });
 * const client = await createClient({ codecs: [orderCodec] }); // endpoints announcing it use it
 * ```
 */
export interface Codec<T = unknown> {
  /** Name announced with the endpoint and sent in `Sb-Codec`: see {@link CODEC_NAME_PATTERN}. */
  readonly name: string;
  /** The body of `value`. May return a view of memory it no longer touches afterwards; must not reuse it. */
  encode(value: T): Uint8Array;
  /** The value of `data` (which may be empty). `data` is a view of the received message: copy what you keep. */
  decode(data: Uint8Array): T;
}

/** Valid codec names (also in schemas/common.json `codecName`). */
export const CODEC_NAME_PATTERN = /^[a-z][a-z0-9._+/-]{0,63}$/;

/** Whether `name` is a valid codec name. */
export function isCodecName(name: unknown): name is string {
  return typeof name === "string" && CODEC_NAME_PATTERN.test(name);
}

/** Thrown for a codec that is not usable (bad name, missing methods, unknown name). */
export class CodecError extends TypeError {
  override readonly name = "CodecError";
}

/** Checks a codec object's shape; returns it. */
export function assertCodec<T>(codec: Codec<T>): Codec<T> {
  if (codec === null || typeof codec !== "object") throw new CodecError(`a codec must be an object with name, encode and decode, got ${String(codec)}`);
  if (!isCodecName(codec.name)) {
    throw new CodecError(`invalid codec name ${JSON.stringify(codec.name)}: lowercase letters, digits and . _ + / -, starting with a letter, at most 64 characters`);
  }
  if (typeof codec.encode !== "function" || typeof codec.decode !== "function") throw new CodecError(`codec ${codec.name} needs encode() and decode() methods`);
  return codec;
}

/**
 * A reply or payload that is already encoded in the endpoint's codec: sent as these bytes, without
 * encoding and without a copy. A handler that forwards a body it received (`ctx.data`) returns
 * `encoded(ctx.data)`; a caller that holds encoded bytes passes `encoded(bytes)` as the payload.
 */
export class EncodedBody {
  constructor(readonly data: Uint8Array) {
    if (!(data instanceof Uint8Array)) throw new TypeError("encoded() takes a Uint8Array");
  }
}

/** Marks `data` as already encoded (see {@link EncodedBody}). */
export function encoded(data: Uint8Array): EncodedBody {
  return new EncodedBody(data);
}

/** Runs a codec's `encode` and checks its result, so a broken user codec gives a clear error. */
export function encodeWith(codec: Codec, value: unknown): Uint8Array {
  if (value instanceof EncodedBody) return value.data;
  const out = codec.encode(value);
  if (!(out instanceof Uint8Array)) throw new CodecError(`codec ${codec.name} returned ${out === null ? "null" : typeof out} from encode(), not a Uint8Array`);
  return out;
}

/** The message of anything thrown, one line, at most 200 characters (it goes into error replies). */
export function thrownMessage(err: unknown): string {
  const m = err instanceof Error ? err.message || err.name : String(err);
  const line = m.replace(/[\r\n]+/g, " ");
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}
