/**
 * The seed-compatible HTTP gateway: `POST /register` and `GET /query` exactly as the seed defines
 * them, plus `GET /services`, `GET /health` and `POST /call/<service>/<endpoint>`, all answered over
 * NATS (registry requests and balanced calls).
 *
 * Built on `node:http` rather than a framework: five routes need no router, and owning the body
 * reader gives exact control over size limits (413 before buffering) with no extra dependency.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  ErrorCode,
  Subjects,
  createLogger,
  isToken,
  openNats,
  statusForCode,
  validatorFor,
  describeErrors,
  type Register,
} from "../protocol/index.js";
import { HttpError } from "./HttpError.js";
import { addressOf, pickInstance } from "./pickInstance.js";
import { parseJsonBody, readBody } from "./readBody.js";
import { RegistryRequestError, RegistryUnavailableError, requestRegister, requestSnapshot } from "./RegistryRequests.js";
import type { Gateway, GatewayCaller, GatewayOptions } from "./types.js";
import { createClient } from "../client/index.js";
import { clientCaller } from "./clientCaller.js";

const DEFAULT_PORT = 3000;
const DEFAULT_HOST = "127.0.0.1";
const DEFAULT_MAX_BODY = 256 * 1024;
const DEFAULT_TIMEOUT_MS = 5000;
const MAX_TIMEOUT_MS = 600_000;
/** Fields `POST /register` accepts: the seed's two, plus the optional ones of the register message. */
const REGISTER_FIELDS = new Set(["serviceName", "serviceAddress", "ttlMs", "version", "metadata", "tags"]);

/** Creates the HTTP gateway; call `start()` to listen. */
export function createGateway(opts: GatewayOptions): Gateway {
  const log = createLogger("gateway");
  const subjects = new Subjects(opts.prefix);
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let nc: NatsConnection | undefined;
  let owned = false;
  let caller: GatewayCaller | undefined;
  let server: Server | undefined;
  let boundPort = 0;
  let boundHost = opts.host ?? DEFAULT_HOST;
  let turn = 0;

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    if (res.headersSent) return;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": Buffer.byteLength(text),
      "Cache-Control": "no-store",
      ...headers,
    });
    res.end(text);
  };

  const sendError = (res: ServerResponse, e: HttpError) =>
    send(res, e.status, { status: "error", code: e.code, message: e.message }, e.headers);

  /** Maps registry failures to HTTP: no coordinator → 503, a coordinator's error reply → its status. */
  const registryFailure = (err: unknown): HttpError => {
    if (err instanceof RegistryUnavailableError) {
      return new HttpError(err.reason === "timeout" ? 504 : 503, err.reason === "timeout" ? ErrorCode.TIMEOUT : ErrorCode.UNAVAILABLE, err.message);
    }
    if (err instanceof RegistryRequestError) return new HttpError(statusForCode(err.code), err.code, err.message);
    return new HttpError(502, "BAD_GATEWAY", `registry request failed: ${(err as Error).message}`);
  };

  const requireNats = (): NatsConnection => {
    if (!nc || nc.isClosed()) throw new HttpError(503, ErrorCode.UNAVAILABLE, "gateway is not connected to NATS");
    return nc;
  };

  const timeoutParam = (url: URL): number => {
    const raw = url.searchParams.get("timeoutMs");
    if (raw === null) return timeoutMs;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > MAX_TIMEOUT_MS) {
      throw new HttpError(400, ErrorCode.BAD_REQUEST, `timeoutMs must be an integer between 1 and ${MAX_TIMEOUT_MS}`);
    }
    return n;
  };

  async function register(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = parseJsonBody(await readBody(req, maxBody), true);
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new HttpError(400, ErrorCode.BAD_REQUEST, "request body must be a JSON object {\"serviceName\", \"serviceAddress\"}");
    }
    const fields = body as Record<string, unknown>;
    for (const name of ["serviceName", "serviceAddress"]) {
      if (fields[name] === undefined || fields[name] === null || fields[name] === "") {
        throw new HttpError(400, ErrorCode.BAD_REQUEST, `missing field ${name}`);
      }
      if (typeof fields[name] !== "string") throw new HttpError(400, ErrorCode.BAD_REQUEST, `field ${name} must be a string`);
    }
    for (const key of Object.keys(fields)) {
      if (!REGISTER_FIELDS.has(key)) throw new HttpError(400, ErrorCode.BAD_REQUEST, `unknown field ${key}`);
    }
    if (!isToken(fields.serviceName)) {
      throw new HttpError(400, ErrorCode.BAD_REQUEST, "serviceName must be 1-64 letters, digits, '_' or '-' (it becomes a NATS subject token)");
    }
    const registration = { ...fields } as Omit<Register, "v">;
    if (registration.ttlMs === undefined && opts.registerTtlMs !== undefined) registration.ttlMs = opts.registerTtlMs;
    const validate = validatorFor("register");
    if (!validate({ v: 1, ...registration })) {
      throw new HttpError(400, ErrorCode.BAD_REQUEST, `invalid registration: ${describeErrors(validate.errors)}`);
    }
    let reply;
    try {
      reply = await requestRegister(requireNats(), subjects, registration, timeoutMs);
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw registryFailure(err);
    }
    // The seed's reply is exactly {"status":"success"}; the assigned id travels in a header.
    send(res, 200, { status: "success" }, { "Sb-Instance-Id": reply.id });
  }

  async function query(url: URL, res: ServerResponse): Promise<void> {
    const serviceName = url.searchParams.get("serviceName");
    if (!serviceName) throw new HttpError(400, ErrorCode.BAD_REQUEST, "missing query parameter serviceName");
    if (!isToken(serviceName)) {
      throw new HttpError(400, ErrorCode.BAD_REQUEST, "serviceName must be 1-64 letters, digits, '_' or '-'");
    }
    let snapshot;
    try {
      snapshot = await requestSnapshot(requireNats(), subjects, { service: serviceName }, timeoutMs);
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw registryFailure(err);
    }
    const known = snapshot.instances.filter((i) => i.instance.service === serviceName && i.state !== "removed");
    if (known.length === 0) throw new HttpError(404, ErrorCode.NOT_FOUND, `unknown service ${serviceName}`);
    const chosen = pickInstance(known, turn++);
    if (!chosen) {
      throw new HttpError(503, ErrorCode.UNAVAILABLE, `service ${serviceName} has no live instance (${known.map((i) => i.state).join(", ")})`);
    }
    send(res, 200, { serviceName, serviceAddress: addressOf(chosen, subjects.prefix) });
  }

  async function services(res: ServerResponse): Promise<void> {
    let snapshot;
    try {
      snapshot = await requestSnapshot(requireNats(), subjects, {}, timeoutMs);
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw registryFailure(err);
    }
    const byService: Record<string, unknown[]> = {};
    for (const view of snapshot.instances) {
      (byService[view.instance.service] ??= []).push({ ...view, address: addressOf(view, subjects.prefix) });
    }
    send(res, 200, { revision: snapshot.revision, coordinator: snapshot.coordinator, at: snapshot.at, services: byService });
  }

  function health(res: ServerResponse): void {
    const connected = nc !== undefined && !nc.isClosed() && !!nc.info;
    const status = nc?.isClosed() ? "closed" : connected ? "connected" : "disconnected";
    send(res, connected ? 200 : 503, { status: connected ? "ok" : "unavailable", nats: status, server: nc?.getServer() ?? null, prefix: subjects.prefix });
  }

  async function call(req: IncomingMessage, url: URL, service: string, endpoint: string, res: ServerResponse): Promise<void> {
    if (!isToken(service)) throw new HttpError(400, ErrorCode.BAD_REQUEST, `invalid service name ${JSON.stringify(service)}`);
    if (!isToken(endpoint)) throw new HttpError(400, ErrorCode.BAD_REQUEST, `invalid endpoint name ${JSON.stringify(endpoint)}`);
    const payload = parseJsonBody(await readBody(req, maxBody), false);
    const budget = timeoutParam(url);
    requireNats();
    if (!caller) throw new HttpError(503, ErrorCode.UNAVAILABLE, "gateway is not started");
    const key = url.searchParams.get("key") ?? undefined;
    try {
      const reply = await caller.call(service, endpoint, payload, key === undefined ? { timeoutMs: budget } : { timeoutMs: budget, key });
      send(res, 200, reply ?? null);
    } catch (err) {
      const code = typeof (err as { code?: unknown }).code === "string" ? (err as { code: string }).code : ErrorCode.INTERNAL;
      const message = err instanceof Error ? err.message : String(err);
      throw new HttpError(statusForCode(code), code, message);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://gateway");
    const method = req.method ?? "GET";
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const only = (allowed: string) => {
      if (method !== allowed && !(allowed === "GET" && method === "HEAD")) {
        throw new HttpError(405, "METHOD_NOT_ALLOWED", `${method} is not allowed on ${path}; use ${allowed}`, { Allow: allowed });
      }
    };
    if (path === "/register") {
      only("POST");
      return register(req, res);
    }
    if (path === "/query") {
      only("GET");
      return query(url, res);
    }
    if (path === "/services") {
      only("GET");
      return services(res);
    }
    if (path === "/health") {
      only("GET");
      return health(res);
    }
    const m = /^\/call\/([^/]+)\/([^/]+)$/.exec(path);
    if (m) {
      only("POST");
      return call(req, url, decodeURIComponent(m[1]!), decodeURIComponent(m[2]!), res);
    }
    throw new HttpError(404, ErrorCode.NOT_FOUND, `no route ${method} ${path} (routes: POST /register, GET /query, GET /services, GET /health, POST /call/<service>/<endpoint>)`);
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const started = Date.now();
    handle(req, res)
      .catch((err: unknown) => {
        if (err instanceof HttpError) {
          sendError(res, err);
          return;
        }
        log.error({ err }, "gateway request failed");
        sendError(res, new HttpError(500, ErrorCode.INTERNAL, "internal gateway error"));
      })
      .finally(() => log.debug({ method: req.method, url: req.url, status: res.statusCode, ms: Date.now() - started }, "request"));
  };

  return {
    get port() {
      return boundPort;
    },
    get url() {
      const host = boundHost === "0.0.0.0" || boundHost === "::" ? "127.0.0.1" : boundHost;
      return `http://${host.includes(":") ? `[${host}]` : host}:${boundPort}`;
    },
    async start() {
      if (server) return this;
      const opened = await openNats(opts);
      nc = opened.nc;
      owned = opened.owned;
      caller = opts.caller ?? clientCaller(await createClient({ nats: nc, prefix: subjects.prefix }).start());
      const srv = createServer({ requestTimeout: 60_000, headersTimeout: 15_000, maxHeaderSize: 16 * 1024 }, onRequest);
      srv.keepAliveTimeout = 5_000;
      await new Promise<void>((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException) => {
          srv.off("listening", onListening);
          reject(
            err.code === "EADDRINUSE"
              ? new Error(`port ${opts.port ?? DEFAULT_PORT} on ${boundHost} is already in use: choose another with --port`)
              : err.code === "EACCES"
                ? new Error(`no permission to listen on port ${opts.port ?? DEFAULT_PORT}: use a port above 1023`)
                : err,
          );
        };
        const onListening = () => {
          srv.off("error", onError);
          resolve();
        };
        srv.once("error", onError);
        srv.once("listening", onListening);
        srv.listen(opts.port ?? DEFAULT_PORT, boundHost);
      }).catch(async (err) => {
        await caller?.close?.();
        caller = undefined;
        if (owned) await nc?.close();
        throw err;
      });
      const addr = srv.address() as AddressInfo;
      boundPort = addr.port;
      boundHost = addr.address;
      server = srv;
      log.info({ url: this.url, prefix: subjects.prefix }, "gateway listening");
      return this;
    },
    async stop() {
      const srv = server;
      server = undefined;
      if (srv) {
        await new Promise<void>((resolve) => {
          srv.close(() => resolve());
          srv.closeAllConnections();
        });
      }
      await caller?.close?.();
      caller = undefined;
      if (owned && nc && !nc.isClosed()) await nc.drain().catch(() => nc?.close());
      nc = undefined;
    },
  };
}
