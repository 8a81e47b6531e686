/**
 * The seed-compatible HTTP gateway on fastify: the seed's six routes (`/register`, `/query`, `/call`,
 * `/metrics`, `/alerts`, `/failures`) and their additions, all answered over NATS, with route schemas
 * from `schemas/`, `/openapi.json`, optional bearer-token auth and TLS. See docs/GATEWAY.md.
 */
import type { AddressInfo } from "node:net";
import type { NatsConnection } from "@nats-io/transport-node";
import type { FastifyInstance } from "fastify";
import { createHttpBridge, type HttpBridge } from "../bridge/index.js";
import { createClient } from "../client/index.js";
import { ErrorCode, Subjects, createLogger, openNats } from "../protocol/index.js";
import { buildGatewayApp } from "./app.js";
import { clientCaller } from "./clientCaller.js";
import type { GatewayContext } from "./context.js";
import { HttpError } from "./HttpError.js";
import { callRoutes } from "./routes/callRoutes.js";
import { failureRoutes } from "./routes/failureRoutes.js";
import { monitorRoutes } from "./routes/monitorRoutes.js";
import { registryRoutes } from "./routes/registryRoutes.js";
import type { Gateway, GatewayCaller, GatewayOptions } from "./types.js";

const DEFAULT_PORT = 3000;
const DEFAULT_HOST = "127.0.0.1";
const DEFAULT_MAX_BODY = 256 * 1024;
const DEFAULT_TIMEOUT_MS = 5000;

/** Creates the HTTP gateway; call `start()` to listen. */
export function createGateway(opts: GatewayOptions): Gateway {
  const log = opts.logger ?? createLogger("gateway");
  const subjects = new Subjects(opts.prefix);
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const scheme = opts.https ? "https" : "http";
  let nc: NatsConnection | undefined;
  let owned = false;
  let caller: GatewayCaller | undefined;
  let bridge: HttpBridge | undefined;
  let app: FastifyInstance | undefined;
  let boundPort = 0;
  let boundHost = opts.host ?? DEFAULT_HOST;
  let turn = 0;

  const ctx: GatewayContext = {
    subjects,
    timeoutMs,
    registerTtlMs: opts.registerTtlMs,
    log,
    nats() {
      if (!nc || nc.isClosed()) throw new HttpError(503, ErrorCode.UNAVAILABLE, "gateway is not connected to NATS");
      return nc;
    },
    caller() {
      if (!caller) throw new HttpError(503, ErrorCode.UNAVAILABLE, "gateway is not started");
      return caller;
    },
    turn: () => turn++,
  };

  const routes = (a: FastifyInstance) => {
    a.get("/health", { config: { public: true }, schema: { summary: "Gateway liveness and its NATS connection" } }, async (_req, reply) => {
      const connected = nc !== undefined && !nc.isClosed() && !!nc.info;
      const status = nc?.isClosed() ? "closed" : connected ? "connected" : "disconnected";
      void reply.code(connected ? 200 : 503);
      return { status: connected ? "ok" : "unavailable", nats: status, server: nc?.getServer() ?? null, prefix: subjects.prefix };
    });
    registryRoutes(a, ctx);
    callRoutes(a, ctx);
    monitorRoutes(a, ctx);
    failureRoutes(a, ctx);
  };

  return {
    get port() {
      return boundPort;
    },
    get url() {
      const host = boundHost === "0.0.0.0" || boundHost === "::" ? "127.0.0.1" : boundHost;
      return `${scheme}://${host.includes(":") ? `[${host}]` : host}:${boundPort}`;
    },
    async start() {
      if (app) return this;
      const opened = await openNats(opts);
      nc = opened.nc;
      owned = opened.owned;
      try {
        caller = opts.caller ?? clientCaller(await createClient({ nats: nc, prefix: subjects.prefix }).start(), opts.strategy ? { strategy: opts.strategy } : {});
        if (opts.bridge !== false) bridge = await createHttpBridge({ nats: nc, prefix: subjects.prefix, logger: log }).start();
        const built = await buildGatewayApp({ maxBodyBytes: maxBody, authTokens: opts.authTokens, tls: opts.https, log, routes });
        try {
          await built.listen({ port: opts.port ?? DEFAULT_PORT, host: boundHost });
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          await built.close();
          if (code === "EADDRINUSE") throw new Error(`port ${opts.port ?? DEFAULT_PORT} on ${boundHost} is already in use: choose another with --port`);
          if (code === "EACCES") throw new Error(`no permission to listen on port ${opts.port ?? DEFAULT_PORT}: use a port above 1023`);
          throw err;
        }
        app = built;
      } catch (err) {
        await bridge?.stop();
        bridge = undefined;
        await caller?.close?.();
        caller = undefined;
        if (owned) await nc?.close();
        nc = undefined;
        throw err;
      }
      const addr = app.server.address() as AddressInfo;
      boundPort = addr.port;
      boundHost = addr.address;
      log.info({ url: this.url, prefix: subjects.prefix, auth: (opts.authTokens?.length ?? 0) > 0 }, "gateway listening");
      return this;
    },
    async stop() {
      const a = app;
      app = undefined;
      await a?.close();
      await bridge?.stop();
      bridge = undefined;
      await caller?.close?.();
      caller = undefined;
      if (owned && nc && !nc.isClosed()) await nc.drain().catch(() => nc?.close());
      nc = undefined;
    },
  };
}
