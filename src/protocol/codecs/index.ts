/** Body codecs: the interface, the built-ins, and the set of codecs a component knows. */
export { assertCodec, CodecError, CODEC_NAME_PATTERN, EncodedBody, encoded, encodeWith, isCodecName, thrownMessage, type Codec } from "./Codec.js";
export { BUILTIN_CODECS, jsonCodec, msgpackCodec, rawCodec, type BuiltinCodecName } from "./builtinCodecs.js";
export { CodecSet, type CodecSpec } from "./CodecSet.js";
