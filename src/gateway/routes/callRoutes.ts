/**
 * The call routes: the seed's `POST /call {service | services, endpoint, request, options}` and
 * `POST /call/<service>/<endpoint>` (the body is the payload, options in the query string). Both go
 * through the balanced client, so NATS agents and HTTP-registered instances (through the bridge)
 * are chosen alike, with the same retries, deadline and circuit breakers.
 */
import type { FastifyInstance } from "fastify";
import { ErrorCode, type GatewayCallBody, type GatewayCallQuery } from "../../protocol/index.js";
import { callFailure, type GatewayContext } from "../context.js";
import { HttpError } from "../HttpError.js";
import type { GatewayCallOptions } from "../types.js";
import { ref } from "./schemaRefs.js";

const pathParams = {
  type: "object",
  additionalProperties: false,
  required: ["service", "endpoint"],
  properties: { service: { $ref: "common.json#/definitions/token" }, endpoint: { $ref: "common.json#/definitions/token" } },
} as const;

type CallOptionFields = NonNullable<GatewayCallBody["options"]>;

/** Registers the call routes on `app`. */
export function callRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  const optionsOf = (o: CallOptionFields | undefined): GatewayCallOptions => {
    const opts: GatewayCallOptions = { deadlineMs: o?.deadlineMs ?? ctx.timeoutMs };
    if (o?.timeoutMs !== undefined) opts.timeoutMs = o.timeoutMs;
    if (o?.key !== undefined) opts.key = o.key;
    if (o?.idempotent !== undefined) opts.idempotent = o.idempotent;
    if (o?.strategy !== undefined) opts.strategy = o.strategy;
    if (o?.version !== undefined) opts.version = o.version;
    if (o?.tags !== undefined) opts.tags = o.tags;
    if (o?.zone !== undefined) opts.zone = o.zone;
    return opts;
  };

  /**
   * Request headers passed on to the call: W3C trace context and `Sb-*` headers (traffic-policy
   * overrides such as `Sb-Canary: 1`), except `Sb-Deadline`, which the call sets itself. At most 16,
   * values of at most 1 KiB without control characters.
   */
  const forwarded = (h: Record<string, string | string[] | undefined>): Record<string, string> | undefined => {
    let out: Record<string, string> | undefined;
    let n = 0;
    for (const [name, raw] of Object.entries(h)) {
      const lower = name.toLowerCase();
      if (!(lower === "traceparent" || lower === "tracestate" || (lower.startsWith("sb-") && lower !== "sb-deadline"))) continue;
      const value = Array.isArray(raw) ? raw[0] : raw;
      if (value === undefined || value.length > 1024 || /[\u0000-\u001f\u007f]/.test(value) || !/^[A-Za-z0-9-]{1,64}$/.test(name)) continue;
      if (++n > 16) break;
      (out ??= Object.create(null) as Record<string, string>)[lower] = value;
    }
    return out;
  };

  const call = async (service: string, endpoint: string, payload: unknown, opts: GatewayCallOptions) => {
    try {
      // The reply as the service gave it (the seed's res.json(response)); null for an empty reply.
      return (await ctx.caller().call(service, endpoint, payload, opts)) ?? null;
    } catch (err) {
      throw callFailure(err);
    }
  };

  app.post<{ Body: GatewayCallBody }>(
    "/call",
    { schema: { summary: "Call a service (the seed's call): balanced, retried, deadline-bounded", body: ref("gateway-call"), response: { "4xx": ref("gateway-error"), "5xx": ref("gateway-error") } } },
    async (req) => {
      const b = req.body;
      if ((b.service === undefined) === (b.services === undefined)) {
        throw new HttpError(400, ErrorCode.BAD_REQUEST, "give exactly one of service (a name) and services (candidate names)");
      }
      let service = b.service;
      if (service === undefined) {
        const candidates = b.services!;
        const live = ctx.caller().liveServices?.(candidates) ?? candidates;
        // The seed's registry.select(services): one of the candidates with a live instance, in turn.
        const pool = live.length > 0 ? live : candidates;
        service = pool[ctx.turn() % pool.length]!;
      }
      const opts = optionsOf(b.options);
      const headers = forwarded(req.headers);
      if (headers) opts.headers = headers;
      return call(service, b.endpoint, b.request, opts);
    },
  );

  app.post<{ Params: { service: string; endpoint: string }; Querystring: GatewayCallQuery; Body: unknown }>(
    "/call/:service/:endpoint",
    {
      schema: {
        summary: "Call <endpoint> of <service> with the request body as payload; options in the query string",
        params: pathParams,
        querystring: ref("gateway-call-query"),
        response: { "4xx": ref("gateway-error"), "5xx": ref("gateway-error") },
      },
    },
    async (req) => {
      const q = req.query;
      const o: CallOptionFields = {};
      if (q.idempotent !== undefined) o.idempotent = q.idempotent === "true" || q.idempotent === "1";
      if (q.strategy !== undefined) o.strategy = q.strategy;
      if (q.key !== undefined) o.key = q.key;
      if (q.timeoutMs !== undefined) o.timeoutMs = Number(q.timeoutMs);
      if (q.deadlineMs !== undefined) o.deadlineMs = Number(q.deadlineMs);
      for (const k of ["timeoutMs", "deadlineMs"] as const) {
        if (o[k] !== undefined && o[k] > 600_000) throw new HttpError(400, ErrorCode.BAD_REQUEST, `${k} must be at most 600000`);
      }
      if (q.version !== undefined) o.version = q.version;
      if (q.tags !== undefined) o.tags = q.tags.split(",").map((t) => t.trim()).filter(Boolean);
      if (q.zone !== undefined) o.zone = q.zone;
      const opts = optionsOf(o);
      const headers = forwarded(req.headers);
      if (headers) opts.headers = headers;
      return call(req.params.service, req.params.endpoint, req.body, opts);
    },
  );
}
