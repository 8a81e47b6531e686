/** The wire protocol: subjects, message schemas and types, decoding of untrusted input, errors. */
export * from "./types.generated.js";
export { encodeJson, decodeJson } from "./codec.js";
export { parseDuration, durationProblem, DurationError, DURATION_PATTERN } from "./duration.js";
export * from "./codecs/index.js";
export {
  Subjects,
  DEFAULT_PREFIX,
  COORDINATOR_QUEUE,
  NOTIFIER_QUEUE,
  TOKEN_PATTERN,
  InvalidNameError,
  isToken,
  assertToken,
  assertPrefix,
  type InstanceEventKind,
} from "./subjects.js";
export { validatorFor, compileSchema, describeErrors, schemaDocuments, SCHEMA_DIR, type MessageKind, type MessageTypes } from "./schemas.js";
export { decodeMessage, decodeWith, DEFAULT_MAX_MESSAGE_BYTES, type Decoded } from "./decode.js";
export {
  ErrorCode,
  ServiceError,
  ERROR_CODE_HEADER,
  ERROR_MESSAGE_HEADER,
  DEADLINE_HEADER,
  CODEC_HEADER,
  statusForCode,
  codeForStatus,
  isRetryableCode,
} from "./errors.js";
export { errorReply, readErrorReply } from "./replies.js";
export {
  ReplyGuard,
  replySubjectRefusal,
  MAX_REPLY_SUBJECT_LENGTH,
  REPLY_SUBJECT_KIND,
  type ReplyGuardOptions,
  type ReplyOutcome,
  type ReplyStats,
} from "./ReplyGuard.js";
export { InvalidInputLog, type InvalidInputLogOptions } from "./InvalidInputLog.js";
export { createLogger, setDefaultLogLevel, type Logger } from "./logger.js";
export { EventEmitter, type Event, type Disposable } from "./Event.js";
export {
  connectNats,
  openNats,
  toConnectionOptions,
  DEFAULT_NATS_URL,
  type NatsSettings,
  type NatsSource,
} from "./connection.js";
export {
  compileSelector,
  checkVersionRange,
  checkTags,
  checkZone,
  InvalidSelectorError,
  type InstanceSelector,
  type CompiledSelector,
} from "./InstanceSelector.js";
export { LEASE_KEY, LeaseReader, leaseBucketName, leaseFromEntry, type LeaseRead, type LeaseState } from "./lease.js";
export { SIGNATURE_HEADER, SIGNER_HEADER, StateSigner, StateVerifier, signedDigest } from "./signing.js";
