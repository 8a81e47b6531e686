/** `switchboard ls`: the registry as a table (services, instances, state, age, load) or JSON. */
import { Command, Option } from "commander";
import { isToken, type InstanceView, type RegistrySnapshot } from "../../protocol/index.js";
import { RegistryRequestError, RegistryUnavailableError, requestSnapshot } from "../../gateway/index.js";
import { CliError } from "../CliError.js";
import { closeQuietly } from "../connect.js";
import { colorState, formatDuration, out, printJsonLine, printable, table } from "../output.js";
import { durationArg, open, selectorOptions, withCommonOptions } from "./common.js";

const STATES = ["up", "suspect", "down", "removed"] as const;
type State = (typeof STATES)[number];

/** Registry request failures as one-line CLI errors. */
export function registryError(err: unknown): never {
  if (err instanceof RegistryUnavailableError) throw new CliError(err.message);
  if (err instanceof RegistryRequestError) throw new CliError(`coordinator refused the request: ${err.code}: ${err.message}`);
  throw err;
}

/** Sort order of `ls`: by service, then live before dead, then oldest first. */
function byServiceStateAge(a: InstanceView, b: InstanceView): number {
  if (a.instance.service !== b.instance.service) return a.instance.service < b.instance.service ? -1 : 1;
  const sa = STATES.indexOf(a.state);
  const sb = STATES.indexOf(b.state);
  if (sa !== sb) return sa - sb;
  return a.instance.startedAt - b.instance.startedAt;
}

/** The human table of a snapshot. */
function renderInstances(snapshot: RegistrySnapshot, now: number): string {
  const views = [...snapshot.instances].sort(byServiceStateAge);
  if (views.length === 0) return out.dim("no instances registered");
  // Everything but our own words and colours came from the bus: printable() before it reaches the terminal.
  const rows = views.map((v) => [
    printable(v.instance.service),
    printable(v.instance.id),
    colorState(v.state),
    formatDuration(now - v.instance.startedAt),
    String(v.inFlight),
    printable(v.instance.version),
    printable(v.instance.zone ?? "-"),
    v.state === "up" ? formatDuration(now - v.lastSeen) + " ago" : `${formatDuration(now - v.since)} ${v.state}`,
    printable(v.instance.address ?? v.instance.endpoints.join(",")),
  ]);
  const services = new Map<string, Record<string, number>>();
  for (const v of views) {
    const counts = services.get(v.instance.service) ?? {};
    counts[v.state] = (counts[v.state] ?? 0) + 1;
    services.set(v.instance.service, counts);
  }
  const summary = [...services]
    .map(([name, counts]) => `${out.bold(printable(name))} ${STATES.filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`).join(", ")}`)
    .join("; ");
  return [
    table(["SERVICE", "INSTANCE", "STATE", "AGE", "LOAD", "VERSION", "ZONE", "SEEN", "ENDPOINTS/ADDRESS"], rows),
    "",
    `${views.length} instance${views.length === 1 ? "" : "s"} of ${services.size} service${services.size === 1 ? "" : "s"}: ${summary}` +
      out.dim(` (revision ${snapshot.revision}, coordinator ${printable(snapshot.coordinator)})`),
  ].join("\n");
}

function parseStates(value: string): State[] {
  const list = value.split(",").map((s) => s.trim()).filter(Boolean);
  for (const s of list) if (!(STATES as readonly string[]).includes(s)) throw new CliError(`unknown state ${JSON.stringify(s)}: use ${STATES.join(", ")}`, 2);
  return [...new Set(list)] as State[];
}

/** Builds the `ls` command. */
export function lsCommand(): Command {
  const cmd = new Command("ls")
    .description("list services and their instances: state, age, load (asks a coordinator)")
    .argument("[service]", "only this service")
    .option("--state <states>", "only these states, comma-separated (up, suspect, down, removed)")
    .option("--version <range>", "only instances whose version satisfies this semver range (e.g. ^2.1.0, 1.x)")
    .option("--tag <tags>", "only instances carrying every one of these tags, comma-separated")
    .option("--zone <zone>", "only instances of this zone")
    .addOption(new Option("--timeout <duration>", "how long to wait for a coordinator").default(3000, "3s").argParser(durationArg()));
  withCommonOptions(cmd, [
    "switchboard ls",
    "switchboard ls echo --state up,suspect",
    "switchboard ls orders --version '^2.1.0' --tag gpu --zone eu-1",
    "switchboard ls --json | jq '.instances[].instance.id'",
  ]);
  cmd.action(async (service: string | undefined, opts: { state?: string; timeout: number; version?: string; tag?: string; zone?: string }) => {
    const selection = selectorOptions(opts);
    const states = opts.state ? parseStates(opts.state) : undefined;
    if (service !== undefined && !isToken(service)) throw new CliError(`invalid service name ${JSON.stringify(service)}: use 1-64 letters, digits, '_' or '-'`, 2);
    const { settings, subjects, nc } = await open(cmd, "ls");
    try {
      const query: { service?: string; states?: State[]; version?: string; tags?: string[]; zone?: string } = { ...selection };
      if (service) query.service = service;
      if (states) query.states = states;
      const snapshot = await requestSnapshot(nc, subjects, query, opts.timeout).catch(registryError);
      if (settings.json) printJsonLine(snapshot);
      else process.stdout.write(renderInstances(snapshot, Date.now()) + "\n");
    } finally {
      await closeQuietly(nc);
    }
  });
  return cmd;
}
