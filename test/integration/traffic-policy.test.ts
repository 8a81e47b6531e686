/**
 * Traffic policies end to end: a real nats-server with JetStream, a coordinator, agents, two running
 * clients and the `switchboard route` CLI as a subprocess. A 95/5 split between versions measured
 * over 4 000 calls; a change made with the CLI reaching every running client (waited for, bounded by
 * 1 s); a header override reaching the canary only; a policy that leaves no instance refused; hostile
 * values written straight into the bucket refused by the clients, which keep the last valid policy.
 */
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createAgent } from "../../src/agent/index.js";
import { createClient, routesBucketName, type Client, type RegistryCache } from "../../src/client/index.js";
import { createCoordinator } from "../../src/coordinator/index.js";
import { connectNats } from "../../src/protocol/index.js";
import { runCli } from "../helpers/cli.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer({ jetstream: true });
});
afterAll(async () => {
  await server?.dispose();
});
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => {});
});

/** 3 stable instances (1.4.0) and a canary (2.0.0-canary) of `svc`; each replies with its version. */
async function fleet(prefix: string): Promise<void> {
  const coord = createCoordinator({ servers: server.url, prefix, jetstream: false });
  await coord.start();
  cleanup.push(() => coord.stop());
  const versions = ["1.4.0", "1.4.0", "1.4.0", "2.0.0-canary"];
  await Promise.all(
    versions.map(async (version, i) => {
      const a = createAgent({ servers: server.url, prefix, service: "svc", heartbeatMs: 250, id: `i${i}`, version });
      a.endpoint("version", () => version);
      await a.start();
      cleanup.push(() => a.stop());
    }),
  );
}

async function client(prefix: string): Promise<Client> {
  const c = await createClient({ servers: server.url, prefix, backoff: { baseMs: 5, capMs: 50 } }).start();
  cleanup.push(() => c.stop());
  await waitFor(() => (c.registry as RegistryCache).instances("svc").length === 4, { what: "4 instances in the client's registry" });
  return c;
}

const cli = (prefix: string, args: string[]) => runCli([...args, "--servers", server.url, "--prefix", prefix], { timeoutMs: 60_000 });

/** Versions that answered `n` calls (concurrency 16). */
async function versions(c: Client, n: number, headers?: Record<string, string>): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < n) {
        next++;
        const v = (await c.call("svc", "version", null, headers ? { headers } : undefined)) as string;
        counts.set(v, (counts.get(v) ?? 0) + 1);
      }
    }),
  );
  return counts;
}

const CANARY_POLICY = [
  "route", "set", "svc",
  "--subset", "name=stable,weight=95,version=1.x",
  "--subset", "name=canary,weight=5,version=2.0.0-canary",
  "--override", "Sb-Canary: 1=canary",
];

describe("traffic policies", () => {
  it("95/5 over 4 000 calls within ±1.5 %, header override to the canary only, CLI change in every running client within 1 s, clear", async () => {
    const prefix = uniquePrefix();
    await fleet(prefix);
    const set = await cli(prefix, CANARY_POLICY);
    expect(set.stderr).toBe("");
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/^traffic policy of svc set \(revision \d+\): stable 95 \(version >=1\.0\.0 <2\.0\.0-0\); canary 5 \(version 2\.0\.0-canary\)\n$/);
    const [a, b] = await Promise.all([client(prefix), client(prefix)]);
    expect(a.trafficPolicy("svc")?.policy.subsets.map((s) => s.weight)).toEqual([95, 5]);

    const counts = await versions(a, 4000);
    const canaryShare = (counts.get("2.0.0-canary") ?? 0) / 4000;
    expect(canaryShare).toBeGreaterThanOrEqual(0.035);
    expect(canaryShare).toBeLessThanOrEqual(0.065);
    expect((counts.get("1.4.0") ?? 0) + (counts.get("2.0.0-canary") ?? 0)).toBe(4000);
    // The client reports which policy revision and subset served the calls.
    const served = a.stats().policies.served;
    const rev = a.trafficPolicy("svc")!.revision;
    expect(served.map((s) => [s.revision, s.subset, s.override, s.calls])).toEqual(
      expect.arrayContaining([
        [rev, "stable", false, counts.get("1.4.0")],
        [rev, "canary", false, counts.get("2.0.0-canary")],
      ]),
    );

    // Header override: the canary only (the header name in any case); another value does not force it.
    expect(await versions(b, 200, { "Sb-Canary": "1" })).toEqual(new Map([["2.0.0-canary", 200]]));
    expect(await versions(b, 100, { "sb-canary": "1" })).toEqual(new Map([["2.0.0-canary", 100]]));
    expect((await versions(b, 200, { "Sb-Canary": "0" })).get("1.4.0") ?? 0).toBeGreaterThan(150);

    // Change it with the CLI: every running client applies it; 1 s is the bound, not a sleep.
    const change = await cli(prefix, ["route", "set", "svc", "--subset", "name=stable,weight=0,version=1.x", "--subset", "name=canary,weight=1,version=2.0.0-canary"]);
    expect(change.code).toBe(0);
    await waitFor(() => [a, b].every((c) => c.trafficPolicy("svc")?.policy.subsets[0]?.weight === 0), { timeoutMs: 1000, intervalMs: 5, what: "the new policy in both clients" });
    expect(await versions(a, 100)).toEqual(new Map([["2.0.0-canary", 100]]));

    const ls = await cli(prefix, ["route", "ls", "--json"]);
    expect(ls.code).toBe(0);
    const listed = JSON.parse(ls.stdout) as { policies: Array<{ policy: { service: string; subsets: Array<{ name: string; weight: number }> } }> };
    expect(listed.policies.map((p) => [p.policy.service, p.policy.subsets.map((s) => `${s.name}:${s.weight}`)])).toEqual([["svc", ["stable:0", "canary:1"]]]);

    const clear = await cli(prefix, ["route", "clear", "svc"]);
    expect(clear.code).toBe(0);
    await waitFor(() => a.trafficPolicy("svc") === undefined && b.trafficPolicy("svc") === undefined, { timeoutMs: 1000, intervalMs: 5, what: "the policy cleared in both clients" });
    expect((await versions(a, 400)).get("2.0.0-canary") ?? 0).toBeGreaterThan(40); // about a quarter again
  }, 120_000);

  it("refuses a policy that leaves no instance, and an invalid one, changing nothing", async () => {
    const prefix = uniquePrefix();
    await fleet(prefix);
    expect((await cli(prefix, CANARY_POLICY)).code).toBe(0);
    const c = await client(prefix);
    const before = c.trafficPolicy("svc")!.revision;
    const none = await cli(prefix, ["route", "set", "svc", "--subset", "name=stable,weight=99,version=1.x", "--subset", "name=next,weight=1,version=^3"]);
    expect(none.code).toBe(1);
    expect(none.stderr.trim()).toBe(
      "switchboard: refused: subset next (version >=3.0.0 <4.0.0-0) would match no live instance of svc (live versions: 1.4.0, 2.0.0-canary); nothing was changed (--force stores it anyway)",
    );
    const override = await cli(prefix, ["route", "set", "svc", "--subset", "name=stable,weight=1,version=1.x", "--override", "Sb-Canary: 1=canary"]);
    expect(override.code).toBe(2);
    expect(override.stderr).toContain('names subset "canary", which the policy does not define');
    const zero = await cli(prefix, ["route", "set", "svc", "--subset", "name=stable,weight=0"]);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain("the weights of the subsets add up to 0");
    expect(c.trafficPolicy("svc")!.revision).toBe(before);
  }, 120_000);

  it("hostile values written into the bucket by someone else are refused; clients keep the last valid policy and keep calling", async () => {
    const prefix = uniquePrefix();
    await fleet(prefix);
    expect((await cli(prefix, CANARY_POLICY)).code).toBe(0);
    const c = await client(prefix);
    const good = c.trafficPolicy("svc")!.revision;
    const nc = await connectNats({ servers: server.url });
    cleanup.push(() => nc.close());
    const kv = await new Kvm(jetstream(nc)).open(routesBucketName(prefix));
    const valid = { v: 1, service: "svc", subsets: [{ name: "all", weight: 1 }] };
    const hostile: Array<[string, string | Uint8Array]> = [
      ["svc", new Uint8Array([0xff, 0x00, 0x7b])],
      ["svc", "{"],
      ["svc", JSON.stringify({ ...valid, service: "other" })],
      ["svc", JSON.stringify({ ...valid, subsets: [{ name: "all", weight: -5 }] })],
      ["svc", JSON.stringify({ ...valid, subsets: [{ name: "all", weight: 1e308 }] })],
      ["svc", JSON.stringify({ ...valid, subsets: [{ name: "all", weight: 1, version: ">=1 <" }] })],
      ["svc", JSON.stringify({ ...valid, subsets: [{ name: "__proto__", weight: 1 }, { name: "__proto__", weight: 1 }] })],
      ["svc", JSON.stringify({ ...valid, overrides: [{ header: "X\r\nEvil", value: "1", subset: "all" }] })],
      ["svc", JSON.stringify({ ...valid, subsets: Array.from({ length: 17 }, (_, i) => ({ name: `s${i}`, weight: 1 })) })],
      ["svc", "x".repeat(70_000)],
      ["__proto__", JSON.stringify({ ...valid, service: "__proto__" })],
    ];
    for (const [key, value] of hostile) await kv.put(key, value);
    await waitFor(() => c.stats().policies.refused >= hostile.length - 1, { what: "every hostile value refused" });
    expect(c.trafficPolicy("svc")?.revision).toBe(good);
    expect(c.trafficPolicy("svc")?.policy.subsets.map((s) => s.name)).toEqual(["stable", "canary"]);
    expect((await versions(c, 100, { "Sb-Canary": "1" })).get("2.0.0-canary")).toBe(100);
    // `route ls` shows the refused value escaped, not raw.
    const ls = await cli(prefix, ["route", "ls"]);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain("invalid value under \"svc\" (clients ignore it)");
  }, 120_000);
});
