/**
 * `switchboard/internal`: everything the CLI, the tests and the benchmarks use besides the public API —
 * parsers, encoders, pure state machines, subjects helpers, the CLI as a library. Not covered by semver:
 * any of it may change in a minor release. Applications import `switchboard` (src/index.ts) instead.
 *
 * Like nats.js's `internal_mod.ts` beside `mod.ts`, this is a superset of the public API, so a test may take
 * every name from one place. `test/unit/api-surface.test.ts` pins this list in `api-internal.txt`.
 *
 * @packageDocumentation
 */
export * from "./index.js";
export * from "./protocol/index.js";
export * from "./agent/index.js";
export * from "./coordinator/index.js";
export * from "./client/index.js";
export * from "./monitor/index.js";
export * from "./notify/index.js";
export * from "./gateway/index.js";
export * from "./bridge/index.js";
// The CLI as a library; its SmtpSettings (CLI flags) is not the notifier's, so it is not re-exported here.
export { buildProgram, main, run, CliError, describeConnectError, toCliError, resolveSettings, resolveSmtp, loadConfigFile, parseConfig } from "./cli/index.js";
export type { CommonOptions, ResolvedSettings } from "./cli/index.js";
