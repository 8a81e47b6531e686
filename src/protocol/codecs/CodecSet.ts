/** The codecs a client or agent knows, by name: the built-ins plus the user's. */
import { BUILTIN_CODECS, type BuiltinCodecName } from "./builtinCodecs.js";
import { assertCodec, CodecError, type Codec } from "./Codec.js";

/** A codec given by name (built-in or registered) or as an object. */
export type CodecSpec = BuiltinCodecName | (string & {}) | Codec;

/** Codecs known by name. A Map, never a plain object: names come from the wire. */
export class CodecSet {
  private readonly byName = new Map<string, Codec>(BUILTIN_CODECS);

  /** `codecs`: user codecs; a user codec may not take a built-in name. */
  constructor(codecs: readonly Codec[] = []) {
    for (const c of codecs) this.add(c);
  }

  /** Adds a user codec (validated). */
  add(codec: Codec): void {
    assertCodec(codec);
    if (BUILTIN_CODECS.has(codec.name)) throw new CodecError(`codec name ${codec.name} is built in; give your codec another name`);
    const known = this.byName.get(codec.name);
    if (known !== undefined && known !== codec) throw new CodecError(`two different codecs are named ${codec.name}`);
    this.byName.set(codec.name, codec);
  }

  /** The codec named `name`, or undefined. */
  get(name: string): Codec | undefined {
    return this.byName.get(name);
  }

  /** Resolves a spec to a codec: objects are validated (and need not be registered), names must be known. */
  resolve(spec: CodecSpec): Codec {
    if (typeof spec === "string") {
      const c = this.byName.get(spec);
      if (c === undefined) throw new CodecError(`unknown codec ${JSON.stringify(spec)}: built in are json, raw and msgpack; register others by passing the codec object`);
      return c;
    }
    return assertCodec(spec);
  }
}
