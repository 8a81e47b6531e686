/**
 * The demo's Switchboard stack on one connection: a coordinator, an SMTP catcher with a mail
 * notifier delivering to it, and a collector with the demo's InstanceDown rule.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { destination, pino } from "pino";
import { createCoordinator } from "../../coordinator/index.js";
import { createCollector, parseAlertRules } from "../../monitor/index.js";
import { createMailNotifier } from "../../notify/index.js";
import type { Logger } from "../../protocol/index.js";
import type { CleanupStack } from "./CleanupStack.js";
import type { DemoNote } from "./demoNats.js";
import { startMailCatcher, type MailCatcher } from "./MailCatcher.js";

/** The stack's parts the rest of the demo uses. */
export interface DemoStack {
  readonly catcher: MailCatcher;
  /** URL of the operator console, when it runs. */
  readonly consoleUrl: string | undefined;
}

/**
 * Component loggers of the demo: errors only (SB_LOG_LEVEL overrides), on stderr, so the live view
 * and the JSON events on stdout stay readable.
 */
export function demoLogger(component: string): Logger {
  return pino({ level: process.env.SB_LOG_LEVEL ?? "error", base: { component } }, destination(2));
}

/** What the stack needs to know. */
export interface DemoStackOptions {
  nc: NatsConnection;
  prefix: string;
  /** The demo service, the subject of the alert rule. */
  service: string;
  mailDir: string;
  /** How the mail folder is shown to the user. */
  mailDirShown: string;
  /** Console port (a free one if it is taken), or null for none. */
  consolePort: number | null;
}

/** Starts coordinator, mail catcher, notifier and collector, registering each in `cleanups`. */
export async function startDemoStack(o: DemoStackOptions, note: DemoNote, cleanups: CleanupStack): Promise<DemoStack> {
  const { nc, prefix } = o;
  // Down instances stay listed (not removed) so the demo's alert does not resolve while it runs.
  const coordinator = createCoordinator({ nats: nc, prefix, id: "demo-coordinator", removeAfterIntervals: 14_400, logger: demoLogger("coordinator") });
  await coordinator.start();
  cleanups.push("coordinator", () => coordinator.stop());
  note("coordinator started");

  const catcher = await startMailCatcher(o.mailDir);
  cleanups.push("mail catcher", () => catcher.close());
  const notifier = createMailNotifier({
    nats: nc,
    prefix,
    id: "demo-notifier",
    smtp: { host: catcher.host, port: catcher.port, secure: false, from: "demo@switchboard.local" },
    logger: demoLogger("notifier"),
    to: "oncall@example.com",
    groupWaitMs: 1000,
    groupIntervalMs: 10 * 60_000,
    repeatIntervalMs: 4 * 3600_000,
  });
  await notifier.start();
  cleanups.push("notifier", () => notifier.stop());
  note(`mail notifier started; SMTP catcher on ${catcher.host}:${catcher.port} saves to ${o.mailDirShown}`);

  const rules = parseAlertRules(
    JSON.stringify({
      rules: [
        {
          name: "InstanceDown",
          service: o.service,
          metric: "instance_down",
          severity: "warning",
          for: "1s",
          annotations: { summary: "Instance {{ $labels.instance }} of {{ $labels.service }} stopped sending heartbeats" },
        },
      ],
    }),
    "demo-rules.json",
  );
  const collector = createCollector({ nats: nc, prefix, id: "demo-collector", rules, evaluationIntervalMs: 500, logger: demoLogger("collector") });
  await collector.start();
  cleanups.push("collector", () => collector.stop());
  note(`collector started with rule InstanceDown (instance_down of ${o.service}, for 1s)`);

  const consoleUrl = o.consolePort === null ? undefined : await startDemoConsole(nc, prefix, o.consolePort, cleanups);
  if (consoleUrl) note(`operator console: open ${consoleUrl} to watch the instances, the kill, the alert and its mail live`, { kind: "console", url: consoleUrl });
  return { catcher, consoleUrl };
}

/** The operator console on `port`, or on a free port when that one is taken. */
async function startDemoConsole(nc: NatsConnection, prefix: string, port: number, cleanups: CleanupStack): Promise<string> {
  const { createConsole } = await import("../../console/index.js");
  const make = (p: number) => createConsole({ nats: nc, prefix, port: p, ackBy: "demo", logger: demoLogger("console") });
  let web = make(port);
  try {
    await web.start();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE" || port === 0) throw err;
    await web.stop();
    web = make(0);
    await web.start();
  }
  cleanups.push("console", () => web.stop());
  return web.url;
}
