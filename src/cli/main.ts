/**
 * The `switchboard` command line: one program, one subcommand per component or operator task.
 * Run directly (`node --import tsx src/cli/main.ts …`) or through `bin/switchboard.js` (built).
 */
import { readFileSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Command, CommanderError } from "commander";
import { setDefaultLogLevel } from "../protocol/index.js";
import { toCliError } from "./CliError.js";
import { err as errColors, printable } from "./output.js";
import { ackCommand } from "./commands/ack.js";
import { benchCommand } from "./commands/bench.js";
import { alertsCommand } from "./commands/alerts.js";
import { silenceCommand } from "./commands/silence.js";
import { callCommand } from "./commands/call.js";
import { routeCommand } from "./commands/route.js";
import { collectorCommand } from "./commands/collector.js";
import { consoleCommand } from "./commands/console.js";
import { coordinatorCommand } from "./commands/coordinator.js";
import { demoServiceCommand } from "./commands/demoService.js";
import { gatewayCommand } from "./commands/gateway.js";
import { bridgeCommand } from "./commands/bridge.js";
import { lsCommand } from "./commands/ls.js";
import { notifierCommand } from "./commands/notifier.js";
import { demoCommand } from "./commands/demo.js";
import { watchCommand } from "./commands/watch.js";
import { relaunchWithNodeFlags } from "./nodeFlags.js";

/** The package version, read from package.json (found from src/cli or dist/src/cli). */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "switchboard" && pkg.version) return pkg.version;
    } catch {
      // keep looking upwards
    }
    dir = dirname(dir);
  }
  return "0.0.0";
}

/** Builds the program with every subcommand. */
export function buildProgram(): Command {
  const program = new Command("switchboard")
    .description("Service coordination over NATS: registry, failure detection, balanced calls, metrics, alerts and mail.")
    .version(packageVersion(), "-V, --version")
    .showHelpAfterError("(run with --help for usage)")
    .enablePositionalOptions();
  const commands = [
    coordinatorCommand(),
    collectorCommand(),
    notifierCommand(),
    gatewayCommand(),
    bridgeCommand(),
    consoleCommand(),
    lsCommand(),
    watchCommand(),
    callCommand(),
    routeCommand(),
    alertsCommand(),
    ackCommand(),
    silenceCommand(),
    demoCommand(),
    demoServiceCommand(),
    benchCommand(),
  ];
  for (const c of commands) program.addCommand(c);
  program.addHelpText(
    "after",
    `
Examples:
  $ switchboard demo                      # everything on one machine, starts its own nats-server if needed
  $ switchboard coordinator --servers nats://127.0.0.1:4222
  $ switchboard ls
  $ switchboard call echo echo '{"hello":"world"}'

Settings: flags, then --config file (JSON/YAML), then NATS_URL, NATS_USER, NATS_PASSWORD, NATS_TOKEN, NATS_CREDS,
NATS_NKEY, NATS_CA/NATS_CERT/NATS_KEY, SB_PREFIX, SMTP_HOST/PORT/USER/PASSWORD/FROM/TO. Colour only on a TTY (NO_COLOR honoured).
`,
  );
  // Throw instead of exiting so main() decides the exit code; commander has already printed its message.
  const override = (c: Command) => {
    c.exitOverride();
    for (const sub of c.commands) override(sub);
  };
  override(program);
  return program;
}

/**
 * Runs the CLI with `argv` (as `process.argv`: node, script, args…) and returns the exit code:
 * 0 success, 1 failure (one line on stderr says why), 2 usage error.
 */
export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version "errors" are successes; usage errors were already explained by commander.
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help" || e.exitCode === 0) return 0;
      return 2;
    }
    const error = toCliError(e);
    // Error messages quote the bus (a callee's error reply, a coordinator's refusal): printable().
    process.stderr.write(`${errColors.red("switchboard:")} ${printable(error.message)}\n`);
    return error.exitCode;
  }
}

/** True when this module is the process's entry point (not imported by bin/switchboard.js or a test). */
function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

/** Runs main() and exits with its code; a lingering handle cannot keep a finished command alive. */
export async function run(argv: string[] = process.argv): Promise<never> {
  // The process entry decides the components' log level (library code never reads the environment).
  setDefaultLogLevel(process.env.SB_LOG_LEVEL);
  const relaunched = relaunchWithNodeFlags(argv, process.env.SB_NO_REEXEC === "1");
  const code = relaunched ? await relaunched : await main(argv);
  process.exit(code);
}

if (isEntryPoint()) void run();
