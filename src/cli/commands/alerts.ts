/** `switchboard alerts`: tails alert events (`<prefix>.alerts.>`), filtered by severity or service. */
import { Command } from "commander";
import { InvalidInputLog, decodeWith, isToken, type AlertAck, type AlertEvent } from "../../protocol/index.js";
import { CliError } from "../CliError.js";
import { closeQuietly } from "../connect.js";
import { shutdownTrigger } from "../lifecycle.js";
import { clock, err as errColors, out, printJsonLine, printable, type Colors } from "../output.js";
import { stderrWarn } from "../stderrLog.js";
import { open, withCommonOptions } from "./common.js";

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

/** Builds the `alerts` command. */
export function alertsCommand(): Command {
  const cmd = new Command("alerts")
    .description("tail alert events (firing, resolved) and acknowledgements until Ctrl-C")
    .option("--severity <list>", "only these severities, comma-separated (e.g. critical,warning)")
    .option("--service <name>", "only alerts of this service")
    .option("--no-acks", "do not show acknowledgements");
  withCommonOptions(cmd, ["switchboard alerts", "switchboard alerts --severity critical --service payments --json"]);
  cmd.action(async (opts: { severity?: string; service?: string; acks: boolean }) => {
    const severities = opts.severity ? new Set(opts.severity.split(",").map((s) => s.trim()).filter(Boolean)) : undefined;
    if (severities) for (const s of severities) if (!isToken(s)) throw new CliError(`invalid severity ${JSON.stringify(s)}`, 2);
    if (opts.service !== undefined && !isToken(opts.service)) throw new CliError(`invalid service name ${JSON.stringify(opts.service)}`, 2);
    const { settings, subjects, nc } = await open(cmd, "alerts");
    const shutdown = shutdownTrigger();
    const invalid = new InvalidInputLog(stderrWarn);
    try {
      // One subscription for both shapes: <prefix>.alerts.<severity>.<service> and <prefix>.alerts.ack.
      const sub = nc.subscribe(`${subjects.prefix}.alerts.>`, {
        callback: (error, msg) => {
          if (error) return;
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
