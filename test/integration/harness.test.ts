import { afterEach, describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startNatsCluster, startNatsServer, type NatsCluster, type NatsServer } from "../helpers/nats-server.js";

describe("nats-server harness", () => {
  const cleanup: Array<NatsServer | NatsCluster> = [];
  afterEach(async () => {
    await Promise.all(cleanup.splice(0).map((s) => s.dispose()));
  });

  it("starts a JetStream server, survives SIGKILL and restarts on the same port with its data", async () => {
    const srv = await startNatsServer();
    cleanup.push(srv);
    let nc = await connect({ servers: srv.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "KEEP", subjects: ["keep.>"] });
    await nc.close();
    const firstPid = srv.pid;
    await srv.kill();
    await srv.restart();
    expect(srv.pid).not.toBe(firstPid);
    nc = await connect({ servers: srv.url });
    const info = await (await jetstreamManager(nc)).streams.info("KEEP");
    expect(info.config.name).toBe("KEEP");
    await nc.close();
  });

  it("starts a 3-node cluster whose nodes route messages to each other", async () => {
    const cluster = await startNatsCluster(3);
    cleanup.push(cluster);
    const a = await connect({ servers: cluster.urls[0] });
    const b = await connect({ servers: cluster.urls[2] });
    const sub = b.subscribe("ping", { max: 1 });
    await b.flush();
    // Route interest propagates asynchronously; retry until the subscription is known cluster-wide.
    let got = "";
    const reader = (async () => {
      for await (const m of sub) got = m.string();
    })();
    for (let i = 0; i < 100 && !got; i++) {
      a.publish("ping", "hello");
      await new Promise((r) => setTimeout(r, 50));
    }
    await reader;
    expect(got).toBe("hello");
    await a.close();
    await b.close();
  });
});
