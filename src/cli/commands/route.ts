/**
 * `switchboard route set|ls|clear`: the traffic policies of services (weighted subsets by version or
 * tags, header overrides), stored in the KV bucket `<prefix>_routes` that every client watches, so a
 * change applies without restarting anything. `set` refuses a policy that leaves no instance.
 */
import { readFileSync } from "node:fs";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { Command, Option } from "commander";
import { compilePolicy, decodePolicy, InvalidPolicyError, routesBucketName, type CompiledPolicy } from "../../client/index.js";
import { requestSnapshot } from "../../gateway/index.js";
import { describeErrors, isToken, validatorFor, type InstanceView, type RoutingPolicy } from "../../protocol/index.js";
import { CliError } from "../CliError.js";
import { closeQuietly } from "../connect.js";
import { printJsonLine, table } from "../output.js";
import { registryError } from "./ls.js";
import { durationArg, open, withCommonOptions } from "./common.js";

type Subset = RoutingPolicy["subsets"][number];
type Override = NonNullable<RoutingPolicy["overrides"]>[number];

/** `name=canary,weight=5,version=2.0.0-canary,tags=gpu+ssd` → a subset. */
export function parseSubset(text: string): Subset {
  const subset: Record<string, unknown> = {};
  for (const part of text.split(",")) {
    const i = part.indexOf("=");
    const k = i > 0 ? part.slice(0, i).trim() : "";
    const v = part.slice(i + 1).trim();
    if (k === "name") subset.name = v;
    else if (k === "weight") subset.weight = Number(v);
    else if (k === "version") subset.version = v;
    else if (k === "tags") subset.tags = v.split("+").map((t) => t.trim()).filter(Boolean);
    else throw new CliError(`--subset ${JSON.stringify(text)}: use name=<n>,weight=<w>[,version=<range>][,tags=<a>+<b>]`, 2);
  }
  return subset as unknown as Subset;
}

/** `Sb-Canary: 1=canary` → an override (the header, its value, the subset). */
export function parseOverride(text: string): Override {
  const eq = text.lastIndexOf("=");
  const colon = text.indexOf(":");
  if (eq < 0 || colon < 0 || colon > eq) throw new CliError(`--override ${JSON.stringify(text)}: use '<Header>: <value>=<subset>', e.g. 'Sb-Canary: 1=canary'`, 2);
  return { header: text.slice(0, colon).trim(), value: text.slice(colon + 1, eq).trim(), subset: text.slice(eq + 1).trim() };
}

/** Validates a policy as the clients will (schema, then the policy's own rules); throws CliError. */
export function checkPolicy(policy: unknown): CompiledPolicy {
  const validate = validatorFor("routing-policy");
  if (!validate(policy)) throw new CliError(`invalid policy: ${describeErrors(validate.errors)}`, 2);
  try {
    return compilePolicy(policy as RoutingPolicy, 0);
  } catch (err) {
    if (err instanceof InvalidPolicyError) throw new CliError(`invalid policy: ${err.message}`, 2);
    throw err;
  }
}

/**
 * Why the policy would leave callers without an instance, or undefined when it does not: every
 * subset with weight and every override target must match a live (`up`, not draining) instance.
 */
export function policyGaps(policy: CompiledPolicy, live: readonly InstanceView[]): string | undefined {
  const usable = live.filter((v) => v.state === "up" && v.status !== "draining");
  const versions = [...new Set(usable.map((v) => v.instance.version))].join(", ") || "none";
  const targets = new Set([...policy.subsets.filter((s) => s.weight > 0), ...policy.overrides.map((o) => o.subset)]);
  const empty = [...targets].filter((s) => !usable.some((v) => s.selector === undefined || s.selector.matches(v.instance)));
  if (empty.length === 0) return undefined;
  return `${empty.map((s) => `subset ${s.name} (${s.selector?.text ?? "every instance"})`).join(" and ")} would match no live instance of ${policy.service} (live versions: ${versions})`;
}

async function openBucket(nc: NatsConnection, prefix: string, create: boolean): Promise<KV | undefined> {
  const kvm = new Kvm(jetstream(nc, { timeout: 5000 }));
  const name = routesBucketName(prefix);
  try {
    return create ? await kvm.create(name, { history: 5, description: "Switchboard traffic policies (switchboard route)" }) : await kvm.open(name);
  } catch (err) {
    if (!create) return undefined;
    throw new CliError(`cannot open the KV bucket ${name}: ${(err as Error).message} (is JetStream enabled on the server?)`);
  }
}

function describePolicy(p: CompiledPolicy): string[] {
  const subsets = p.subsets.map((s) => `${s.name} ${s.weight}${s.selector ? ` (${s.selector.text})` : ""}`).join("; ");
  const overrides = p.overrides.map((o) => `${o.header}: ${JSON.stringify(o.value)} → ${o.subset.name}`).join("; ") || "-";
  return [p.service, String(p.revision), subsets, overrides];
}

/** Builds the `route` command and its subcommands. */
export function routeCommand(): Command {
  const route = new Command("route").description("traffic policies: weighted splits between versions or tags, header overrides (watched by every client)");

  const set = new Command("set")
    .description("set the traffic policy of a service; refused when a subset with weight (or an override) matches no live instance")
    .argument("<service>", "service name")
    .option("--subset <spec...>", "name=<n>,weight=<w>[,version=<semver range>][,tags=<a>+<b>] (repeatable)")
    .option("--override <spec...>", "'<Header>: <value>=<subset>': requests with this header go to that subset only (repeatable)")
    .option("--file <file>", "the whole policy as JSON (schemas/routing-policy.json); '-' reads stdin")
    .option("--force", "store it even if it leaves no instance now (e.g. before the canary starts)")
    .addOption(new Option("--timeout <duration>", "how long to wait for a coordinator").default(3000, "3s").argParser(durationArg()));
  withCommonOptions(set, [
    "switchboard route set orders --subset name=stable,weight=95,version=1.x --subset name=canary,weight=5,version=2.0.0-canary --override 'Sb-Canary: 1=canary'",
    "switchboard route set orders --file policy.json",
  ]);
  set.action(async (service: string, opts: { subset?: string[]; override?: string[]; file?: string; force?: boolean; timeout: number }) => {
    if (!isToken(service)) throw new CliError(`invalid service name ${JSON.stringify(service)}`, 2);
    let policy: unknown;
    if (opts.file !== undefined) {
      try {
        policy = JSON.parse(readFileSync(opts.file === "-" ? 0 : opts.file, "utf8"));
      } catch (err) {
        throw new CliError(`cannot read the policy: ${(err as Error).message}`, 2);
      }
      if (policy && typeof policy === "object" && (policy as { service?: unknown }).service !== service) {
        throw new CliError(`the policy file names service ${JSON.stringify((policy as { service?: unknown }).service)}, not ${service}`, 2);
      }
    } else {
      if (!opts.subset || opts.subset.length === 0) throw new CliError("give at least one --subset (or --file)", 2);
      policy = { v: 1, service, subsets: opts.subset.map(parseSubset), ...(opts.override ? { overrides: opts.override.map(parseOverride) } : {}) };
    }
    (policy as RoutingPolicy).updatedAt = Date.now();
    const compiled = checkPolicy(policy);
    const { settings, subjects, nc } = await open(set, "route set");
    try {
      if (!opts.force) {
        const snapshot = await requestSnapshot(nc, subjects, { service }, opts.timeout).catch(registryError);
        const gaps = policyGaps(compiled, snapshot.instances);
        if (gaps) throw new CliError(`refused: ${gaps}; nothing was changed (--force stores it anyway)`);
      }
      const kv = (await openBucket(nc, subjects.prefix, true))!;
      const revision = await kv.put(service, JSON.stringify(policy));
      if (settings.json) printJsonLine({ event: "route-set", service, revision, policy });
      else process.stdout.write(`traffic policy of ${service} set (revision ${revision}): ${describePolicy({ ...compiled, revision })[2]}\n`);
    } finally {
      await closeQuietly(nc);
    }
  });

  const ls = new Command("ls").description("list the traffic policies in force").argument("[service]", "only this service");
  withCommonOptions(ls, ["switchboard route ls", "switchboard route ls orders --json"]);
  ls.action(async (service: string | undefined) => {
    if (service !== undefined && !isToken(service)) throw new CliError(`invalid service name ${JSON.stringify(service)}`, 2);
    const { settings, subjects, nc } = await open(ls, "route ls");
    try {
      const kv = await openBucket(nc, subjects.prefix, false);
      const rows: CompiledPolicy[] = [];
      const invalid: Array<{ key: string; reason: string }> = [];
      if (kv) {
        for await (const key of await kv.keys(service ?? ">")) {
          const e = await kv.get(key);
          if (!e || e.operation !== "PUT") continue;
          try {
            rows.push(decodePolicy(key, e.value, e.revision));
          } catch (err) {
            invalid.push({ key, reason: (err as Error).message });
          }
        }
      }
      rows.sort((a, b) => (a.service < b.service ? -1 : 1));
      if (settings.json) printJsonLine({ policies: rows.map((p) => ({ revision: p.revision, policy: p.source })), invalid });
      else {
        process.stdout.write(rows.length === 0 ? "no traffic policies\n" : table(["SERVICE", "REVISION", "SUBSETS", "OVERRIDES"], rows.map(describePolicy)) + "\n");
        for (const i of invalid) process.stdout.write(`invalid value under ${JSON.stringify(i.key)} (clients ignore it): ${JSON.stringify(i.reason)}\n`);
      }
    } finally {
      await closeQuietly(nc);
    }
  });

  const clear = new Command("clear").description("remove the traffic policy of a service (calls use every instance again)").argument("<service>", "service name");
  withCommonOptions(clear, ["switchboard route clear orders"]);
  clear.action(async (service: string) => {
    if (!isToken(service)) throw new CliError(`invalid service name ${JSON.stringify(service)}`, 2);
    const { settings, subjects, nc } = await open(clear, "route clear");
    try {
      const kv = await openBucket(nc, subjects.prefix, false);
      if (kv) await kv.purge(service);
      if (settings.json) printJsonLine({ event: "route-cleared", service });
      else process.stdout.write(`traffic policy of ${service} cleared\n`);
    } finally {
      await closeQuietly(nc);
    }
  });

  route.addCommand(set);
  route.addCommand(ls);
  route.addCommand(clear);
  return route;
}
