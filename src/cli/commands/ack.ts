/** `switchboard ack <fingerprint>`: acknowledges an alert so its repeat mails stop (the seed's alert.acknowledge()). */
import { Command, Option } from "commander";
import type { AlertAck } from "../../protocol/index.js";
import { CliError } from "../CliError.js";
import { closeQuietly } from "../connect.js";
import { operatorName, requestNotifier } from "../notifierRequest.js";
import { out, printJsonLine, printable } from "../output.js";
import { durationArg, open, withCommonOptions } from "./common.js";

const FINGERPRINT = /^[0-9a-f]{16}$/;

/** Builds the `ack` command. */
export function ackCommand(): Command {
  const cmd = new Command("ack")
    .description("acknowledge an alert: a notifier stores it and stops repeat mails for the current firing episode")
    .argument("<fingerprint>", "the alert's fingerprint (16 hex digits, shown by `switchboard alerts` and in the mail)")
    .option("--by <who>", "who acknowledges (default $USER@host)")
    .addOption(new Option("--for <duration>", "repeats resume after this long even if the alert still fires (e.g. 2h)").argParser(durationArg()))
    .option("--comment <text>", "a note stored with the acknowledgement")
    .addOption(new Option("--timeout <duration>", "how long to wait for a notifier's confirmation").default(5000, "5s").argParser(durationArg()));
  withCommonOptions(cmd, ["switchboard ack 3f9c0e12ab45d678", "switchboard ack 3f9c0e12ab45d678 --for 2h --comment 'disk replaced, watching'"]);
  cmd.action(async (fingerprint: string, opts: { by?: string; for?: number; comment?: string; timeout: number }) => {
    if (!FINGERPRINT.test(fingerprint)) throw new CliError(`invalid fingerprint ${JSON.stringify(fingerprint)}: expected 16 lower-case hex digits`, 2);
    const ack: AlertAck = { v: 1, fingerprint, by: (opts.by ?? operatorName()).slice(0, 128) };
    if (opts.for !== undefined) ack.until = Date.now() + opts.for;
    if (opts.comment !== undefined) ack.comment = opts.comment.slice(0, 1024);
    const { settings, subjects, nc } = await open(cmd, "ack");
    try {
      const reply = await requestNotifier(nc, subjects.alertAck, ack, "alert-ack-reply", opts.timeout, "the acknowledgement was not stored");
      if (settings.json) {
        printJsonLine(reply);
        return;
      }
      const what = printable(reply.alert ? `${reply.alert.rule} (${reply.alert.service}, ${reply.alert.severity})` : `alert ${fingerprint}`);
      const until = reply.until ? ` until ${new Date(reply.until).toISOString()}` : "";
      process.stdout.write(`${out.green("acknowledged")} ${what}${until} by ${printable(ack.by)} ${out.dim(`(notifier ${printable(reply.notifier)})`)}\n`);
      if (!reply.known) process.stdout.write(out.dim("note: the notifier does not know this alert as firing right now; the acknowledgement is stored anyway") + "\n");
    } finally {
      await closeQuietly(nc);
    }
  });
  return cmd;
}
