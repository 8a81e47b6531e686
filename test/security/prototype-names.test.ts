/**
 * Attack: names that are `Object.prototype` keys (`constructor`, `toString`, `hasOwnProperty`,
 * `__proto__`, …) as service, instance, endpoint, metric and label names — all valid on the wire. A
 * component that indexes a plain object with one of them finds Object.prototype's member instead of
 * nothing (the collector's GET /metrics answered 500; a `__proto__` label vanished). Here every such
 * name is a real service with an agent, served, routed, called and measured, on a real nats-server;
 * the oracle is the list of names from the runtime and an independent Prometheus text parser.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { createAgent, type Agent } from "../../src/agent/index.js";
import { createClient, queryRegistry, type Client, type RegistryCache } from "../../src/client/index.js";
import { createCoordinator, type Coordinator } from "../../src/coordinator/index.js";
import { createCollector, type Collector } from "../../src/monitor/index.js";
import { Subjects } from "../../src/protocol/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { PROTOTYPE_NAMES, PROTOTYPE_TOKENS } from "../helpers/prototypeNames.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";

describe("security: Object.prototype names as services, instances, endpoints, metrics and labels", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let coordinator: Coordinator;
  let collector: Collector;
  let client: Client;
  const agents: Agent[] = [];
  const prefix = uniquePrefix();
  const s = new Subjects(prefix);
  const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    coordinator = createCoordinator({ servers: server.url, prefix, jetstream: false });
    await coordinator.start();
    collector = createCollector({ servers: server.url, prefix, httpPort: 0, httpHost: "127.0.0.1" });
    await collector.start();
    for (const name of PROTOTYPE_TOKENS) {
      const agent = createAgent({ service: name, id: name, nats: nc, prefix, heartbeatMs: 200, metricsIntervalMs: 100, metadata: { [name]: name } });
      agent.endpoint(name, (p) => p);
      // A user metric and a label of the same name.
      agent.metrics.counter(name, { labelNames: [name] }).inc({ [name]: name });
      await agent.start();
      agents.push(agent);
    }
    client = await createClient({ servers: server.url, prefix, timeoutMs: 2000 }).start();
  });
  afterAll(async () => {
    await client?.stop();
    for (const a of agents) await a.stop();
    await collector?.stop();
    await coordinator?.stop();
    await nc?.close();
    await server?.dispose();
  });

  it("covers every Object.prototype key (the runtime's list, all valid names)", () => {
    expect(PROTOTYPE_TOKENS).toEqual(PROTOTYPE_NAMES);
    expect(PROTOTYPE_TOKENS).toEqual(expect.arrayContaining(["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"]));
  });

  it("registers, routes and calls each of them, and pollutes nothing", async () => {
    const snap = await waitFor(
      async () => {
        const r = await queryRegistry(nc, s);
        return r.instances.length === PROTOTYPE_TOKENS.length ? r : undefined;
      },
      { what: "every prototype-named service registered" },
    );
    expect(snap.instances.map((v) => [v.instance.service, v.instance.id, v.instance.endpoints, v.state]).sort()).toEqual(
      PROTOTYPE_TOKENS.map((n) => [n, n, [n], "up"]).sort(),
    );
    for (const v of snap.instances) expect(Object.entries(v.instance.metadata ?? {})).toEqual([[v.instance.service, v.instance.service]]);
    const cache = client.registry as RegistryCache;
    await waitFor(() => PROTOTYPE_TOKENS.every((n) => cache.instances(n).length === 1), { what: "every one routed by the client" });
    for (const name of PROTOTYPE_TOKENS) {
      expect(cache.instances(name).map((v) => v.instance.id)).toEqual([name]);
      expect(await client.call(name, name, { name })).toEqual({ name });
      expect(Object.keys(client.breakerStates(name))).toContain(name);
    }
    expect(client.stats()).toMatchObject({ failed: 0, fallbackCalls: 0 });
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
  });

  it("the collector's GET /metrics answers 200 with each of them as a metric and a label", async () => {
    const families = await waitFor(
      async () => {
        const res = await fetch(`${collector.url}/metrics`);
        expect(res.status).toBe(200);
        const parsed = parsePrometheusTextFormat(await res.text());
        const requests = parsed.find((f) => f.name === "sb_requests_total")?.metrics ?? [];
        const measured = (n: string) => parsed.some((f) => f.name === n) && requests.some((m) => m.labels?.service === n && m.value === "1");
        return PROTOTYPE_TOKENS.every(measured) ? parsed : undefined;
      },
      { what: "every prototype-named metric and call exposed" },
    );
    for (const name of PROTOTYPE_TOKENS) {
      const f = families.find((x) => x.name === name)!;
      expect(f.type, name).toBe("COUNTER");
      // Labels starting with __ are reserved by Prometheus: exported under exported_<name>, like service/instance.
      const label = name.startsWith("__") ? `exported_${name}` : name;
      expect(f.metrics, name).toEqual([{ labels: { service: name, instance: name, [label]: name }, value: "1" }]);
      const requests = families.find((x) => x.name === "sb_requests_total")!.metrics.filter((m) => m.labels?.service === name);
      expect(requests.map((m) => [m.labels?.instance, m.labels?.endpoint, m.value]), name).toEqual([[name, name, "1"]]);
    }
    expect(collector.snapshot().services.map((x) => x.service).sort()).toEqual([...PROTOTYPE_TOKENS].sort());
  });
});
