/** `switchboard silence add|ls|expire`: mute alerts by label matchers for a while (stored by the notifiers in KV). */
import { Command, Option } from "commander";
import { MatcherError, formatMatcher, parseMatcher } from "../../notify/index.js";
import type { LabelMatcher, Silence, SilenceRequest } from "../../protocol/index.js";
import { CliError } from "../CliError.js";
import { closeQuietly } from "../connect.js";
import { operatorName, requestNotifier } from "../notifierRequest.js";
import { formatDuration, out, printJsonLine, printable, table } from "../output.js";
import { durationArg, open, withCommonOptions } from "./common.js";

/** The table `switchboard silence ls` prints. */
export function renderSilences(silences: readonly Silence[], now: number): string {
  if (silences.length === 0) return out.dim("no silences");
  const rows = silences.map((s) => {
    const state = s.endsAt <= now ? out.dim("expired") : s.startsAt > now ? out.cyan("pending") : out.yellow("active");
    const ends = s.endsAt <= now ? `${formatDuration(now - s.endsAt)} ago` : `in ${formatDuration(s.endsAt - now)}`;
    return [s.id, state, printable(s.matchers.map(formatMatcher).join(" ")), ends, printable(s.createdBy), printable(s.comment).slice(0, 80)];
  });
  return table(["ID", "STATE", "MATCHERS", "ENDS", "BY", "COMMENT"], rows);
}

function matchersOf(texts: readonly string[]): LabelMatcher[] {
  try {
    return texts.map(parseMatcher);
  } catch (e) {
    if (e instanceof MatcherError) throw new CliError(e.message, 2);
    throw e;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function timeoutOption(): Option {
  return new Option("--timeout <duration>", "how long to wait for a notifier").default(5000, "5s").argParser(durationArg());
}

/** Builds the `silence` command. */
export function silenceCommand(): Command {
  const cmd = new Command("silence").description("mute alerts by label matchers for a while: recorded but not mailed; mail resumes when the silence ends");

  const add = new Command("add")
    .description("add a silence: alerts whose labels match every matcher are not mailed until it ends")
    .argument("<matchers...>", "label matchers: name=value, name!=value, name=~regex, name!~regex (RE2, anchored)")
    .addOption(new Option("--for <duration>", "how long (e.g. 2h, 30m); default 1h").argParser(durationArg()))
    .option("--until <time>", "end time, ISO 8601 (instead of --for)")
    .option("--comment <text>", "why", "")
    .option("--by <who>", "who (default $USER@host)")
    .addOption(timeoutOption());
  withCommonOptions(add, ["switchboard silence add service=payments alertname=~'High.*' --for 2h --comment 'deploy'"]);
  add.action(async (texts: string[], opts: { for?: number; until?: string; comment: string; by?: string; timeout: number }) => {
    const matchers = matchersOf(texts);
    if (opts.for !== undefined && opts.until !== undefined) throw new CliError("use either --for or --until", 2);
    let endsAt = Date.now() + (opts.for ?? 3_600_000);
    if (opts.until !== undefined) {
      endsAt = Date.parse(opts.until);
      if (!Number.isFinite(endsAt)) throw new CliError(`--until ${JSON.stringify(opts.until)} is not an ISO 8601 time`, 2);
    }
    const req: SilenceRequest = { v: 1, op: "add", matchers, endsAt, createdBy: (opts.by ?? operatorName()).slice(0, 128), comment: opts.comment.slice(0, 1024) };
    const { settings, subjects, nc } = await open(add, "silence add");
    try {
      const reply = await requestNotifier(nc, subjects.silences, req, "silence-reply", opts.timeout, "the silence was not stored");
      const s = reply.silences[0];
      if (settings.json) printJsonLine(s);
      else if (s) process.stdout.write(`${out.green("silenced")} ${printable(s.matchers.map(formatMatcher).join(" "))} until ${new Date(s.endsAt).toISOString()} ${out.dim(`id ${s.id}`)}\n`);
    } finally {
      await closeQuietly(nc);
    }
  });

  const ls = new Command("ls").description("list silences in force and scheduled").option("--expired", "also silences that ended in the last 24 h").addOption(timeoutOption());
  withCommonOptions(ls, ["switchboard silence ls", "switchboard silence ls --expired --json"]);
  ls.action(async (opts: { expired?: boolean; timeout: number }) => {
    const { settings, subjects, nc } = await open(ls, "silence ls");
    try {
      const req: SilenceRequest = { v: 1, op: "list", includeExpired: opts.expired === true };
      const reply = await requestNotifier(nc, subjects.silences, req, "silence-reply", opts.timeout, "the silences could not be listed");
      if (settings.json) printJsonLine(reply.silences);
      else process.stdout.write(renderSilences(reply.silences, Date.now()) + "\n");
    } finally {
      await closeQuietly(nc);
    }
  });

  const expire = new Command("expire").description("end a silence now: mail resumes for alerts it muted that still fire").argument("<id>", "the silence id (silence ls)").option("--by <who>", "who (default $USER@host)").addOption(timeoutOption());
  withCommonOptions(expire, ["switchboard silence expire 0b7e3c1a-9d2f-4e5b-8a6c-1f2e3d4c5b6a"]);
  expire.action(async (id: string, opts: { by?: string; timeout: number }) => {
    if (!UUID.test(id)) throw new CliError(`invalid silence id ${JSON.stringify(id)}`, 2);
    const { settings, subjects, nc } = await open(expire, "silence expire");
    try {
      const req: SilenceRequest = { v: 1, op: "expire", id, createdBy: (opts.by ?? operatorName()).slice(0, 128) };
      const reply = await requestNotifier(nc, subjects.silences, req, "silence-reply", opts.timeout, "the silence was not expired");
      if (settings.json) printJsonLine(reply.silences[0]);
      else process.stdout.write(`${out.green("expired")} silence ${id}\n`);
    } finally {
      await closeQuietly(nc);
    }
  });

  cmd.addCommand(add);
  cmd.addCommand(ls);
  cmd.addCommand(expire);
  return cmd;
}
