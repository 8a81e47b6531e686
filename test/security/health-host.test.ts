/**
 * `--health-port` binds `--health-host`, loopback by default: a probe port is not reachable from the
 * network unless the operator says so. The real CLI (a coordinator) is probed on 127.0.0.1 and on this
 * machine's non-loopback address.
 */
import { networkInterfaces } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAllCli, startCli } from "../helpers/cli.js";
import { freePort, startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { uniquePrefix } from "../helpers/wait.js";

/** This machine's first non-loopback IPv4 address (a test host always has one: its network interface). */
const external = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === "IPv4" && !a.internal)?.address;

async function probe(host: string, port: number): Promise<number | string> {
  return fetch(`http://${host}:${port}/healthz`, { signal: AbortSignal.timeout(3000) }).then(
    (r) => r.status,
    (e: Error & { cause?: { code?: string } }) => e.cause?.code ?? e.message,
  );
}

describe("security: --health-host", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer({ jetstream: false });
  });
  afterAll(async () => {
    await killAllCli();
    await server?.dispose();
  });

  it("binds 127.0.0.1 by default and every interface only when asked", async () => {
    expect(external, "a non-loopback IPv4 address").toBeDefined();
    const [loopbackPort, anyPort] = [await freePort(), await freePort()];
    const common = ["coordinator", "--no-jetstream", "--servers", server.url, "--prefix", uniquePrefix()];
    const byDefault = startCli([...common, "--health-port", String(loopbackPort)]);
    const everywhere = startCli([...common, "--health-port", String(anyPort), "--health-host", "0.0.0.0"]);
    await byDefault.waitFor(/running/, { stream: "stderr", timeoutMs: 45_000 });
    await everywhere.waitFor(/running/, { stream: "stderr", timeoutMs: 45_000 });
    expect(await probe("127.0.0.1", loopbackPort)).toBe(200);
    expect(await probe(external!, loopbackPort)).toBe("ECONNREFUSED");
    expect(await probe("127.0.0.1", anyPort)).toBe(200);
    expect(await probe(external!, anyPort)).toBe(200);
    expect(await byDefault.stop("SIGTERM")).toBe(0);
    expect(await everywhere.stop("SIGTERM")).toBe(0);
  }, 90_000);
});
