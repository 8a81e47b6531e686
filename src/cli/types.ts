/** Option and settings types shared by every `switchboard` command. */
import type { NatsSettings } from "../protocol/index.js";
import type { CliConfig } from "../protocol/index.js";

/** The options every command accepts, as commander parses them (camel-cased). */
export interface CommonOptions {
  /** Comma-separated NATS server URLs. */
  servers?: string;
  user?: string;
  password?: string;
  token?: string;
  /** Path of a `.creds` file. */
  creds?: string;
  /** Prefix of reply inboxes (`--inbox-prefix`). */
  inboxPrefix?: string;
  /** Path of a file holding an nkey seed. */
  nkey?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** Subject prefix (default `sb`). */
  prefix?: string;
  /** Machine-readable output. */
  json?: boolean;
  /** Path of a JSON or YAML configuration file. */
  config?: string;
}

/**
 * SMTP settings for the mail notifier, from flags, config file or SMTP_* variables: the config file's
 * `smtp` object (schemas/config.json), with the recipients resolved to a list.
 */
export type SmtpSettings = Omit<NonNullable<CliConfig["smtp"]>, "to"> & { to?: string[] };

/** Settings after merging flags, the config file, the environment and defaults (in that order of precedence). */
export interface ResolvedSettings {
  /** NATS connection settings; `servers` is always set. */
  nats: NatsSettings & { servers: string[] };
  prefix: string;
  json: boolean;
  /** The parsed configuration file, or an empty object without `--config`. */
  config: CliConfig;
  /** Where the config file was read from, if any. */
  configPath?: string;
}
