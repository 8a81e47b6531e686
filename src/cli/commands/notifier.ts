/** `switchboard notifier`: mails alert transitions (grouped, deduplicated, acknowledged) over SMTP. */
import { Command, Option } from "commander";
import { parseDuration } from "../../protocol/index.js";
import { createMailNotifier, smtpSettingsFromEnv, type MailNotifier, type RouteConfig, type SmtpSettings } from "../../notify/index.js";
import { CliError } from "../CliError.js";
import { runService } from "../runService.js";
import { resolveSmtp } from "../settings.js";
import { durationArg, open, portOption, withCommonOptions, healthHostOption } from "./common.js";

interface NotifierFlags {
  smtpHost?: string;
  smtpPort?: number;
  smtpSecure?: boolean;
  smtpUser?: string;
  smtpPassword?: string;
  from?: string;
  to?: string;
  groupWait?: number;
  groupInterval?: number;
  repeatInterval?: number;
  durable?: string;
  id?: string;
  externalUrl?: string;
  ackWait?: number;
  healthPort?: number;
  healthHost: string;
}

/** A config-file duration (`"30s"`) in ms. */
function configDuration(value: string | number | undefined, where: string): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseDuration(value);
  } catch (err) {
    throw new CliError(`config ${where}: ${(err as Error).message}`, 2);
  }
}

/** Builds the `notifier` command. */
export function notifierCommand(): Command {
  const cmd = new Command("notifier")
    .description("mail alert transitions: grouped like Alertmanager, one mail per transition, repeats until acknowledged")
    .option("--smtp-host <host>", "SMTP server (env SMTP_HOST; default localhost)")
    .addOption(portOption("--smtp-port <port>", "SMTP port (env SMTP_PORT; default 587, or 465 with --smtp-secure)"))
    .option("--smtp-secure", "TLS from the first byte, port 465 (env SMTP_SECURE); otherwise STARTTLS when offered")
    .option("--smtp-user <user>", "SMTP user (env SMTP_USER)")
    .option("--smtp-password <password>", "SMTP password (env SMTP_PASSWORD or SMTP_PASS)")
    .option("--from <address>", "sender address (env SMTP_FROM)")
    .option("--to <addresses>", "recipients, comma-separated (env SMTP_TO); routes in the config file can split by severity/service")
    .addOption(new Option("--group-wait <duration>", "wait before the first mail of a new group (default 30s)").argParser(durationArg()))
    .addOption(new Option("--group-interval <duration>", "wait between mails about changes in a group (default 5m)").argParser(durationArg()))
    .addOption(new Option("--repeat-interval <duration>", "re-mail unacknowledged firing alerts this often (default 4h)").argParser(durationArg()))
    .option("--durable <name>", "durable consumer name; notifiers sharing it share the work (default notifier)")
    .option("--id <id>", "notifier id shown in ack replies (default notifier-<random>)")
    .option("--external-url <url>", "link shown in mails (e.g. a dashboard)")
    .addOption(new Option("--ack-wait <duration>", "take over the alerts of a dead notifier after this long (default 30s; live notifiers send in-progress acks every third of it)").argParser(durationArg()))
    .addOption(portOption("--health-port <port>", "serve GET /healthz on this port (for container health checks)"))
    .addOption(healthHostOption());
  withCommonOptions(cmd, [
    "SMTP_HOST=mail.example.com SMTP_FROM=alerts@example.com switchboard notifier --to oncall@example.com",
    "switchboard notifier --smtp-host 127.0.0.1 --smtp-port 1025 --from sb@localhost --to me@localhost --group-wait 5s",
  ]);
  cmd.action(async (flags: NotifierFlags) => {
    const { settings, subjects, nc } = await open(cmd, "notifier");
    const n = settings.config.notifier ?? {};
    let notifier: MailNotifier;
    try {
      const partial = resolveSmtp(
        {
          ...(flags.smtpHost !== undefined ? { host: flags.smtpHost } : {}),
          ...(flags.smtpPort !== undefined ? { port: flags.smtpPort } : {}),
          ...(flags.smtpSecure !== undefined ? { secure: flags.smtpSecure } : {}),
          ...(flags.smtpUser !== undefined ? { user: flags.smtpUser } : {}),
          ...(flags.smtpPassword !== undefined ? { password: flags.smtpPassword } : {}),
          ...(flags.from !== undefined ? { from: flags.from } : {}),
          ...(flags.to !== undefined ? { to: flags.to.split(",").map((s) => s.trim()).filter(Boolean) } : {}),
        },
        settings.config,
      );
      // Defaults (localhost, 587/465, a sender on this host) come from the notifier's own env reader.
      const base = smtpSettingsFromEnv({ ...process.env, ...(partial.secure !== undefined ? { SMTP_SECURE: String(partial.secure) } : {}) });
      const smtp: SmtpSettings = { ...base };
      if (partial.host !== undefined) smtp.host = partial.host;
      if (partial.port !== undefined) smtp.port = partial.port;
      if (partial.secure !== undefined) smtp.secure = partial.secure;
      if (partial.user !== undefined) smtp.user = partial.user;
      if (partial.password !== undefined) smtp.pass = partial.password;
      if (partial.from !== undefined) smtp.from = partial.from;
      const to = partial.to ?? (n.to === undefined ? undefined : Array.isArray(n.to) ? n.to : [n.to]);
      const routes: RouteConfig[] = (n.routes ?? []).map((r, i) => {
        const route: RouteConfig = { to: r.to };
        if (r.name !== undefined) route.name = r.name;
        if (r.severity !== undefined) route.severity = r.severity;
        if (r.service !== undefined) route.service = r.service;
        if (r.continue !== undefined) route.continue = r.continue;
        if (r.groupBy !== undefined) route.groupBy = r.groupBy;
        const gw = configDuration(r.groupWait, `notifier.routes[${i}].groupWait`);
        const gi = configDuration(r.groupInterval, `notifier.routes[${i}].groupInterval`);
        const ri = configDuration(r.repeatInterval, `notifier.routes[${i}].repeatInterval`);
        if (gw !== undefined) route.groupWaitMs = gw;
        if (gi !== undefined) route.groupIntervalMs = gi;
        if (ri !== undefined) route.repeatIntervalMs = ri;
        return route;
      });
      const groupWaitMs = flags.groupWait ?? configDuration(n.groupWait, "notifier.groupWait");
      const groupIntervalMs = flags.groupInterval ?? configDuration(n.groupInterval, "notifier.groupInterval");
      const repeatIntervalMs = flags.repeatInterval ?? configDuration(n.repeatInterval, "notifier.repeatInterval");
      const id = flags.id ?? n.id;
      const durable = flags.durable ?? n.durable;
      const externalUrl = flags.externalUrl ?? n.externalUrl;
      const ackWaitMs = flags.ackWait ?? configDuration(n.ackWait, "notifier.ackWait");
      if (ackWaitMs !== undefined && ackWaitMs < 500) throw new CliError("--ack-wait must be at least 500ms", 2);
      notifier = createMailNotifier({
        nats: nc,
        prefix: subjects.prefix,
        smtp,
        ...(to !== undefined ? { to } : {}),
        ...(routes.length > 0 ? { routes } : {}),
        ...(n.groupBy !== undefined ? { groupBy: n.groupBy } : {}),
        ...(groupWaitMs !== undefined ? { groupWaitMs } : {}),
        ...(groupIntervalMs !== undefined ? { groupIntervalMs } : {}),
        ...(repeatIntervalMs !== undefined ? { repeatIntervalMs } : {}),
        ...(id !== undefined ? { id } : {}),
        ...(durable !== undefined ? { durable } : {}),
        ...(externalUrl !== undefined ? { externalUrl } : {}),
        ...(n.inhibitRules !== undefined ? { inhibitRules: n.inhibitRules } : {}),
        ...(ackWaitMs !== undefined ? { ackWaitMs } : {}),
      });
    } catch (err) {
      await nc.close();
      if (err instanceof CliError) throw err;
      throw new CliError(`notifier settings are invalid: ${(err as Error).message.split("\n")[0]}`, 2);
    }
    await runService({
      name: "notifier",
      settings,
      nc,
      ...(flags.healthPort !== undefined ? { healthPort: flags.healthPort, healthHost: flags.healthHost } : {}),
      start: async () => {
        try {
          await notifier.start();
        } catch (err) {
          throw new CliError(`notifier could not start: ${(err as Error).message.split("\n")[0]}`);
        }
      },
      stop: () => notifier.stop(),
      describe: () => `notifier ${notifier.id} running on ${nc.getServer()} (prefix ${subjects.prefix}, mailing through SMTP)`,
      details: () => ({ id: notifier.id }),
      health: () => {
        const s = notifier.stats();
        return { ok: true, id: notifier.id, mailsSent: s.mailsSent, smtpFailures: s.smtpFailures, held: s.held };
      },
    });
  });
  return cmd;
}

