/**
 * The gateway's fastify application: shared schemas from `schemas/` validated by our ajv, JSON
 * bodies only (415 otherwise), a body limit (413), every failure as `{status:"error", code, message}`
 * with a 4xx/5xx status, 405 with `Allow` for a known path, optional bearer-token auth, and the
 * OpenAPI document generated from the route schemas at `/openapi.json`.
 */
import bearerAuth from "@fastify/bearer-auth";
import swagger from "@fastify/swagger";
import secureJson from "secure-json-parse";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { ErrorCode, compileSchema, describeErrors, schemaDocuments, validatorFor, type Logger } from "../protocol/index.js";
import { HttpError } from "./HttpError.js";
import type { GatewayTlsOptions } from "./types.js";

/** Options of {@link buildGatewayApp}. */
export interface GatewayAppOptions {
  maxBodyBytes: number;
  authTokens?: readonly string[] | undefined;
  tls?: GatewayTlsOptions | undefined;
  log: Logger;
  /** Registers the routes (called once the schemas, hooks and handlers are in place). */
  routes(app: FastifyInstance): void;
}

const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"] as const;
/** Quiet period of the unexpected-failure log: a burst of 500s is one line with a count. */
const ERROR_LOG_BURST_MS = 10_000;

declare module "fastify" {
  interface FastifyContextConfig {
    /** Served without a bearer token (health probes). */
    public?: boolean;
  }
}

/** Maps anything a route or fastify threw to the HTTP error the client gets. */
function httpErrorOf(err: FastifyError | HttpError | Error, maxBodyBytes: number): HttpError | undefined {
  if (err instanceof HttpError) return err;
  const e = err as FastifyError & { validationContext?: string };
  if (e.validation) return new HttpError(400, ErrorCode.BAD_REQUEST, `${e.validationContext ?? "request"}: ${describeErrors(e.validation as never)}`);
  switch (e.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new HttpError(413, "PAYLOAD_TOO_LARGE", `request body exceeds the ${maxBodyBytes}-byte limit`, { Connection: "close" });
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new HttpError(415, "UNSUPPORTED_MEDIA_TYPE", `unsupported Content-Type: send the body as application/json`);
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new HttpError(400, ErrorCode.BAD_REQUEST, "request body is empty: send a JSON value");
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new HttpError(400, ErrorCode.BAD_REQUEST, `request body is not valid JSON: ${e.message}`);
    case "FST_BEARER_AUTH_MISSING_AUTHORIZATION_HEADER":
      return new HttpError(401, "UNAUTHORIZED", "missing Authorization header: send Authorization: Bearer <token>", { "WWW-Authenticate": "Bearer" });
    case "FST_BEARER_AUTH_INVALID_AUTHORIZATION_HEADER":
      return new HttpError(401, "UNAUTHORIZED", "invalid bearer token", { "WWW-Authenticate": 'Bearer error="invalid_token"' });
  }
  if (err instanceof SyntaxError) return new HttpError(400, ErrorCode.BAD_REQUEST, `request body is not valid JSON: ${err.message}`);
  if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    return new HttpError(e.statusCode, ErrorCode.BAD_REQUEST, e.message.slice(0, 300));
  }
  return undefined;
}

function sendError(reply: FastifyReply, e: HttpError): FastifyReply {
  return reply.code(e.status).headers(e.headers).send({ status: "error", code: e.code, message: e.message });
}

/** Builds the application (not listening). */
export async function buildGatewayApp(opts: GatewayAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: opts.maxBodyBytes,
    ...(opts.tls ? { https: { key: opts.tls.key, cert: opts.tls.cert, ...(opts.tls.ca ? { ca: opts.tls.ca } : {}) } } : {}),
    requestTimeout: 60_000,
    keepAliveTimeout: 5_000,
    forceCloseConnections: true,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 128 },
    // A malformed path (bad percent-encoding) is the client's fault: 400, not a stack trace.
    frameworkErrors: (error: FastifyError, _req: FastifyRequest, reply: FastifyReply) => {
      void sendError(reply, new HttpError(400, ErrorCode.BAD_REQUEST, error.code === "FST_ERR_BAD_URL" ? "malformed request path (bad percent-encoding)" : error.message));
    },
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  // Validation by the project's ajv (the same compiled validators as the NATS side); serialization is plain JSON.
  app.setValidatorCompiler(({ schema }) => {
    const $ref = (schema as { $ref?: unknown }).$ref;
    const named = typeof $ref === "string" ? /^([a-z0-9-]+)\.json#?$/.exec($ref) : null;
    if (named) return validatorFor(named[1]!);
    return compileSchema(schema);
  });
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  for (const doc of schemaDocuments()) app.addSchema(doc as never);

  // JSON only: any other Content-Type with a body is 415 with a reason (an empty body is no payload, whatever its type).
  // JSON is parsed by secure-json-parse (as fastify does) but with its reason in the 400: "__proto__"
  // and constructor.prototype keys are refused, not silently dropped.
  app.removeContentTypeParser(["text/plain", "application/json"]);
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, body, done) => {
    if ((body as string).length === 0) return done(new HttpError(400, ErrorCode.BAD_REQUEST, "request body is empty: send a JSON value"), undefined);
    try {
      done(null, secureJson.parse(body as string, undefined, { protoAction: "error", constructorAction: "error" }));
    } catch (err) {
      done(new HttpError(400, ErrorCode.BAD_REQUEST, `request body is not valid JSON: ${(err as Error).message.slice(0, 200)}`), undefined);
    }
  });
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => {
    if ((body as Buffer).length === 0) return done(null, undefined);
    done(new HttpError(415, "UNSUPPORTED_MEDIA_TYPE", "unsupported Content-Type: send the body as application/json"), undefined);
  });

  let lastErrorLogAt = 0;
  let suppressed = 0;
  app.setErrorHandler((err, req, reply) => {
    const known = httpErrorOf(err as Error, opts.maxBodyBytes);
    if (known) return sendError(reply, known);
    const now = Date.now();
    if (now - lastErrorLogAt >= ERROR_LOG_BURST_MS) {
      opts.log.error({ err, method: req.method, route: req.routeOptions.url, suppressedSinceLastError: suppressed }, "gateway request failed");
      lastErrorLogAt = now;
      suppressed = 0;
    } else suppressed++;
    return sendError(reply, new HttpError(500, ErrorCode.INTERNAL, "internal gateway error"));
  });
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new HttpError(404, ErrorCode.NOT_FOUND, `no route ${req.method} ${req.url.split("?")[0]!.slice(0, 200)} (see GET /openapi.json)`)),
  );
  app.addHook("onSend", (_req, reply, payload, done) => {
    void reply.header("Cache-Control", "no-store");
    done(null, payload);
  });

  if (opts.authTokens && opts.authTokens.length > 0) {
    await app.register(bearerAuth, { keys: [...opts.authTokens], addHook: false, verifyErrorLogLevel: undefined as never });
    const verify = app.verifyBearerAuth!;
    app.addHook("onRequest", (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
      if (req.routeOptions.config?.public === true) return done();
      verify(req, reply, done);
    });
  }

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Switchboard gateway",
        version: "1",
        description: "The seed's six routes (register, query, call, metrics, alerts, failures) and their additions, served over NATS by Switchboard.",
      },
      ...(opts.authTokens && opts.authTokens.length > 0
        ? { components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } }, security: [{ bearer: [] }] }
        : {}),
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String((json as { $id?: unknown }).$id ?? `def-${i}`).replace(/\.json$/, "") },
  });

  // Known paths answer other methods with 405 and Allow instead of 404.
  const methodsByPath = new Map<string, Set<string>>();
  app.addHook("onRoute", (route) => {
    if (route.schema?.hide) return;
    let set = methodsByPath.get(route.url);
    if (!set) methodsByPath.set(route.url, (set = new Set()));
    for (const m of Array.isArray(route.method) ? route.method : [route.method]) if (m !== "HEAD") set.add(m);
  });

  opts.routes(app);
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  for (const [url, allowed] of methodsByPath) {
    const others = METHODS.filter((m) => !allowed.has(m) && !(m === "GET" && url === "/openapi.json"));
    if (others.length === 0) continue;
    const allow = [...allowed].sort().join(", ");
    app.route({
      method: others,
      url,
      schema: { hide: true },
      handler: async (req) => {
        throw new HttpError(405, "METHOD_NOT_ALLOWED", `${req.method} is not allowed on ${url}; use ${allow}`, { Allow: allow });
      },
    });
  }
  return app;
}
