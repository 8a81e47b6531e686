/** The `switchboard` command line, as a library: build the program or run it. */
export { buildProgram, main, run } from "./main.js";
export { CliError, describeConnectError, toCliError } from "./CliError.js";
export { resolveSettings, resolveSmtp, natsSettingsFromEnv } from "./settings.js";
export { loadConfigFile, parseConfig } from "./config.js";
export type { CommonOptions, ResolvedSettings, SmtpSettings } from "./types.js";
