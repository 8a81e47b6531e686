/**
 * The console's HTTP surface on fastify: the built page (hashed assets cached for a year, the page
 * itself revalidated), the JSON API with request and response schemas from `schemas/` (checked by
 * the project's validators: a reply that does not match its schema is a 500, never sent), the
 * Server-Sent Events stream, and the acknowledgement that goes over NATS to the notifiers.
 */
import fastifyStatic from "@fastify/static";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { errors, type NatsConnection } from "@nats-io/transport-node";
import {
  decodeMessage,
  describeErrors,
  encodeJson,
  isToken,
  readErrorReply,
  validatorFor,
  type AlertAck,
  type AlertAckReply,
  type ConsoleAckRequest,
  type ConsoleError,
  type ConsoleLogin,
  type ConsoleServiceReply,
  type ConsoleSession,
  type ConsoleSnapshot,
  type Logger,
  type Subjects,
} from "../protocol/index.js";
import { SESSION_COOKIE, TokenCheck } from "./auth.js";
import type { ConsoleState } from "./ConsoleState.js";
import type { UpdateHub } from "./UpdateHub.js";

/** What the routes use. */
export interface ConsoleAppDeps {
  nc: NatsConnection;
  subjects: Subjects;
  state: ConsoleState;
  hub: UpdateHub;
  tokens: TokenCheck;
  snapshot: (service: string | undefined) => ConsoleSnapshot;
  ackBy: string;
  requestTimeoutMs: number;
  webRoot: string | undefined;
  log: Logger;
}

const FINGERPRINT = /^[0-9a-f]{16}$/;

/** The schema file a route schema `{ $ref: "<file>.json#" }` names. */
function schemaKind(schema: unknown): string {
  const ref = (schema as { $ref?: unknown }).$ref;
  const m = typeof ref === "string" ? /^([a-z0-9-]+)\.json#?$/.exec(ref) : null;
  if (!m) throw new Error(`console routes use $ref schemas from schemas/ only, got ${JSON.stringify(schema)}`);
  return m[1]!;
}

const errorBody = (code: string, message: string): ConsoleError => ({ error: { code, message: message.slice(0, 2048) } });

/** Builds the app (not listening yet). */
export function buildConsoleApp(d: ConsoleAppDeps): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024, maxParamLength: 200, return503OnClosing: true });

  // Request bodies: the project's validators (strict, no coercion, nothing silently removed).
  app.setValidatorCompiler(({ schema }) => {
    const validate = validatorFor(schemaKind(schema));
    return (data: unknown) => (validate(data) ? { value: data } : { error: new Error(describeErrors(validate.errors)) });
  });
  // Responses: validated against their schema before they are sent.
  app.setSerializerCompiler(({ schema }) => {
    const kind = schemaKind(schema);
    const validate = validatorFor(kind);
    return (data: unknown) => {
      if (!validate(data)) {
        d.log.error({ kind, error: describeErrors(validate.errors) }, "console reply does not match its schema");
        throw new Error(`reply does not match ${kind}.json`);
      }
      return JSON.stringify(data);
    };
  });
  app.setErrorHandler((err: { statusCode?: number; validation?: unknown; message: string; code?: string }, _req, reply) => {
    const status = err.validation ? 400 : err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) d.log.error({ err: err.message }, "console request failed");
    const code = status === 400 ? "BAD_REQUEST" : status === 413 ? "PAYLOAD_TOO_LARGE" : status === 415 ? "UNSUPPORTED_MEDIA_TYPE" : status >= 500 ? "INTERNAL" : "BAD_REQUEST";
    void reply
      .code(status)
      .type("application/json")
      .serializer((v: unknown) => JSON.stringify(v))
      .send(errorBody(code, status >= 500 ? "internal error" : err.message));
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).type("application/json").serializer(JSON.stringify).send(errorBody("NOT_FOUND", `no route ${req.method} ${req.url.slice(0, 200)}`));
  });

  app.addHook("onSend", async (_req, reply, payload) => {
    reply.header("x-content-type-options", "nosniff");
    reply.header("referrer-policy", "no-referrer");
    reply.header("x-frame-options", "DENY");
    reply.header("content-security-policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'");
    return payload;
  });

  const authorized = (req: FastifyRequest) => d.tokens.valid(TokenCheck.presented(req.headers.authorization, req.headers.cookie));
  const deny = (reply: FastifyReply) =>
    reply.code(401).header("www-authenticate", 'Bearer realm="switchboard-console"').serializer(JSON.stringify).send(errorBody("UNAUTHORIZED", "a valid bearer token is required"));
  app.addHook("onRequest", async (req, reply) => {
    if (!req.url.startsWith("/api/") || req.url.startsWith("/api/session")) return;
    if (!authorized(req)) return deny(reply);
  });

  const serviceParam = (raw: unknown): string | undefined => {
    if (raw === undefined) return undefined;
    if (typeof raw !== "string" || !isToken(raw)) throw Object.assign(new Error("service must be a name of letters, digits, _ and - (1-64)"), { statusCode: 400 });
    return raw;
  };

  app.get("/health", async () => ({ ok: true }));

  app.get("/api/session", { schema: { response: { 200: { $ref: "console-session.json#" } } } }, async (req): Promise<ConsoleSession> => ({
    authRequired: d.tokens.required,
    authenticated: authorized(req),
  }));
  app.post<{ Body: ConsoleLogin }>(
    "/api/session",
    { schema: { body: { $ref: "console-login.json#" }, response: { 200: { $ref: "console-session.json#" } } } },
    async (req, reply): Promise<ConsoleSession | void> => {
      if (!d.tokens.valid(req.body.token)) return deny(reply);
      if (d.tokens.required) reply.header("set-cookie", `${SESSION_COOKIE}=${encodeURIComponent(req.body.token)}; Path=/api; HttpOnly; SameSite=Strict`);
      return { authRequired: d.tokens.required, authenticated: true };
    },
  );
  app.delete("/api/session", { schema: { response: { 200: { $ref: "console-session.json#" } } } }, async (_req, reply): Promise<ConsoleSession> => {
    reply.header("set-cookie", `${SESSION_COOKIE}=; Path=/api; HttpOnly; SameSite=Strict; Max-Age=0`);
    return { authRequired: d.tokens.required, authenticated: !d.tokens.required };
  });

  app.get<{ Querystring: { service?: string } }>("/api/snapshot", { schema: { response: { 200: { $ref: "console-snapshot.json#" } } } }, async (req) =>
    d.snapshot(serviceParam(req.query.service)),
  );

  app.get<{ Params: { service: string } }>(
    "/api/services/:service",
    { schema: { response: { 200: { $ref: "console-service.json#" } } } },
    async (req, reply): Promise<ConsoleServiceReply | void> => {
      const service = serviceParam(req.params.service)!;
      const detail = d.state.detail(service);
      if (!detail) return reply.code(404).serializer(JSON.stringify).send(errorBody("NOT_FOUND", `no service ${service} in the registry or the collector`));
      return { v: 1, at: Date.now(), detail };
    },
  );

  app.get<{ Querystring: { service?: string } }>("/api/stream", async (req, reply) => {
    const service = serviceParam(req.query.service);
    reply.hijack();
    if (!d.hub.open(reply.raw, service)) {
      reply.raw.writeHead(503, { "content-type": "application/json" });
      reply.raw.end(JSON.stringify(errorBody("UNAVAILABLE", "too many live streams")));
    }
  });

  app.post<{ Params: { fingerprint: string }; Body: ConsoleAckRequest }>(
    "/api/alerts/:fingerprint/ack",
    { schema: { body: { $ref: "console-ack.json#" }, response: { 200: { $ref: "alert-ack-reply.json#" } } } },
    async (req, reply): Promise<AlertAckReply | void> => {
      const fp = req.params.fingerprint;
      if (!FINGERPRINT.test(fp)) return reply.code(400).serializer(JSON.stringify).send(errorBody("BAD_REQUEST", "fingerprint must be 16 lower-case hex digits"));
      const ack: AlertAck = { v: 1, fingerprint: fp, by: req.body.by ?? d.ackBy, until: Date.now() + req.body.durationMs };
      if (req.body.comment !== undefined) ack.comment = req.body.comment;
      const fail = (status: number, code: string, message: string) => reply.code(status).serializer(JSON.stringify).send(errorBody(code, message));
      let msg;
      try {
        msg = await d.nc.request(d.subjects.alertAck, encodeJson(ack), { timeout: d.requestTimeoutMs });
      } catch (err) {
        if (err instanceof errors.RequestError && err.isNoResponders()) return fail(503, "NO_NOTIFIER", `no notifier answers on ${d.subjects.alertAck}: the acknowledgement was not stored`);
        if (err instanceof errors.TimeoutError) return fail(504, "TIMEOUT", "no notifier confirmed the acknowledgement in time");
        throw err;
      }
      const refused = readErrorReply(msg);
      if (refused) return fail(502, "REFUSED", `notifier refused the acknowledgement: ${refused.code}: ${refused.message}`);
      const decoded = decodeMessage("alert-ack-reply", msg.data);
      if (!decoded.ok) return fail(502, "BAD_REPLY", `unusable reply from the notifier: ${decoded.error}`);
      return decoded.value;
    },
  );

  if (d.webRoot) {
    void app.register(fastifyStatic, {
      root: d.webRoot,
      prefix: "/",
      index: ["index.html"],
      cacheControl: false,
      etag: true,
      lastModified: true,
      setHeaders: (res, path) => {
        // Hashed file names change with their content: cache them for good; the page itself is revalidated.
        res.header("cache-control", /-[A-Z0-9]{8}\.(js|css)$/.test(path) ? "public, max-age=31536000, immutable" : "no-cache");
      },
    });
  } else {
    app.get("/", async (_req, reply) =>
      reply.code(503).type("text/plain; charset=utf-8").serializer(String).send("The console page is not built: run `npm run build`.\n"),
    );
  }
  return app;
}
