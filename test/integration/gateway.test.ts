/**
 * The seed-compatible HTTP gateway against a real nats-server and a real coordinator:
 * the seed's register → query round trip, the registry and health routes, balanced calls to a
 * real agent, and input validation (400 with a reason, 404, 405, 413).
 */
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, type Agent } from "../../src/agent/index.js";
import { createCoordinator } from "../../src/coordinator/index.js";
import { createGateway, type Gateway } from "../../src/gateway/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";

const MAX_BODY = 4096;

describe("HTTP gateway", () => {
  let server: NatsServer;
  let coordinator: Awaited<ReturnType<typeof createCoordinator>>;
  let gateway: Gateway;
  let agent: Agent;
  let base: string;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    server = await startNatsServer();
    coordinator = createCoordinator({ servers: server.url, prefix });
    await coordinator.start();
    gateway = createGateway({ servers: server.url, prefix, port: 0, maxBodyBytes: MAX_BODY, timeoutMs: 3000 });
    await gateway.start();
    base = gateway.url;
    agent = createAgent({ servers: server.url, prefix, service: "echo", heartbeatMs: 100 });
    agent.endpoint("echo", (payload) => ({ echo: payload === undefined ? "(no payload)" : payload }));
    agent.endpoint("fail", () => {
      throw new Error("broken on purpose");
    });
    await agent.start();
  });

  afterAll(async () => {
    await agent?.stop();
    await gateway?.stop();
    await coordinator?.stop();
    await server?.dispose();
  });

  const post = (path: string, body: string, headers: Record<string, string> = { "Content-Type": "application/json" }) =>
    fetch(base + path, { method: "POST", body, headers });

  it("registers and queries exactly as the seed's HTTP API does", async () => {
    const reg = await post("/register", JSON.stringify({ serviceName: "example-service", serviceAddress: "http://example.com/example-service" }));
    expect(reg.status).toBe(200);
    expect(reg.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await reg.json()).toStrictEqual({ status: "success" });
    expect(reg.headers.get("sb-instance-id")).toMatch(/^[0-9a-f-]{36}$/);

    const q = await waitFor(async () => {
      const r = await fetch(`${base}/query?serviceName=example-service`);
      return r.status === 200 ? r : undefined;
    }, { what: "query to find the registration" });
    expect(await q.json()).toStrictEqual({ serviceName: "example-service", serviceAddress: "http://example.com/example-service" });
  });

  /** Sends the exact bytes of a request and returns status line, headers and body. */
  const rawRequest = (text: string) =>
    new Promise<{ status: number; headers: string; body: string }>((resolve, reject) => {
      const s = connect(gateway.port, "127.0.0.1");
      let out = "";
      s.setEncoding("utf8");
      s.on("data", (d: string) => (out += d));
      s.on("close", () => {
        const split = out.indexOf("\r\n\r\n");
        resolve({ status: Number(out.slice(9, 12)), headers: out.slice(0, split), body: out.slice(split + 4) });
      });
      s.on("error", reject);
      s.write(text);
    });

  it("answers the seed's exact example requests (section 3.1) with the seed's answers", async () => {
    const body = '{\n  "serviceName": "example-service",\n  "serviceAddress": "http://example.com/example-service"\n}';
    const reg = await rawRequest(
      `POST /register HTTP/1.1\r\nHost: registry.example.com\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(reg.status).toBe(200);
    expect(reg.headers).toMatch(/\r\ncontent-type: application\/json/i);
    expect(JSON.parse(reg.body)).toStrictEqual({ status: "success" });
    const q = await rawRequest("GET /query?serviceName=example-service HTTP/1.1\r\nHost: registry.example.com\r\nConnection: close\r\n\r\n");
    expect(q.status).toBe(200);
    expect(q.headers).toMatch(/\r\ncontent-type: application\/json/i);
    expect(JSON.parse(q.body)).toStrictEqual({ serviceName: "example-service", serviceAddress: "http://example.com/example-service" });
  });

  it("keeps a registration without TTL, re-registers idempotently, and removes it at once on DELETE /register", async () => {
    const reg = { serviceName: "durable-svc", serviceAddress: "http://127.0.0.1:9/durable" };
    const first = await post("/register", JSON.stringify(reg));
    const again = await post("/register", JSON.stringify({ ...reg, version: "1.2.3" }));
    expect(again.headers.get("sb-instance-id")).toBe(first.headers.get("sb-instance-id"));
    const all = await fetch(`${base}/query?serviceName=durable-svc&all=true`);
    expect(await all.json()).toStrictEqual({
      serviceName: "durable-svc",
      instances: [{ id: first.headers.get("sb-instance-id"), serviceAddress: reg.serviceAddress, state: "up", status: "ok", version: "1.2.3", endpoints: [] }],
    });
    const del = await fetch(`${base}/register`, { method: "DELETE", body: JSON.stringify(reg), headers: { "Content-Type": "application/json" } });
    expect(del.status).toBe(200);
    expect(await del.json()).toStrictEqual({ status: "success" });
    // At once: the very next query no longer finds it.
    expect((await fetch(`${base}/query?serviceName=durable-svc`)).status).toBe(404);
    const gone = await fetch(`${base}/register`, { method: "DELETE", body: JSON.stringify(reg), headers: { "Content-Type": "application/json" } });
    expect(gone.status).toBe(404);
    // POST /deregister is the same.
    await post("/register", JSON.stringify(reg));
    expect((await post("/deregister", JSON.stringify(reg))).status).toBe(200);
    expect((await fetch(`${base}/query?serviceName=durable-svc`)).status).toBe(404);
  });

  it("publishes an OpenAPI document generated from the route schemas", async () => {
    const r = await fetch(`${base}/openapi.json`);
    expect(r.status).toBe(200);
    const doc = (await r.json()) as { openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>>; components: { schemas: Record<string, { properties?: Record<string, unknown> }> } };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/register", "/query", "/call", "/call/{service}/{endpoint}", "/services", "/health"]));
    expect(Object.keys(doc.paths["/register"]!).sort()).toEqual(["delete", "post"]);
    // The request body schema is the one in schemas/gateway-register.json.
    const schema = JSON.stringify(doc.paths["/register"]!.post!.requestBody!.content["application/json"]!.schema);
    expect(schema).toMatch(/gateway-register/);
    expect(Object.keys(doc.components.schemas["gateway-register"]!.properties!)).toEqual(expect.arrayContaining(["serviceName", "serviceAddress", "healthCheck", "endpoints", "ttl"]));
  });

  it("calls with the seed's POST /call body: service or services, endpoint, request, options", async () => {
    await waitFor(async () => (await fetch(`${base}/query?serviceName=echo`)).status === 200, { what: "echo registered" });
    const one = await post("/call", JSON.stringify({ service: "echo", endpoint: "echo", request: { n: 1 }, options: { idempotent: true, deadlineMs: 2000 } }));
    expect(one.status).toBe(200);
    expect(await one.json()).toStrictEqual({ echo: { n: 1 } });
    const among = await post("/call", JSON.stringify({ services: ["no-such-service", "echo"], endpoint: "echo", request: "hi" }));
    expect(among.status).toBe(200);
    expect(await among.json()).toStrictEqual({ echo: "hi" });
    const failed = await post("/call", JSON.stringify({ service: "echo", endpoint: "fail" }));
    expect(failed.status).toBe(500);
    expect(await failed.json()).toMatchObject({ status: "error", code: "INTERNAL" });
  });

  it("lists the whole registry on GET /services and reports health", async () => {
    await waitFor(async () => {
      const body = (await (await fetch(`${base}/services`)).json()) as { services: Record<string, unknown[]> };
      return body.services.echo?.length === 1 && body.services["example-service"]?.length === 1;
    }, { what: "both services listed" });
    const body = (await (await fetch(`${base}/services`)).json()) as { revision: number; services: Record<string, Array<{ state: string; address: string; instance: { id: string } }>> };
    expect(body.revision).toBeGreaterThan(0);
    expect(body.services.echo![0]!.instance.id).toBe(agent.id);
    expect(body.services.echo![0]!.state).toBe("up");
    expect(body.services.echo![0]!.address).toBe(`nats:${prefix}.inst.echo.${agent.id}`);
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok", nats: "connected", prefix });
  });

  it("makes balanced calls on POST /call/<service>/<endpoint> and maps service errors to HTTP statuses", async () => {
    await waitFor(async () => (await fetch(`${base}/query?serviceName=echo`)).status === 200, { what: "echo registered" });
    const ok = await post("/call/echo/echo", JSON.stringify({ hello: "world" }));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toStrictEqual({ echo: { hello: "world" } });

    const empty = await post("/call/echo/echo", "", {});
    expect(empty.status).toBe(200);
    // An empty HTTP body is forwarded as an empty NATS body: the handler sees no payload.
    expect(await empty.json()).toStrictEqual({ echo: "(no payload)" });

    const failed = await post("/call/echo/fail", "{}");
    expect(failed.status).toBe(500);
    expect(await failed.json()).toMatchObject({ status: "error", code: "INTERNAL", message: expect.stringContaining("broken on purpose") });
  });

  it("answers 400 with a reason for bad JSON and missing or invalid fields", async () => {
    const cases: Array<[string, string, RegExp]> = [
      ["/register", "{not json", /not valid JSON/],
      ["/register", "", /empty/],
      ["/register", "[1,2]", /body: \/ must be object/],
      ["/register", JSON.stringify({ serviceAddress: "http://x" }), /required property 'serviceName'/],
      ["/register", JSON.stringify({ serviceName: "svc" }), /required property 'serviceAddress'/],
      ["/register", JSON.stringify({ serviceName: "a.b", serviceAddress: "http://x" }), /\/serviceName must match pattern/],
      ["/register", JSON.stringify({ serviceName: "svc", serviceAddress: 42 }), /\/serviceAddress must be string/],
      ["/register", JSON.stringify({ serviceName: "svc", serviceAddress: "http://x", color: "red" }), /unknown property "color"/],
      ["/register", JSON.stringify({ serviceName: "svc", serviceAddress: "http://x", ttlMs: 5 }), /\/ttlMs must be >= 1000/],
      ["/register", JSON.stringify({ serviceName: "svc", serviceAddress: "ftp://x.example" }), /\/serviceAddress must match pattern/],
      ["/register", JSON.stringify({ serviceName: "svc", serviceAddress: "javascript:alert(1)" }), /\/serviceAddress must match pattern/],
      ["/register", JSON.stringify({ serviceName: "svc", serviceAddress: "http://user:pw@x.example" }), /\/serviceAddress must match pattern/],
      ["/register", JSON.stringify({ serviceName: "svc", serviceAddress: "http://x", ttl: "soon" }), /ttl: "soon" is not a duration/],
      ["/register", JSON.stringify({ serviceName: "svc", serviceAddress: "http://x", ttl: "1s", ttlMs: 1000 }), /one of ttl and ttlMs/],
      ["/register", JSON.stringify({ serviceName: "svc", serviceAddress: "http://x", healthCheck: { path: "health", intervalMs: 1000, timeoutMs: 100 } }), /healthCheck\/path must match/],
      ["/register", JSON.stringify({ serviceName: "svc", serviceAddress: "http://x", healthCheck: { path: "/h", intervalMs: 1, timeoutMs: 100 } }), /intervalMs must be >= 100/],
      ["/call/echo/echo", "{oops", /not valid JSON/],
      ["/call", JSON.stringify({ endpoint: "echo" }), /exactly one of service/],
      ["/call", JSON.stringify({ service: "echo" }), /required property 'endpoint'/],
      ["/call", JSON.stringify({ service: "echo", endpoint: "echo", options: { deadlineMs: 1e9 } }), /deadlineMs must be <= 600000/],
    ];
    for (const [path, body, reason] of cases) {
      const r = await post(path, body);
      expect(r.status, `${path} ${body}`).toBe(400);
      const json = (await r.json()) as { status: string; code: string; message: string };
      expect(json.status).toBe("error");
      expect(json.code).toBe("BAD_REQUEST");
      expect(json.message, body).toMatch(reason);
    }
    const noParam = await fetch(`${base}/query`);
    expect(noParam.status).toBe(400);
    expect(((await noParam.json()) as { message: string }).message).toMatch(/querystring: \/ must have required property 'serviceName'/);
    const badName = await fetch(`${base}/query?serviceName=${encodeURIComponent("a b")}`);
    expect(badName.status).toBe(400);
  });

  it("answers 404 for an unknown service, endpoint or route, and 405 for a wrong method", async () => {
    const unknown = await fetch(`${base}/query?serviceName=no-such-service`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ status: "error", code: "NOT_FOUND", message: "unknown service no-such-service" });

    const call = await post("/call/no-such-service/echo", "{}");
    expect(call.status).toBe(404);
    expect(((await call.json()) as { code: string }).code).toBe("NOT_FOUND");

    const route = await fetch(`${base}/nope`);
    expect(route.status).toBe(404);

    const method = await fetch(`${base}/register`);
    expect(method.status).toBe(405);
    expect(method.headers.get("allow")).toBe("DELETE, POST");
  });

  it("refuses bodies above the size limit with 413, declared or streamed", async () => {
    const big = JSON.stringify({ serviceName: "svc", serviceAddress: "x".repeat(MAX_BODY) });
    const declared = await post("/register", big);
    expect(declared.status).toBe(413);
    expect(((await declared.json()) as { message: string }).message).toMatch(new RegExp(`${MAX_BODY}-byte limit`));

    // Chunked upload without Content-Length: counted as it arrives.
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${base}/call/echo/echo`, { method: "POST", headers: { "Content-Type": "application/json" } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      for (let i = 0; i < 8; i++) req.write("x".repeat(1024));
      req.end();
    });
    expect(status).toBe(413);

    // The gateway still serves normal requests afterwards.
    expect((await fetch(`${base}/health`)).status).toBe(200);
  });
});
