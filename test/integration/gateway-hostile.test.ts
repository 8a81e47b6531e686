/**
 * The gateway's trust boundary (issue 10): malformed paths and request targets get 400 and no log
 * spam, prototype-named services are listed and queried like any other, bearer-token auth refuses
 * what it must, and TLS serves only HTTPS. Real nats-server, real coordinator, raw sockets.
 */
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { readFileSync } from "node:fs";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCoordinator, type Coordinator } from "../../src/coordinator/index.js";
import { createGateway, type Gateway } from "../../src/gateway/index.js";
import { generateTestCertificates, type TestCertificates } from "../helpers/certs.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { uniquePrefix } from "../helpers/wait.js";

/** Sends raw bytes and returns the whole answer (the connection is closed by the request). */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    let out = "";
    s.setEncoding("utf8");
    s.on("data", (d: string) => (out += d));
    s.on("close", () => resolve(out));
    s.on("error", reject);
    s.write(text);
  });
}
const statusOf = (answer: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)) as { status: string; code: string; message: string };

const TOKEN = "s3cret-token-0123456789";

describe("gateway hostile input", () => {
  let server: NatsServer;
  let coordinator: Coordinator;
  let gateway: Gateway;
  let secured: Gateway;
  let certs: TestCertificates;
  const logLines: Array<{ level: number; msg: string }> = [];
  const prefix = uniquePrefix();

  beforeAll(async () => {
    server = await startNatsServer();
    coordinator = await createCoordinator({ servers: server.url, prefix }).start();
    const logger = pino({ level: "debug" }, { write: (line: string) => void logLines.push(JSON.parse(line)) });
    gateway = await createGateway({ servers: server.url, prefix, port: 0, timeoutMs: 3000, logger }).start();
    certs = generateTestCertificates();
    secured = await createGateway({
      servers: server.url,
      prefix,
      port: 0,
      authTokens: [TOKEN],
      https: { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) },
    }).start();
  });

  afterAll(async () => {
    await secured?.stop();
    await gateway?.stop();
    await coordinator?.stop();
    await server?.dispose();
    certs?.dispose();
  });

  it("answers 400 to malformed percent-encoding and malformed absolute request targets, logging nothing per request", async () => {
    const targets = [
      "/%E0%A4%A",
      "/query?serviceName=%E0%A4%A",
      "/call/%ZZ/echo",
      "/call/echo/%",
      "http://[::1/query",
      "http://%zz/register",
    ];
    const before = logLines.filter((l) => l.level >= 40).length;
    for (let round = 0; round < 20; round++) {
      for (const target of targets) {
        const answer = await raw(gateway.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        expect(statusOf(answer), target).toBe(400);
        expect(bodyOf(answer)).toMatchObject({ status: "error", code: "BAD_REQUEST" });
      }
    }
    // 120 malformed requests: not one warning or error line (and certainly no stack trace).
    expect(logLines.filter((l) => l.level >= 40).length).toBe(before);
    // A well-formed absolute target is served.
    expect(statusOf(await raw(gateway.port, `GET http://x/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`))).toBe(200);
  });

  it("lists and queries services named after every Object.prototype property (GET /services answers 200)", async () => {
    const names = Object.getOwnPropertyNames(Object.prototype).filter((n) => /^[A-Za-z0-9_-]{1,64}$/.test(n));
    expect(names).toEqual(expect.arrayContaining(["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"]));
    for (const name of names) {
      const r = await fetch(`${gateway.url}/register`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ serviceName: name, serviceAddress: `http://127.0.0.1:9/${name}` }),
      });
      expect(r.status, name).toBe(200);
    }
    const services = await fetch(`${gateway.url}/services`);
    expect(services.status).toBe(200);
    const text = await services.text();
    const listed = JSON.parse(text, (k, v) => v) as { services: object };
    // Own keys of the parsed object (JSON.parse defines "__proto__" as an own property too).
    expect(Object.keys(listed.services).sort()).toEqual([...names].sort());
    for (const name of names) {
      const q = await fetch(`${gateway.url}/query?serviceName=${encodeURIComponent(name)}`);
      expect(q.status, name).toBe(200);
      expect(await q.json()).toStrictEqual({ serviceName: name, serviceAddress: `http://127.0.0.1:9/${name}` });
    }
  });

  it("with bearer tokens: 401 without or with a wrong token, served with the right one; /health stays public", async () => {
    const get = (path: string, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; body: string; headers: Record<string, unknown> }>((resolve, reject) => {
        const req = httpsRequest(`${secured.url}${path}`, { ca: readFileSync(certs.caFile), headers }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        });
        req.on("error", reject);
        req.end();
      });
    const none = await get("/services");
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toBe("Bearer");
    expect(JSON.parse(none.body)).toMatchObject({ status: "error", code: "UNAUTHORIZED", message: expect.stringMatching(/missing Authorization header/) });
    const wrong = await get("/services", { Authorization: "Bearer not-the-token-at-all" });
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.body)).toMatchObject({ code: "UNAUTHORIZED", message: "invalid bearer token" });
    const basic = await get("/services", { Authorization: `Basic ${Buffer.from(`a:${TOKEN}`).toString("base64")}` });
    expect(basic.status).toBe(401);
    // Unknown routes are not revealed to the unauthenticated either.
    expect((await get("/no-such-route")).status).toBe(401);
    const right = await get("/services", { Authorization: `Bearer ${TOKEN}` });
    expect(right.status).toBe(200);
    expect((await get("/health")).status).toBe(200);
    expect(JSON.parse((await get("/openapi.json", { Authorization: `Bearer ${TOKEN}` })).body).components.securitySchemes.bearer).toStrictEqual({
      type: "http",
      scheme: "bearer",
    });
  });

  it("with TLS: serves HTTPS with the configured certificate and nothing in plain HTTP", async () => {
    expect(secured.url).toMatch(/^https:\/\//);
    // A client that does not trust the CA refuses the certificate.
    await expect(fetch(`${secured.url}/health`)).rejects.toThrow();
    // Plain HTTP on the TLS port gets no HTTP answer.
    const answer = await raw(secured.port, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").catch(() => "");
    expect(answer.startsWith("HTTP/1.1 200")).toBe(false);
  });
});
