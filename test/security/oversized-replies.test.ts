/**
 * Attack: a request whose reply exceeds the server's `max_payload` (1 MiB). nats.js throws from
 * `respond`; unguarded, an async handler's reply killed the agent process (unhandled rejection) and a
 * sync handler's closed the connection from inside the reader while the instance kept heartbeating.
 * Now the caller gets `PAYLOAD_TOO_LARGE`, the reply is counted, and the instance keeps answering and
 * stays routable — through a real nats-server and the balanced client.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createAgent, type Agent } from "../../src/agent/index.js";
import { CallError, createClient, type Client, type RegistryCache } from "../../src/client/index.js";
import { createCoordinator, type Coordinator } from "../../src/coordinator/index.js";
import { Subjects, encodeJson, readErrorReply } from "../../src/protocol/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";

describe("security: a reply larger than max_payload", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let coordinator: Coordinator;
  let agent: Agent;
  let client: Client;
  const prefix = uniquePrefix();
  const s = new Subjects(prefix);
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);

  beforeAll(async () => {
    process.on("unhandledRejection", onUnhandled);
    server = await startNatsServer({ jetstream: false });
    nc = await connect({ servers: server.url });
    coordinator = createCoordinator({ servers: server.url, prefix, jetstream: false });
    await coordinator.start();
    agent = createAgent({ service: "blob", servers: server.url, prefix, heartbeatMs: 100, metricsIntervalMs: 0 });
    agent.endpoint("echo", (p) => p);
    agent.endpoint("bigSync", (p) => "x".repeat((p as { n: number }).n));
    agent.endpoint("bigAsync", async (p) => {
      await new Promise((r) => setImmediate(r));
      return "y".repeat((p as { n: number }).n);
    });
    await agent.start();
    client = await createClient({ servers: server.url, prefix, timeoutMs: 2000 }).start();
    await waitFor(() => (client.registry as RegistryCache).instances("blob").length === 1, { what: "blob routed" });
  });
  afterAll(async () => {
    process.off("unhandledRejection", onUnhandled);
    await client?.stop();
    await agent?.stop();
    await coordinator?.stop();
    await nc?.close();
    await server?.dispose();
  });

  it("answers PAYLOAD_TOO_LARGE from sync and async handlers, counts it, and keeps serving and routed", async () => {
    const n = 2 * 1024 * 1024;
    for (const endpoint of ["bigSync", "bigAsync"]) {
      const raw = await nc.request(s.instance("blob", agent.id, endpoint), encodeJson({ n }), { timeout: 2000 });
      expect(readErrorReply(raw), endpoint).toMatchObject({ code: "PAYLOAD_TOO_LARGE", message: expect.stringContaining("max_payload") });
      // Through the balanced client: the callee's code, not a timeout, and not retried elsewhere.
      const err = await client.call("blob", endpoint, { n }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CallError);
      expect((err as CallError).code).toBe("PAYLOAD_TOO_LARGE");
      expect((err as CallError).attempts).toHaveLength(1);
    }
    expect(agent.replies.stats()).toMatchObject({ payloadTooLarge: 4, failed: 0 });
    expect(agent.endpoints.get("bigSync")!.stats).toMatchObject({ numRequests: 2, numErrors: 2 });
    expect(agent.endpoints.get("bigSync")!.stats.lastError).toMatch(/^PAYLOAD_TOO_LARGE/);
    // Its connection is intact, it still answers, heartbeats keep it up and the client still routes to it.
    expect(agent.nc.isClosed()).toBe(false);
    expect(await client.call("blob", "echo", { still: "here" })).toEqual({ still: "here" });
    const justUnder = 1024 * 1024 - 1024;
    expect(((await client.call("blob", "bigSync", { n: justUnder })) as string).length).toBe(justUnder);
    const before = coordinator.stats().heartbeats;
    await waitFor(() => coordinator.stats().heartbeats > before, { what: "another heartbeat" });
    expect((client.registry as RegistryCache).instances("blob").map((v) => [v.instance.id, v.state])).toEqual([[agent.id, "up"]]);
    expect(client.stats().fallbackCalls).toBe(0);
    expect(unhandled).toEqual([]);
    console.log(`security: 4 oversized replies answered PAYLOAD_TOO_LARGE; agent connection open, still routed, 0 unhandled rejections`);
  });
});
