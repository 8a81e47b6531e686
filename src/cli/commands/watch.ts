/** `switchboard watch`: prints registry changes as they happen (up, suspect, down, removed). */
import { Command } from "commander";
import { InvalidInputLog, decodeMessage, isToken, type RegistryEvent } from "../../protocol/index.js";
import { requestSnapshot, RegistryUnavailableError } from "../../gateway/index.js";
import { CliError } from "../CliError.js";
import { closeQuietly } from "../connect.js";
import { shutdownTrigger } from "../lifecycle.js";
import { clock, colorState, err as errColors, out, printJsonLine, printable } from "../output.js";
import { stderrWarn } from "../stderrLog.js";
import { open, withCommonOptions } from "./common.js";

/** One human line per registry event. */
function renderEvent(e: RegistryEvent): string {
  const v = e.instance;
  const extra = v.instance.address ? ` ${printable(v.instance.address)}` : "";
  return `${out.dim(clock(e.at))}  ${colorState(e.type, out, e.type.toUpperCase())}${" ".repeat(8 - e.type.length)}  ${out.bold(printable(v.instance.service))}  ${printable(v.instance.id)}  ${printable(v.instance.version)}${extra}  ${out.dim(`rev ${e.revision}`)}`;
}

/** Builds the `watch` command. */
export function watchCommand(): Command {
  const cmd = new Command("watch")
    .description("print registry changes live (instances going up, suspect, down, removed) until Ctrl-C")
    .argument("[service]", "only this service")
    .option("--no-initial", "do not print the current registry first");
  withCommonOptions(cmd, ["switchboard watch", "switchboard watch echo --json"]);
  cmd.action(async (service: string | undefined, opts: { initial: boolean }) => {
    if (service !== undefined && !isToken(service)) throw new CliError(`invalid service name ${JSON.stringify(service)}`, 2);
    const { settings, subjects, nc } = await open(cmd, "watch");
    const shutdown = shutdownTrigger();
    const invalid = new InvalidInputLog(stderrWarn);
    try {
      const sub = nc.subscribe(subjects.registryEvents, {
        callback: (error, msg) => {
          if (error) return;
          const decoded = decodeMessage("registry-event", msg.data);
          if (!decoded.ok) {
            invalid.record("registry-event", decoded.error, msg.subject);
            return;
          }
          const e = decoded.value;
          if (service && e.instance.instance.service !== service) return;
          if (settings.json) printJsonLine(e);
          else process.stdout.write(renderEvent(e) + "\n");
        },
      });
      await nc.flush();
      if (opts.initial) {
        try {
          const snap = await requestSnapshot(nc, subjects, service ? { service } : {}, 3000);
          if (settings.json) printJsonLine({ snapshot: snap });
          else {
            for (const v of snap.instances) {
              process.stdout.write(
                `${out.dim(clock(snap.at))}  ${colorState(v.state, out)}${" ".repeat(8 - v.state.length)}  ${out.bold(printable(v.instance.service))}  ${printable(v.instance.id)}  ${printable(v.instance.version)}${v.instance.address ? ` ${printable(v.instance.address)}` : ""}  ${out.dim("(current)")}\n`,
              );
            }
          }
        } catch (e) {
          const why = e instanceof RegistryUnavailableError ? e.message : (e as Error).message;
          process.stderr.write(errColors.yellow(`warning: cannot show the current registry: ${printable(why)}`) + "\n");
        }
      }
      process.stderr.write(errColors.dim(`watching ${subjects.registryEvents} on ${nc.getServer()} (Ctrl-C to stop)`) + "\n");
      nc.closed().then(() => shutdown.abort("connection closed"));
      await shutdown.promise;
      sub.unsubscribe();
    } finally {
      await closeQuietly(nc);
    }
  });
  return cmd;
}
