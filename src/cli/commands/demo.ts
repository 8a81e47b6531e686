/** `switchboard demo` (= `npm start`): the whole system on one machine, with a live view. */
import { Command, Option } from "commander";
import { CliError } from "../CliError.js";
import { out, printJsonLine } from "../output.js";
import { displayPath, runDemo } from "../demo/runDemo.js";
import { durationArg, intArg, portOption, settingsOf, withCommonOptions } from "./common.js";
import type { CommonOptions } from "../types.js";

interface DemoFlags {
  duration?: number;
  rate: number;
  concurrency: number;
  instances: number;
  killAfter?: number;
  heartbeat: number;
  mailDir: string;
  consolePort: number;
  console: boolean;
}

/** Builds the `demo` command. */
export function demoCommand(): Command {
  const cmd = new Command("demo")
    .description(
      "run everything on this machine: a nats-server if none answers at NATS_URL, a coordinator, a collector, a mail notifier " +
        "with a local SMTP catcher, three demo instances; balanced calls, a SIGKILLed instance, an alert and its mail",
    )
    .addOption(new Option("--duration <duration>", "stop by itself after this long (e.g. 30s); default: until Ctrl-C").argParser(durationArg()))
    .addOption(new Option("--rate <calls/s>", "target calls per second").default(200).argParser(intArg("--rate", 1, 100_000)))
    .addOption(new Option("--concurrency <n>", "concurrent callers").default(8).argParser(intArg("--concurrency", 1, 1024)))
    .addOption(new Option("--instances <n>", "demo service instances").default(3).argParser(intArg("--instances", 2, 16)))
    .addOption(new Option("--kill-after <duration>", "kill one instance this long after start (default 30% of --duration, min 3s; 8s without)").argParser(durationArg()))
    .addOption(new Option("--heartbeat <duration>", "heartbeat interval of the demo instances").default(250, "250ms").argParser(durationArg()))
    .addOption(new Option("--mail-dir <dir>", "where the SMTP catcher saves mails (.eml)").default(".demo/mail"))
    .addOption(portOption("--console-port <port>", "port of the operator console (a free one if taken; 0: any)").default(8080))
    .option("--no-console", "do not serve the operator console");
  withCommonOptions(cmd, ["switchboard demo", "switchboard demo --duration 30s", "NATS_URL=nats://10.0.0.5:4222 switchboard demo --json --duration 20s"]);
  cmd.action(async (flags: DemoFlags) => {
    if (flags.heartbeat < 50) throw new CliError("--heartbeat must be at least 50ms", 2);
    if (flags.duration !== undefined && flags.duration < 5000) throw new CliError("--duration must be at least 5s (the scenario needs the time)", 2);
    const settings = settingsOf(cmd);
    const prefixGiven = cmd.opts<CommonOptions>().prefix !== undefined;
    const summary = await runDemo(settings, prefixGiven, {
      ...(flags.duration !== undefined ? { durationMs: flags.duration } : {}),
      ...(flags.killAfter !== undefined ? { killAfterMs: flags.killAfter } : {}),
      rate: flags.rate,
      concurrency: flags.concurrency,
      instances: flags.instances,
      heartbeatMs: flags.heartbeat,
      mailDir: flags.mailDir,
      consolePort: flags.console ? flags.consolePort : null,
      service: "echo",
    });
    if (settings.json) {
      printJsonLine({ event: "summary", ...summary });
      return;
    }
    const dir = displayPath(summary.mailDir);
    const lines = [
      "",
      out.bold(`Demo finished after ${(summary.durationMs / 1000).toFixed(1)} s (${summary.reason})`),
      `  calls        ${summary.calls} ok, ${summary.failed === 0 ? out.green("0 failed") : out.red(`${summary.failed} failed`)}, ${summary.retries} retries`,
      `  failover     ${summary.killed ? `instance #${summary.killed.n} (pid ${summary.killed.pid}) killed with SIGKILL at ${(summary.killed.atMs / 1000).toFixed(1)} s` : "no instance was killed (the demo ended first)"}`,
      `  alerts       ${summary.alerts.length === 0 ? "none" : summary.alerts.map((a) => `${a.rule} ${a.status} (fp ${a.fingerprint})`).join(", ")}`,
      `  mails saved  ${summary.mails} in ${dir}${summary.mailSubjects.length ? `: ${summary.mailSubjects.map((s) => JSON.stringify(s)).join(", ")}` : ""}`,
      ...(summary.consoleUrl ? [`  console      ${summary.consoleUrl} (stopped with the demo)`] : []),
      `  cleaned up   ${summary.instancePids.length} service processes${summary.nats.local ? `, the local nats-server (pid ${summary.nats.pid})` : ""}; nothing left running`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
  });
  return cmd;
}
