/**
 * Selectors end to end (real nats-server, coordinator, agents, the client's registry cache, the CLI as
 * a subprocess): version ranges, required tags and zones select exactly the matching instances; the
 * zone preference spills over when the local zone is emptied; registry queries and `switchboard ls`
 * filter the same way.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createAgent, type Agent } from "../../src/agent/index.js";
import {
  BadRequestError,
  UnavailableError,
  createClient,
  queryRegistry,
  RegistryQueryError,
  type Client,
  type ClientOptions,
  type RegistryCache,
} from "../../src/client/index.js";
import { createCoordinator } from "../../src/coordinator/index.js";
import { createGateway } from "../../src/gateway/index.js";
import { Subjects, connectNats } from "../../src/protocol/index.js";
import { runCli } from "../helpers/cli.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";
import { CleanupStack } from "../helpers/cleanup.js";

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
});
afterAll(async () => {
  await server?.dispose();
});
const cleanup = new CleanupStack();
afterEach(async () => {
  await cleanup.run();
});

interface Spec {
  id: string;
  version: string;
  zone?: string;
  tags?: string[];
}

/** The fleet every test uses: ids say what each instance is. */
const FLEET: Spec[] = [
  { id: "a-1-2-0-z1-gpu", version: "1.2.0", zone: "z1", tags: ["gpu"] },
  { id: "b-2-1-3-z1", version: "2.1.3", zone: "z1" },
  { id: "c-2-2-0-z2-gpu-ssd", version: "2.2.0", zone: "z2", tags: ["gpu", "ssd"] },
  { id: "d-2-0-0-canary-z2", version: "2.0.0-canary", zone: "z2" },
  { id: "e-notsemver", version: "latest" },
];

async function fleet(prefix: string, specs = FLEET): Promise<Map<string, Agent>> {
  const coord = createCoordinator({ servers: server.url, prefix, jetstream: false });
  await coord.start();
  cleanup.push(() => coord.stop());
  const agents = new Map<string, Agent>();
  await Promise.all(
    specs.map(async (s) => {
      const a = createAgent({ servers: server.url, prefix, service: "svc", heartbeatMs: 250, id: s.id, version: s.version, zone: s.zone, tags: s.tags });
      a.endpoint("who", () => a.id);
      await a.start();
      cleanup.push(() => a.stop());
      agents.set(s.id, a);
    }),
  );
  return agents;
}

async function client(prefix: string, opts: Partial<ClientOptions> = {}): Promise<Client> {
  const c = await createClient({ servers: server.url, prefix, backoff: { baseMs: 5, capMs: 50 }, strategy: "round-robin", ...opts } as ClientOptions).start();
  cleanup.push(() => c.stop());
  await waitFor(() => (c.registry as RegistryCache).instances("svc").length === FLEET.length, { what: "the fleet in the client's registry" });
  return c;
}

/** The set of instances that answered `n` calls with `opts`. */
async function served(c: Client, opts: Parameters<Client["call"]>[3], n = 60): Promise<string[]> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) seen.add((await c.call("svc", "who", null, opts)) as string);
  return [...seen].sort();
}

/** A string reply as the gateway sends it (JSON-encoded or bare). */
async function text(r: Response): Promise<string> {
  const t = await r.text();
  return t.startsWith('"') ? (JSON.parse(t) as string) : t;
}

describe("selectors on calls", () => {
  it("version ranges, tags and both together select exactly the matching instances", async () => {
    const prefix = uniquePrefix();
    await fleet(prefix);
    const c = await client(prefix);
    expect(await served(c, { version: "^2.1.0" })).toEqual(["b-2-1-3-z1", "c-2-2-0-z2-gpu-ssd"]);
    expect(await served(c, { version: "1.x" })).toEqual(["a-1-2-0-z1-gpu"]);
    // npm's rule: a pre-release matches only a range that names it.
    expect(await served(c, { version: "2.0.0-canary" })).toEqual(["d-2-0-0-canary-z2"]);
    expect(await served(c, { version: ">=2.0.0-0 <3" })).toEqual(["b-2-1-3-z1", "c-2-2-0-z2-gpu-ssd", "d-2-0-0-canary-z2"]);
    expect(await served(c, { tags: ["gpu"] })).toEqual(["a-1-2-0-z1-gpu", "c-2-2-0-z2-gpu-ssd"]);
    expect(await served(c, { tags: ["gpu", "ssd"] })).toEqual(["c-2-2-0-z2-gpu-ssd"]);
    expect(await served(c, { version: "^1 || ^2", tags: ["gpu"] })).toEqual(["a-1-2-0-z1-gpu", "c-2-2-0-z2-gpu-ssd"]);
    expect(await served(c, {}, 100)).toEqual(FLEET.map((s) => s.id).sort());

    // The gateway takes the same selectors (query string of POST /call/<service>/<endpoint>, options of POST /call).
    const gateway = createGateway({ servers: server.url, prefix, port: 0, timeoutMs: 3000 });
    await gateway.start();
    cleanup.push(() => gateway.stop());
    const viaHttp = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const r = await fetch(`${gateway.url}/call/svc/who?version=${encodeURIComponent("^2.1.0")}&tags=gpu`, { method: "POST", body: "null", headers: { "content-type": "application/json" } });
      expect(r.status).toBe(200);
      viaHttp.add(await text(r));
    }
    expect([...viaHttp]).toEqual(["c-2-2-0-z2-gpu-ssd"]);
    const body = { service: "svc", endpoint: "who", request: null, options: { version: "1.x" } };
    const r1 = await fetch(`${gateway.url}/call`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
    expect(await text(r1)).toBe("a-1-2-0-z1-gpu");
    const bad = await fetch(`${gateway.url}/call/svc/who?version=${encodeURIComponent("not a range!")}`, { method: "POST", body: "null", headers: { "content-type": "application/json" } });
    expect(bad.status).toBe(400);
  });

  it("no matching instance: UnavailableError at once, nothing sent; an invalid range: BadRequestError", async () => {
    const prefix = uniquePrefix();
    await fleet(prefix);
    const c = await client(prefix);
    const before = c.stats().attempts;
    const err = await c.call("svc", "who", null, { version: "^9.0.0", tags: ["gpu"] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toBe("svc.who: no live instance matches version >=9.0.0 <10.0.0-0, tags gpu; 0 attempts made");
    expect(c.stats().attempts).toBe(before);
    const bad = await c.call("svc", "who", null, { version: "not a range!" }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(BadRequestError);
    expect((bad as Error).message).toBe('svc.who: version "not a range!" is not a semver range (examples: ^2.1.0, 1.x, >=1.2 <2)');
    const badTags = await c.call("svc", "who", null, { tags: "gpu" as never }).catch((e: unknown) => e);
    expect(badTags).toBeInstanceOf(BadRequestError);
  });

  it("zone: the caller's zone is preferred; when it is emptied, calls spill over to the other zones", async () => {
    const prefix = uniquePrefix();
    const agents = await fleet(prefix);
    const c = await client(prefix, { zone: "z1" });
    expect(await served(c, undefined)).toEqual(["a-1-2-0-z1-gpu", "b-2-1-3-z1"]);
    // The call's own zone overrides the client's.
    expect(await served(c, { zone: "z2" })).toEqual(["c-2-2-0-z2-gpu-ssd", "d-2-0-0-canary-z2"]);
    // A selector and a zone preference together.
    expect(await served(c, { version: "^2.1.0" })).toEqual(["b-2-1-3-z1"]);
    // Empty zone z1: the calls go elsewhere, without a failure.
    await agents.get("a-1-2-0-z1-gpu")!.stop();
    await agents.get("b-2-1-3-z1")!.stop();
    await waitFor(() => (c.registry as RegistryCache).instances("svc").length === 3, { what: "z1 emptied in the client's registry" });
    expect(await served(c, undefined)).toEqual(["c-2-2-0-z2-gpu-ssd", "d-2-0-0-canary-z2", "e-notsemver"]);
    expect(await served(c, { version: "^2.1.0" })).toEqual(["c-2-2-0-z2-gpu-ssd"]);
    expect(c.stats().failed).toBe(0);
  });

  it("zone: a local instance answering OVERLOADED makes the call spill over instead of failing", async () => {
    const prefix = uniquePrefix();
    const coord = createCoordinator({ servers: server.url, prefix, jetstream: false });
    await coord.start();
    cleanup.push(() => coord.stop());
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const busy = createAgent({ servers: server.url, prefix, service: "svc", heartbeatMs: 250, id: "local-busy", zone: "z1", maxInFlight: 1 });
    busy.endpoint("who", async () => {
      await gate;
      return busy.id;
    });
    const remote = createAgent({ servers: server.url, prefix, service: "svc", heartbeatMs: 250, id: "remote", zone: "z2" });
    remote.endpoint("who", () => remote.id);
    await Promise.all([busy.start(), remote.start()]);
    cleanup.push(() => remote.stop(), () => busy.stop(), async () => release());
    const c = await createClient({ servers: server.url, prefix, zone: "z1", backoff: { baseMs: 1, capMs: 5 } }).start();
    cleanup.push(() => c.stop());
    await waitFor(() => (c.registry as RegistryCache).instances("svc").length === 2, { what: "both instances" });
    const first = c.call("svc", "who", null); // occupies the local instance
    await waitFor(() => busy.inFlight === 1, { what: "the local instance busy" });
    expect(await c.call("svc", "who", null)).toBe("remote");
    release();
    expect(await first).toBe("local-busy");
  });
});

describe("selectors in registry queries and switchboard ls", () => {
  it("the coordinator answers only the matching instances and refuses an invalid range", async () => {
    const prefix = uniquePrefix();
    await fleet(prefix);
    const nc = await connectNats({ servers: server.url });
    cleanup.push(() => nc.close());
    const subjects = new Subjects(prefix);
    await waitFor(async () => (await queryRegistry(nc, subjects, { service: "svc" })).instances.length === FLEET.length, { what: "the fleet registered" });
    const ids = async (q: Parameters<typeof queryRegistry>[2]) => (await queryRegistry(nc, subjects, q)).instances.map((v) => v.instance.id).sort();
    expect(await ids({ service: "svc", version: "^2.1.0" })).toEqual(["b-2-1-3-z1", "c-2-2-0-z2-gpu-ssd"]);
    expect(await ids({ tags: ["gpu"] })).toEqual(["a-1-2-0-z1-gpu", "c-2-2-0-z2-gpu-ssd"]);
    expect(await ids({ zone: "z2" })).toEqual(["c-2-2-0-z2-gpu-ssd", "d-2-0-0-canary-z2"]);
    expect(await ids({ zone: "z2", version: "2.0.0-canary" })).toEqual(["d-2-0-0-canary-z2"]);
    const err = await queryRegistry(nc, subjects, { version: "><" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryQueryError);
    expect((err as RegistryQueryError).code).toBe("BAD_REQUEST");
    expect((err as Error).message).toBe('coordinator refused the query: version "><" is not a semver range (examples: ^2.1.0, 1.x, >=1.2 <2)');

    const ls = await runCli(["ls", "svc", "--version", "^2.1.0", "--tag", "gpu", "--json", "--servers", server.url, "--prefix", prefix], { timeoutMs: 60_000 });
    expect(ls.stderr).toBe("");
    expect(ls.code).toBe(0);
    const snapshot = JSON.parse(ls.stdout) as { instances: Array<{ instance: { id: string } }> };
    expect(snapshot.instances.map((v) => v.instance.id)).toEqual(["c-2-2-0-z2-gpu-ssd"]);
    const bad = await runCli(["ls", "--zone", "no.dots", "--servers", server.url, "--prefix", prefix], { timeoutMs: 60_000 });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("zone must be 1-64 letters, digits, '_' or '-'");
  }, 120_000); // two CLI subprocesses: slow on a loaded machine
});
