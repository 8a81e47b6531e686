/** Options every command shares, and how a command turns them into settings and a connection. */
import { InvalidArgumentError, Option, type Command } from "commander";
import type { NatsConnection } from "@nats-io/transport-node";
import { Subjects, checkTags, checkVersionRange, checkZone, parseDuration } from "../../protocol/index.js";
import { CliError } from "../CliError.js";
import { connectForCli } from "../connect.js";
import { resolveSettings } from "../settings.js";
import type { CommonOptions, ResolvedSettings } from "../types.js";

/**
 * Adds the shared options (NATS servers and authentication, prefix, JSON output, config file) and
 * an example to a command's help.
 * @param examples command lines shown under "Examples:" in `--help`
 */
export function withCommonOptions(cmd: Command, examples: string[]): Command {
  cmd
    .option("-s, --servers <urls>", "NATS server URL(s), comma-separated (env NATS_URL; default nats://127.0.0.1:4222)")
    .option("--user <name>", "NATS user name (env NATS_USER)")
    .option("--password <password>", "NATS password (env NATS_PASSWORD)")
    .option("--token <token>", "NATS authentication token (env NATS_TOKEN)")
    .option("--creds <file>", "NATS .creds file: JWT and nkey seed (env NATS_CREDS)")
    .option("--inbox-prefix <prefix>", "prefix of reply inboxes, e.g. _INBOX_<user> for a user confined to its own (env NATS_INBOX_PREFIX)")
    .option("--nkey <file>", "file holding an nkey seed (env NATS_NKEY)")
    .option("--tls-ca <file>", "CA certificate(s) to trust, PEM (env NATS_CA)")
    .option("--tls-cert <file>", "client certificate for mutual TLS, PEM (env NATS_CERT)")
    .option("--tls-key <file>", "client key for mutual TLS, PEM (env NATS_KEY)")
    .option("-p, --prefix <prefix>", "subject prefix of the installation (env SB_PREFIX; default sb)")
    .option("--json", "machine-readable JSON output")
    .option("-c, --config <file>", "configuration file, JSON or YAML (env SB_CONFIG; schema: schemas/config.json)");
  cmd.addHelpText("after", `\nExample${examples.length > 1 ? "s" : ""}:\n${examples.map((e) => `  $ ${e}`).join("\n")}\n`);
  return cmd;
}

/** The resolved settings of a command from its parsed options. */
export function settingsOf(cmd: Command): ResolvedSettings {
  return resolveSettings(cmd.opts<CommonOptions>());
}

/** Settings, subjects and an open connection for a command; the caller closes the connection. */
export async function open(cmd: Command, name: string): Promise<{ settings: ResolvedSettings; subjects: Subjects; nc: NatsConnection }> {
  const settings = settingsOf(cmd);
  const subjects = new Subjects(settings.prefix);
  const nc = await connectForCli(settings, `switchboard ${name}`);
  return { settings, subjects, nc };
}

/** A commander option parser for durations (`500ms`, `5s`, `2m`, `1h30m`: the one grammar, see protocol/duration.ts). */
export function durationArg(): (value: string) => number {
  return (value: string) => {
    try {
      return parseDuration(value);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

/** A commander option parser for positive integers. */
export function intArg(name: string, min = 0, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer between ${min} and ${max}`);
    return n;
  };
}

/** An option whose value is a port number. */
export function portOption(flags: string, description: string): Option {
  return new Option(flags, description).argParser(intArg("port", 0, 65535));
}

/** Address the health endpoint binds: loopback unless asked, so a probe port is not exposed by accident. */
export const DEFAULT_HEALTH_HOST = "127.0.0.1";

/** `--health-host`, the address `--health-port` binds (default {@link DEFAULT_HEALTH_HOST}). */
export function healthHostOption(): Option {
  return new Option("--health-host <host>", "address the health port binds (0.0.0.0 for every interface)").default(DEFAULT_HEALTH_HOST);
}

/** `--version`, `--tag` and `--zone` of `ls` and `call`, validated, as selector fields. */
export function selectorOptions(opts: { version?: string; tag?: string; zone?: string }): { version?: string; tags?: string[]; zone?: string } {
  const out: { version?: string; tags?: string[]; zone?: string } = {};
  try {
    if (opts.version !== undefined) out.version = checkVersionRange(opts.version);
    if (opts.tag !== undefined) out.tags = checkTags(opts.tag.split(",").map((t) => t.trim()).filter(Boolean));
    if (opts.zone !== undefined) out.zone = checkZone(opts.zone);
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
  return out;
}
