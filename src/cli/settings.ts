/**
 * Merges the settings of one command invocation. Precedence: command-line flags, then the
 * `--config` file (explicitly chosen for this run), then environment variables (ambient), then defaults.
 * This is the one place that turns the environment into options: library code (everything in src/ outside
 * src/cli) takes options only and never reads `process.env` (test/unit/no-process-env.test.ts checks that).
 */
import { DEFAULT_NATS_URL, DEFAULT_PREFIX, assertPrefix, type CliConfig, type NatsSettings } from "../protocol/index.js";
import { CliError } from "./CliError.js";
import { loadConfigFile } from "./config.js";
import type { CommonOptions, ResolvedSettings, SmtpSettings } from "./types.js";

/** Reads {@link NatsSettings} from NATS_URL, NATS_USER, NATS_PASSWORD, NATS_TOKEN, NATS_CREDS, NATS_NKEY, NATS_CA, NATS_CERT, NATS_KEY, NATS_CONNECT_TIMEOUT_MS, NATS_INBOX_PREFIX. */
export function natsSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): NatsSettings {
  const s: NatsSettings = {};
  if (env.NATS_URL) s.servers = env.NATS_URL.split(",").map((u) => u.trim()).filter(Boolean);
  if (env.NATS_USER) s.user = env.NATS_USER;
  if (env.NATS_PASSWORD) s.pass = env.NATS_PASSWORD;
  if (env.NATS_TOKEN) s.token = env.NATS_TOKEN;
  if (env.NATS_CREDS) s.credsFile = env.NATS_CREDS;
  if (env.NATS_NKEY) s.nkeyFile = env.NATS_NKEY;
  if (env.NATS_INBOX_PREFIX) s.inboxPrefix = env.NATS_INBOX_PREFIX;
  if (env.NATS_CONNECT_TIMEOUT_MS) {
    const ms = Number(env.NATS_CONNECT_TIMEOUT_MS);
    if (Number.isInteger(ms) && ms > 0) s.connectTimeoutMs = ms;
  }
  if (env.NATS_CA || env.NATS_CERT || env.NATS_KEY) {
    s.tls = { caFile: env.NATS_CA, certFile: env.NATS_CERT, keyFile: env.NATS_KEY };
  }
  return s;
}

function splitList(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const list = (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
  return list.length > 0 ? list : undefined;
}

/** Resolves NATS settings, prefix and output mode for a command. */
export function resolveSettings(opts: CommonOptions, env: NodeJS.ProcessEnv = process.env): ResolvedSettings {
  const configPath = opts.config ?? env.SB_CONFIG;
  const config: CliConfig = configPath ? loadConfigFile(configPath) : {};
  const fromEnv = natsSettingsFromEnv(env);
  const c = config.nats ?? {};

  const servers =
    splitList(opts.servers) ?? splitList(c.servers) ?? splitList(fromEnv.servers as string[] | undefined) ?? [DEFAULT_NATS_URL];
  const nats: NatsSettings & { servers: string[] } = { servers };
  const user = opts.user ?? c.user ?? fromEnv.user;
  const pass = opts.password ?? c.password ?? fromEnv.pass;
  const token = opts.token ?? c.token ?? fromEnv.token;
  const credsFile = opts.creds ?? c.creds ?? fromEnv.credsFile;
  const nkeyFile = opts.nkey ?? c.nkey ?? fromEnv.nkeyFile;
  if (user !== undefined) nats.user = user;
  if (pass !== undefined) nats.pass = pass;
  if (token !== undefined) nats.token = token;
  if (credsFile) nats.credsFile = credsFile;
  if (nkeyFile) nats.nkeyFile = nkeyFile;
  const inboxPrefix = opts.inboxPrefix ?? c.inboxPrefix ?? fromEnv.inboxPrefix;
  if (inboxPrefix !== undefined) nats.inboxPrefix = inboxPrefix;
  if (fromEnv.connectTimeoutMs !== undefined) nats.connectTimeoutMs = fromEnv.connectTimeoutMs;
  if (credsFile && nkeyFile) throw new CliError("use either --creds or --nkey, not both", 2);
  if (pass !== undefined && user === undefined) throw new CliError("--password needs --user (or NATS_USER)", 2);
  const caFile = opts.tlsCa ?? c.tls?.ca ?? fromEnv.tls?.caFile;
  const certFile = opts.tlsCert ?? c.tls?.cert ?? fromEnv.tls?.certFile;
  const keyFile = opts.tlsKey ?? c.tls?.key ?? fromEnv.tls?.keyFile;
  if (caFile || certFile || keyFile) {
    if (Boolean(certFile) !== Boolean(keyFile)) throw new CliError("--tls-cert and --tls-key go together (mutual TLS needs both)", 2);
    nats.tls = {};
    if (caFile) nats.tls.caFile = caFile;
    if (certFile) nats.tls.certFile = certFile;
    if (keyFile) nats.tls.keyFile = keyFile;
  }

  const prefix = opts.prefix ?? config.prefix ?? env.SB_PREFIX ?? DEFAULT_PREFIX;
  try {
    assertPrefix(prefix);
  } catch {
    throw new CliError(`invalid prefix ${JSON.stringify(prefix)}: use dot-separated tokens of letters, digits, '_' or '-' (e.g. sb or prod.sb)`, 2);
  }
  const resolved: ResolvedSettings = { nats, prefix, json: opts.json === true, config };
  if (configPath) resolved.configPath = configPath;
  return resolved;
}

/** Parses a boolean environment value (`1`, `true`, `yes`, `on`). */
function envBool(value: string | undefined): boolean | undefined {
  if (value === undefined || value === "") return undefined;
  return /^(1|true|yes|on)$/i.test(value.trim());
}

/** SMTP settings: flags (as an object), then the config file, then SMTP_HOST, SMTP_PORT, SMTP_SECURE, SMTP_USER, SMTP_PASSWORD, SMTP_FROM, SMTP_TO. */
export function resolveSmtp(flags: SmtpSettings, config: CliConfig, env: NodeJS.ProcessEnv = process.env): SmtpSettings {
  const c = config.smtp ?? {};
  const out: SmtpSettings = {};
  const host = flags.host ?? c.host ?? env.SMTP_HOST;
  const portText = env.SMTP_PORT;
  const envPort = portText ? Number(portText) : undefined;
  if (envPort !== undefined && !(Number.isInteger(envPort) && envPort > 0 && envPort < 65536)) {
    throw new CliError(`SMTP_PORT ${JSON.stringify(portText)} is not a port number`, 2);
  }
  const port = flags.port ?? c.port ?? envPort;
  const secure = flags.secure ?? c.secure ?? envBool(env.SMTP_SECURE);
  const user = flags.user ?? c.user ?? env.SMTP_USER;
  const password = flags.password ?? c.password ?? env.SMTP_PASSWORD ?? env.SMTP_PASS;
  const from = flags.from ?? c.from ?? env.SMTP_FROM;
  const to = flags.to ?? splitList(c.to) ?? splitList(env.SMTP_TO);
  if (host !== undefined) out.host = host;
  if (port !== undefined) out.port = port;
  if (secure !== undefined) out.secure = secure;
  if (user !== undefined) out.user = user;
  if (password !== undefined) out.password = password;
  if (from !== undefined) out.from = from;
  if (to !== undefined) out.to = to;
  return out;
}
