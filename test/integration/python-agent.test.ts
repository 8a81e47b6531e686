/**
 * docs/PROTOCOL.md's example agent (examples/python/switchboard_agent.py: Python, standard library only,
 * the NATS protocol over a raw socket, no Switchboard code) against a real nats-server and coordinator,
 * called with Switchboard's own client: the protocol page is enough to write a service in another language.
 */
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestError, createClient, createRegistryCache, RemoteError, UnavailableError, type Client, type RegistryCache } from "../../src/client/index.js";
import { createCoordinator, type Coordinator } from "../../src/coordinator/index.js";
import { connectNats, decodeMessage, readErrorReply, Subjects, type MetricsSnapshot } from "../../src/protocol/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startProcess, type FixtureProcess } from "../helpers/processes.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";

const AGENT = fileURLToPath(new URL("../../examples/python/switchboard_agent.py", import.meta.url));
const SERVICE = "pyhello";

describe("the Python example agent (docs/PROTOCOL.md) with a real coordinator and client", () => {
  let server: NatsServer;
  let coordinator: Coordinator;
  let agent: FixtureProcess;
  let client: Client;
  let cache: RegistryCache;
  let nc: NatsConnection;
  let prefix: string;
  let s: Subjects;

  beforeAll(async () => {
    server = await startNatsServer();
    prefix = uniquePrefix();
    s = new Subjects(prefix);
    coordinator = await createCoordinator({ servers: server.url, prefix }).start();
    nc = await connectNats({ servers: server.url });
    agent = await startProcess("python agent", "python3", [AGENT, "--servers", server.url, "--prefix", prefix, "--service", SERVICE, "--heartbeat-ms", "200", "--metrics-ms", "200"], {});
    cache = await createRegistryCache({ servers: server.url, prefix }).start();
    client = await createClient({ servers: server.url, prefix, registry: cache, timeoutMs: 2000, backoff: { baseMs: 5, capMs: 20 } }).start();
    await waitFor(() => client.registry?.instances(SERVICE).some((v) => v.instance.id === agent.ready), { what: "the Python agent up in the client's registry" });
  });

  afterAll(async () => {
    await client?.stop();
    await cache?.stop();
    await agent?.kill();
    await nc?.close();
    await coordinator?.stop();
    await server?.dispose();
  });

  it("is announced with its record and answers balanced calls and the queue-group fallback", async () => {
    const view = client.registry!.instances(SERVICE).find((v) => v.instance.id === agent.ready)!;
    expect(view.state).toBe("up");
    expect(view.instance.endpoints).toEqual(["greet", "echo", "sleep", "fail"]);
    expect(view.seq).toBeGreaterThanOrEqual(1);

    expect(await client.call(SERVICE, "greet", { name: "Ada" })).toEqual({ greeting: "hello Ada", from: agent.ready });
    const fallback = await createClient({ nats: nc, prefix, registry: false }).start();
    try {
      expect(await fallback.call(SERVICE, "echo", [1, "two", { three: 3 }])).toEqual([1, "two", { three: 3 }]);
    } finally {
      await fallback.stop();
    }
  });

  it("maps its error replies onto the client's error classes", async () => {
    const own = await client.call(SERVICE, "fail", {}).catch((e: unknown) => e);
    expect(own).toBeInstanceOf(RemoteError);
    expect(own).toMatchObject({ code: "TEAPOT", message: "this endpoint always fails, with a code of its own" });
    const bad = await client.call(SERVICE, "greet", { name: 42 }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(BadRequestError);
    expect((bad as BadRequestError).message).toMatch(/greet needs/);
  });

  it("answers NOT_FOUND for an endpoint it does not serve, and BAD_REQUEST for a body that is not JSON", async () => {
    const notFound = await nc.request(`${s.allInstanceEndpoints(SERVICE, agent.ready).slice(0, -1)}nosuch`, new TextEncoder().encode("{}"), { timeout: 2000 });
    expect(notFound.headers?.get("Nats-Service-Error-Code")).toBe("404");
    expect(readErrorReply(notFound)).toMatchObject({ code: "NOT_FOUND", message: `service ${SERVICE} has no endpoint "nosuch"` });

    const garbage = await nc.request(s.instance(SERVICE, agent.ready, "echo"), new TextEncoder().encode("{oops"), { timeout: 2000 });
    expect(readErrorReply(garbage)).toMatchObject({ code: "BAD_REQUEST", message: "request body is not valid JSON" });
  });

  it("drops a request whose Sb-Deadline has passed and ignores a malformed one", async () => {
    const subject = s.instance(SERVICE, agent.ready, "echo");
    const past = natsHeaders();
    past.set("Sb-Deadline", String(Date.now() - 1000));
    const dropped = await nc.request(subject, new TextEncoder().encode('"late"'), { timeout: 300, headers: past }).catch((e: Error) => e);
    expect(dropped).toBeInstanceOf(Error);
    expect(String(dropped)).toMatch(/timeout/i);

    const malformed = natsHeaders();
    malformed.set("Sb-Deadline", "soon");
    const served = await nc.request(subject, new TextEncoder().encode('"on time"'), { timeout: 2000, headers: malformed });
    expect(readErrorReply(served)).toBeNull();
    expect(JSON.parse(new TextDecoder().decode(served.data))).toBe("on time");
  });

  it("never answers on a system or installation subject", async () => {
    const spy = nc.subscribe(`${prefix}.forged.>`);
    const got: string[] = [];
    void (async () => {
      for await (const m of spy) got.push(m.subject);
    })();
    nc.publish(s.instance(SERVICE, agent.ready, "echo"), new TextEncoder().encode('"x"'), { reply: `${prefix}.forged.reply` });
    // A legitimate request after it: once its reply is back, the forged one would have been answered too.
    await nc.request(s.instance(SERVICE, agent.ready, "echo"), new TextEncoder().encode('"y"'), { timeout: 2000 });
    await nc.flush();
    spy.unsubscribe();
    expect(got).toEqual([]);
  });

  it("publishes cumulative metrics snapshots that pass the schema", async () => {
    await client.call(SERVICE, "greet", { name: "Grace" });
    const sub = nc.subscribe(s.metrics(SERVICE, agent.ready));
    let snapshot: MetricsSnapshot | undefined;
    for await (const m of sub) {
      const d = decodeMessage("metrics", m.data);
      expect(d.ok, d.ok ? "" : d.error).toBe(true);
      if (!d.ok) break;
      const greet = d.value.endpoints.find((e) => e.endpoint === "greet");
      if (greet && greet.requests >= 2) {
        snapshot = d.value;
        break;
      }
    }
    const greet = snapshot!.endpoints.find((e) => e.endpoint === "greet")!;
    expect(greet.errors).toBeGreaterThanOrEqual(1); // the BAD_REQUEST above
    expect(greet.errorsByCode?.BAD_REQUEST).toBeGreaterThanOrEqual(1);
    expect(greet.latencyMs.count).toBe(greet.requests);
    expect(snapshot!.endpoints.find((e) => e.endpoint === "fail")!.errorsByCode).toMatchObject({ TEAPOT: 1 });
  });

  it("re-announces for a sync naming it (by id alone too), and not for one naming another instance", async () => {
    let seen = 0;
    const announces = nc.subscribe(s.announce(SERVICE, agent.ready), {
      callback: (_err, m) => {
        if (decodeMessage("announce", m.data).ok) seen++;
      },
    });
    const sync = (body: Record<string, unknown>) => nc.publish(s.sync, new TextEncoder().encode(JSON.stringify({ v: 1, coordinator: "test", reason: "operator", ...body })));
    sync({ id: "someone-else" });
    sync({ service: "another-service" });
    sync({ service: SERVICE, id: "someone-else" });
    sync({ id: agent.ready });
    await waitFor(() => seen === 1, { what: "the announce answering the sync naming its id" });
    // The three syncs before it named someone else; had one been answered, its announce would be here by now.
    await nc.flush();
    expect(seen).toBe(1);
    sync({ service: SERVICE });
    await waitFor(() => seen === 2, { what: "the announce answering the sync naming its service" });
    sync({});
    await waitFor(() => seen === 3, { what: "the announce answering a broadcast sync" });
    announces.unsubscribe();
  });

  it("on SIGTERM finishes the request in flight, leaves (removed at once, not down) and exits 0", async () => {
    const removed = new Promise<string>((resolve) => {
      const d = cache.onChange((c) => {
        if (c.id === agent.ready && c.type !== "up") {
          d.dispose();
          resolve(`${c.previous} → ${c.type}`);
        }
      });
    });
    const slow = client.call(SERVICE, "sleep", { ms: 600 });
    // The call is being handled once the agent reports it in flight.
    await waitFor(
      async () => {
        const hb = await new Promise<number>((resolve) => {
          const sub = nc.subscribe(s.heartbeat(SERVICE, agent.ready), { max: 1, callback: (_e, m) => resolve(JSON.parse(new TextDecoder().decode(m.data)).inFlight) });
          void sub;
        });
        return hb > 0;
      },
      { what: "the sleep call in flight" },
    );
    const stopped = agent.stop();
    expect(await slow).toEqual({ slept: 600, from: agent.ready });
    expect(await removed).toBe("up → removed");
    await stopped;
    expect(agent.child.exitCode).toBe(0);
    const after = await client.call(SERVICE, "echo", "anyone?").catch((e: unknown) => e);
    expect(after).toBeInstanceOf(UnavailableError);
  });
});
