/** `switchboard alerts`: tails alert events (`<prefix>.alerts.>`), filtered by severity or service. */
import { Command, Option } from "commander";
import { InvalidInputLog, decodeWith, isToken, type AlertAck, type AlertEvent, type AlertList, type AlertListQuery, type ListedAlert } from "../../protocol/index.js";
import { MatcherError, parseMatcher } from "../../notify/index.js";
import { CliError } from "../CliError.js";
import { closeQuietly } from "../connect.js";
import { shutdownTrigger } from "../lifecycle.js";
import { requestNotifier } from "../notifierRequest.js";
import { clock, err as errColors, formatDuration, out, printJsonLine, printable, table, type Colors } from "../output.js";
import { stderrWarn } from "../stderrLog.js";
import { durationArg, open, withCommonOptions } from "./common.js";

function severityColor(severity: string, colors: Colors): (s: string) => string {
  if (/^(critical|page|error|high)$/i.test(severity)) return colors.red;
  if (/^(warning|warn|medium)$/i.test(severity)) return colors.yellow;
  return colors.cyan;
}

/** One human line per alert event. */
function renderAlert(a: AlertEvent, colors: Colors = out): string {
  const status = a.status === "firing" ? colors.red(colors.bold("FIRING  ")) : colors.green("RESOLVED");
  const at = a.status === "resolved" && a.endsAt ? a.endsAt : a.startsAt;
  // Every field came from the bus: printable() before it reaches the terminal.
  const where = printable(a.instance ? `${a.service}/${a.instance}` : a.service);
  const value = a.value === undefined ? "" : ` ${printable(a.metric)}=${a.value === null ? "n/a" : +a.value.toFixed(4)}`;
  const cmp = a.op !== undefined && a.threshold !== undefined ? ` (${printable(a.op)} ${a.threshold})` : "";
  const summary = a.annotations.summary ? `  ${printable(a.annotations.summary)}` : "";
  return `${colors.dim(clock(at))}  ${status}  ${severityColor(a.severity, colors)(printable(a.severity).padEnd(8))}  ${colors.bold(where)}  ${printable(a.rule)}${value}${cmp}${summary}  ${colors.dim(`fp ${printable(a.fingerprint)}`)}`;
}

/** One human line per acknowledgement. */
function renderAck(a: AlertAck, at: number, colors: Colors = out): string {
  const until = a.until ? ` until ${new Date(a.until).toISOString()}` : "";
  const comment = a.comment ? `: ${printable(a.comment)}` : "";
  return `${colors.dim(clock(at))}  ${colors.blue("ACK     ")}  ${"".padEnd(8)}  fp ${printable(a.fingerprint)} by ${printable(a.by)}${until}${comment}`;
}

/** The table `switchboard alerts --firing` prints. */
export function renderFiringTable(list: AlertList, now: number, colors: Colors = out): string {
  if (list.alerts.length === 0) return colors.dim("nothing is firing");
  const rows = list.alerts.map((a: ListedAlert) => {
    const status: string[] = [];
    if (a.silencedBy.length) status.push(`silenced by ${a.silencedBy.map((id) => id.slice(0, 8)).join(",")}`);
    if (a.inhibitedBy.length) status.push(`inhibited by ${a.inhibitedBy.join(",")}`);
    if (a.acknowledged) status.push(`acked by ${a.acknowledged.by}`);
    return [
      a.state === "active" ? colors.red("active") : colors.yellow("suppressed"),
      severityColor(a.severity, colors)(a.severity),
      a.instance ? `${a.service}/${a.instance}` : a.service,
      printable(a.rule),
      formatDuration(now - a.since),
      printable(status.join("; ") || "-"),
      a.fingerprint,
      printable(a.annotations.summary ?? "").slice(0, 120),
    ];
  });
  const more = list.total > list.alerts.length ? `\n${colors.dim(`(${list.total - list.alerts.length} more not shown; use --limit)`)}` : "";
  return table(["STATE", "SEVERITY", "WHERE", "ALERT", "FOR", "STATUS", "FINGERPRINT", "SUMMARY"], rows, colors) + more;
}

/** Builds the `alerts` command. */
export function alertsCommand(): Command {
  const cmd = new Command("alerts")
    .description("tail alert events (firing, resolved) and acknowledgements until Ctrl-C")
    .option("--severity <list>", "only these severities, comma-separated (e.g. critical,warning)")
    .option("--service <name>", "only alerts of this service")
    .option("--no-acks", "do not show acknowledgements")
    .option("--firing", "list the alerts firing now (with silence, inhibition and ack status) and exit, instead of tailing")
    .option("--match <matcher...>", "with --firing: only alerts matching every label matcher (name=value, name!=value, name=~regex, name!~regex)")
    .option("--suppressed", "with --firing: only silenced or inhibited alerts")
    .option("--active", "with --firing: only alerts that are not silenced or inhibited")
    .option("--limit <n>", "with --firing: at most this many alerts (default 500)", (v) => Number(v))
    .addOption(new Option("--timeout <duration>", "with --firing: how long to wait for a notifier").default(5000, "5s").argParser(durationArg()));
  withCommonOptions(cmd, ["switchboard alerts", "switchboard alerts --severity critical --service payments --json", "switchboard alerts --firing --match 'team=~core|edge'"]);
  cmd.action(async (opts: { severity?: string; service?: string; acks: boolean; firing?: boolean; match?: string[]; suppressed?: boolean; active?: boolean; limit?: number; timeout: number }) => {
    const severities = opts.severity ? new Set(opts.severity.split(",").map((s) => s.trim()).filter(Boolean)) : undefined;
    if (severities) for (const s of severities) if (!isToken(s)) throw new CliError(`invalid severity ${JSON.stringify(s)}`, 2);
    if (opts.service !== undefined && !isToken(opts.service)) throw new CliError(`invalid service name ${JSON.stringify(opts.service)}`, 2);
    if (opts.firing) return listFiring(cmd, opts, severities);
    if (opts.match || opts.suppressed || opts.active || opts.limit !== undefined) throw new CliError("--match, --suppressed, --active and --limit go with --firing", 2);
    const { settings, subjects, nc } = await open(cmd, "alerts");
    const shutdown = shutdownTrigger();
    const invalid = new InvalidInputLog(stderrWarn);
    try {
      // One subscription for both shapes: <prefix>.alerts.<severity>.<service> and <prefix>.alerts.ack.
      const sub = nc.subscribe(`${subjects.prefix}.alerts.>`, {
        callback: (error, msg) => {
          if (error) return;
          if (msg.subject === subjects.alertList) return; // requests for the firing list, not events
          if (msg.subject === subjects.alertAck) {
            if (!opts.acks || severities || opts.service) return;
            const decoded = decodeWith<AlertAck>("alert-ack", msg.data);
            if (!decoded.ok) return invalid.record("alert-ack", decoded.error, msg.subject);
            if (settings.json) printJsonLine({ ack: decoded.value, at: Date.now() });
            else process.stdout.write(renderAck(decoded.value, Date.now()) + "\n");
            return;
          }
          const decoded = decodeWith<AlertEvent>("alert", msg.data);
          if (!decoded.ok) return invalid.record("alert", decoded.error, msg.subject);
          const a = decoded.value;
          if (severities && !severities.has(a.severity)) return;
          if (opts.service && a.service !== opts.service) return;
          if (settings.json) printJsonLine(a);
          else process.stdout.write(renderAlert(a) + "\n");
        },
      });
      await nc.flush();
      process.stderr.write(errColors.dim(`tailing ${subjects.prefix}.alerts.> on ${nc.getServer()} (Ctrl-C to stop)`) + "\n");
      nc.closed().then(() => shutdown.abort("connection closed"));
      await shutdown.promise;
      sub.unsubscribe();
    } finally {
      await closeQuietly(nc);
    }
  });
  return cmd;
}

async function listFiring(
  cmd: Command,
  opts: { service?: string; match?: string[]; suppressed?: boolean; active?: boolean; limit?: number; timeout: number },
  severities: Set<string> | undefined,
): Promise<void> {
  const query: AlertListQuery = { v: 1 };
  if (opts.service !== undefined) query.service = opts.service;
  const matchers = [];
  try {
    for (const m of opts.match ?? []) matchers.push(parseMatcher(m));
  } catch (e) {
    if (e instanceof MatcherError) throw new CliError(e.message, 2);
    throw e;
  }
  if (severities?.size === 1) query.severity = [...severities][0]!;
  else if (severities) matchers.push({ name: "severity", op: "=~" as const, value: [...severities].join("|") });
  if (matchers.length) query.matchers = matchers;
  if (opts.suppressed && opts.active) throw new CliError("--suppressed and --active exclude each other", 2);
  if (opts.suppressed) query.suppressed = true;
  if (opts.active) query.suppressed = false;
  if (opts.limit !== undefined) {
    if (!Number.isInteger(opts.limit) || opts.limit < 1 || opts.limit > 2000) throw new CliError("--limit must be an integer between 1 and 2000", 2);
    query.limit = opts.limit;
  }
  const { settings, subjects, nc } = await open(cmd, "alerts");
  try {
    const list = await requestNotifier(nc, subjects.alertList, query, "alert-list", opts.timeout, "the firing alerts could not be listed");
    if (settings.json) printJsonLine(list);
    else process.stdout.write(renderFiringTable(list, Date.now()) + "\n");
  } finally {
    await closeQuietly(nc);
  }
}
