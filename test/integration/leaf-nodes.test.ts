/**
 * Two sites joined by a NATS leaf-node connection, every server a real nats-server process:
 *
 * - the hub runs JetStream and the coordinators' side (a coordinator with its lease and registry in KV);
 * - the leaf (a second nats-server, no JetStream of its own) carries the agents and a consumer of another site.
 *
 * The leaf link runs through a TCP relay that the test can cut and heal, so the link drops while both
 * servers and every process keep running: the leaf's instances must go suspect (and out of the hub's
 * routing) while the link is down, calls from the hub keep succeeding on the hub's own instance, and
 * when the link heals the same instance processes (no restart) become routable again everywhere.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { createUser } from "@nats-io/nkeys";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type Client, type RegistryCache } from "../../src/client/index.js";
import { createCoordinator, type Coordinator } from "../../src/coordinator/index.js";
import { freePort, startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startAgentProcess, type FixtureProcess } from "../helpers/processes.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";

/** A TCP relay whose traffic can be cut (every connection dropped, new ones refused) and healed. */
interface Relay {
  readonly port: number;
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

async function startRelay(targetPort: number): Promise<Relay> {
  const sockets = new Set<Socket>();
  let open = true;
  const server: Server = createServer((inbound) => {
    if (!open) {
      inbound.destroy();
      return;
    }
    const outbound = tcpConnect(targetPort, "127.0.0.1");
    sockets.add(inbound).add(outbound);
    const drop = () => {
      inbound.destroy();
      outbound.destroy();
      sockets.delete(inbound);
      sockets.delete(outbound);
    };
    inbound.on("error", drop).on("close", drop);
    outbound.on("error", drop).on("close", drop);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    port,
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    heal() {
      open = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const HEARTBEAT_MS = 200;
let monitorPort = 0;
const prefix = uniquePrefix();

describe("leaf nodes: a hub site and a leaf site", () => {
  let hub: NatsServer;
  let leaf: NatsServer;
  let relay: Relay;
  let coordinator: Coordinator;
  let hubClient: Client;
  let leafClient: Client;
  const leafAgents: FixtureProcess[] = [];
  let hubAgent: FixtureProcess;
  let coreAgent: FixtureProcess;

  const hubCache = () => hubClient.registry as RegistryCache;
  const leafCache = () => leafClient.registry as RegistryCache;
  const stateIn = (cache: RegistryCache, id: string) => cache.all("edge").find((i) => i.instance.id === id)?.state;

  beforeAll(async () => {
    const leafPort = await freePort();
    monitorPort = await freePort();
    hub = await startNatsServer({
      config: `http: "127.0.0.1:${monitorPort}"\nleafnodes { listen: "127.0.0.1:${leafPort}" }`,
    });
    relay = await startRelay(leafPort);
    // No JetStream on the leaf: its clients' JetStream API requests cross the link to the hub.
    leaf = await startNatsServer({
      jetstream: false,
      config: `leafnodes { reconnect: 1, remotes: [ { url: "nats-leaf://127.0.0.1:${relay.port}" } ] }`,
    });
    await waitFor(async () => (await leafConnections(monitorPort)) === 1, {
      what: "the leaf link",
      timeoutMs: 15_000,
    });

    // The leaf has no JetStream, so its consumers cannot read the leadership lease in KV: registry state
    // reaches them signed by the coordinators' NKey instead (docs/SCALING.md § 3).
    const signer = createUser();
    coordinator = createCoordinator({ servers: hub.url, prefix, signingSeed: new TextDecoder().decode(signer.getSeed()) });
    await coordinator.start();
    const agentEnv = (url: string, service = "edge") => ({
      NATS_URL: url,
      SB_PREFIX: prefix,
      SB_SERVICE: service,
      SB_HEARTBEAT_MS: String(HEARTBEAT_MS),
    });
    leafAgents.push(...(await Promise.all([startAgentProcess(agentEnv(leaf.url)), startAgentProcess(agentEnv(leaf.url))])));
    hubAgent = await startAgentProcess(agentEnv(hub.url));
    coreAgent = await startAgentProcess(agentEnv(hub.url, "core"));
    const clientOpts = {
      prefix,
      timeoutMs: 300,
      deadlineMs: 5000,
      backoff: { baseMs: 5, capMs: 50 },
    };
    hubClient = await createClient({ servers: hub.url, ...clientOpts }).start();
    leafClient = await createClient({ servers: leaf.url, ...clientOpts, registrySignerKeys: [signer.getPublicKey()] }).start();
    await waitFor(() => hubCache().instances("edge").length === 3 && leafCache().instances("edge").length === 3, {
      what: `three edge instances in both sites' caches`,
      timeoutMs: 15_000,
    });
  }, 60_000);

  afterAll(async () => {
    await hubClient?.stop();
    await leafClient?.stop();
    await Promise.all([...leafAgents, hubAgent, coreAgent].filter(Boolean).map((p) => p.kill()));
    await coordinator?.stop();
    await relay?.close();
    await leaf?.dispose();
    await hub?.dispose();
  });

  it("registers the leaf's agents with the hub's coordinator and balances calls across the leaf link", async () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 90; i++) {
      const id = (await hubClient.call("edge", "whoami", null, {
        idempotent: true,
        strategy: "round-robin",
      })) as string;
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    // Every instance, both across the link and local, served a fair share.
    expect([...seen.keys()].sort()).toEqual([...leafAgents.map((a) => a.ready), hubAgent.ready].sort());
    for (const n of seen.values()) expect(n).toBe(30);
    // And the leaf site's consumer reaches a service that runs only at the hub.
    expect(await leafClient.call("core", "whoami", null, { idempotent: true })).toBe(coreAgent.ready);
  });

  it("a dropped leaf link makes the leaf's instances suspect at the hub; they return without a restart when it heals", async () => {
    const leafIds = leafAgents.map((a) => a.ready);
    const pids = leafAgents.map((a) => a.child.pid);
    let failed = 0;
    let calls = 0;
    let running = true;
    // Idempotent calls from the hub all along: the hub's own instance keeps serving them.
    const load = (async () => {
      while (running) {
        try {
          await hubClient.call("edge", "echo", { n: calls }, { idempotent: true });
        } catch {
          failed++;
        }
        calls++;
      }
    })();

    // What the hub's consumer is told about the leaf's instances, in order.
    const seenAtHub = new Map<string, string[]>(leafIds.map((id) => [id, []]));
    hubCache().onChange((c) => seenAtHub.get(c.id)?.push(c.type));
    try {
      relay.cut();
      await waitFor(() => leafIds.every((id) => stateIn(hubCache(), id) === "suspect"), {
        what: "the leaf's instances to turn suspect at the hub",
        timeoutMs: 10 * HEARTBEAT_MS + 5000,
      });
      // While cut, the hub routes only to its own instance.
      for (let i = 0; i < 20; i++) expect(await hubClient.call("edge", "whoami", null, { idempotent: true })).toBe(hubAgent.ready);

      relay.heal();
      await waitFor(
        () => leafIds.every((id) => stateIn(hubCache(), id) === "up") && leafIds.every((id) => stateIn(leafCache(), id) === "up"),
        {
          what: "the leaf's instances up again at the hub and at the leaf",
          timeoutMs: 20_000,
        },
      );
      // The very same processes: nothing restarted.
      expect(leafAgents.map((a) => a.child.pid)).toEqual(pids);
      expect(leafAgents.every((a) => a.child.exitCode === null)).toBe(true);
      const back = new Set<string>();
      await waitFor(
        async () => {
          back.add(
            (await hubClient.call("edge", "whoami", null, {
              idempotent: true,
              strategy: "round-robin",
            })) as string,
          );
          return leafIds.every((id) => back.has(id));
        },
        { what: "calls from the hub to reach both leaf instances again" },
      );
    } finally {
      running = false;
      await load;
    }
    // Suspect while cut (possibly down, if the cut outlasted k intervals), then up again: never removed.
    for (const id of leafIds) {
      const seq = seenAtHub.get(id)!;
      expect(seq[0]).toBe("suspect");
      expect(seq.at(-1)).toBe("up");
      expect(seq).not.toContain("removed");
    }
    expect(calls).toBeGreaterThan(0);
    expect(failed).toBe(0);
  }, 60_000);
});

/** Leaf connections of a server, from its monitoring endpoint (`/leafz`). */
async function leafConnections(monitorPort: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${monitorPort}/leafz`);
  return ((await res.json()) as { leafnodes: number }).leafnodes;
}
