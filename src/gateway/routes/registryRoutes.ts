/**
 * The registry routes: the seed's `POST /register` and `GET /query`, their natural additions
 * (`DELETE /register`, `POST /deregister`, `GET /query?all=true`), and `GET /services`.
 */
import type { FastifyInstance, FastifyReply } from "fastify";
import { registrationId } from "../../coordinator/index.js";
import { parseDuration } from "../../protocol/index.js";
import {
  ErrorCode,
  encodeJson,
  type GatewayDeregisterBody,
  type GatewayQueryParams,
  type GatewayRegisterBody,
  type InstanceView,
  type Leave,
  type Register,
} from "../../protocol/index.js";
import { registryFailure, type GatewayContext } from "../context.js";
import { HttpError } from "../HttpError.js";
import { addressOf, pickInstance } from "../pickInstance.js";
import { requestRegister, requestSnapshot } from "../RegistryRequests.js";
import { ref, replies } from "./schemaRefs.js";

const MIN_TTL_MS = 1000;
const MAX_TTL_MS = 86_400_000;
/** How often DELETE /register looks whether the coordinators dropped the registration. */
const DEREGISTER_POLL_MS = 20;

/** The seed's success answer. */
const SUCCESS = { status: "success" } as const;

function ttlOf(body: GatewayRegisterBody): number | undefined {
  if (body.ttl !== undefined && body.ttlMs !== undefined) throw new HttpError(400, ErrorCode.BAD_REQUEST, "give one of ttl and ttlMs, not both");
  if (body.ttl === undefined) return body.ttlMs;
  let ms: number;
  try {
    ms = parseDuration(body.ttl);
  } catch (err) {
    throw new HttpError(400, ErrorCode.BAD_REQUEST, `ttl: ${(err as Error).message}`);
  }
  if (ms < MIN_TTL_MS || ms > MAX_TTL_MS) throw new HttpError(400, ErrorCode.BAD_REQUEST, "ttl must be between 1s and 24h");
  return ms;
}

/** Registers the registry routes on `app`. */
export function registryRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  const snapshotOf = async (service?: string) => {
    try {
      return await requestSnapshot(ctx.nats(), ctx.subjects, service === undefined ? {} : { service }, ctx.timeoutMs);
    } catch (err) {
      throw registryFailure(err);
    }
  };

  app.post<{ Body: GatewayRegisterBody }>(
    "/register",
    { schema: { summary: "Register an HTTP service instance (the seed's register)", body: ref("gateway-register"), response: replies("gateway-status") } },
    async (req, reply) => {
      const b = req.body;
      const ttlMs = ttlOf(b);
      if (ttlMs !== undefined && b.healthCheck !== undefined) {
        throw new HttpError(400, ErrorCode.BAD_REQUEST, "give ttl or healthCheck, not both: a health-checked registration lives while its checks pass");
      }
      const registration: Omit<Register, "v"> = { serviceName: b.serviceName, serviceAddress: b.serviceAddress };
      const ttl = ttlMs ?? (b.healthCheck === undefined ? ctx.registerTtlMs : undefined);
      if (ttl !== undefined) registration.ttlMs = ttl;
      if (b.version !== undefined) registration.version = b.version;
      if (b.metadata !== undefined) registration.metadata = b.metadata;
      if (b.tags !== undefined) registration.tags = b.tags;
      if (b.endpoints !== undefined) registration.endpoints = b.endpoints;
      if (b.weight !== undefined) registration.weight = b.weight;
      if (b.healthCheck !== undefined) registration.healthCheck = b.healthCheck;
      let answer;
      try {
        answer = await requestRegister(ctx.nats(), ctx.subjects, registration, ctx.timeoutMs);
      } catch (err) {
        throw registryFailure(err);
      }
      // The seed's reply is exactly {"status":"success"}; the assigned id travels in a header.
      void reply.header("Sb-Instance-Id", answer.id);
      return SUCCESS;
    },
  );

  const deregister = async (body: GatewayDeregisterBody, reply: FastifyReply) => {
    const id = registrationId(body.serviceName, body.serviceAddress);
    const known = (await snapshotOf(body.serviceName)).instances.find((v) => v.instance.id === id && v.state !== "removed");
    if (!known) throw new HttpError(404, ErrorCode.NOT_FOUND, `no registration of ${body.serviceName} at ${body.serviceAddress}`);
    // Every coordinator removes an instance at once on a leave on its own subject.
    const leave: Leave = { v: 1, service: body.serviceName, id, reason: "deregistered over HTTP" };
    const nc = ctx.nats();
    nc.publish(ctx.subjects.leave(body.serviceName, id), encodeJson(leave));
    await nc.flush();
    const until = Date.now() + ctx.timeoutMs;
    for (;;) {
      const still = (await snapshotOf(body.serviceName)).instances.some((v) => v.instance.id === id && v.state !== "removed");
      if (!still) break;
      if (Date.now() >= until) throw new HttpError(504, ErrorCode.TIMEOUT, `the coordinators did not confirm the removal within ${ctx.timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, DEREGISTER_POLL_MS));
    }
    void reply.header("Sb-Instance-Id", id);
    return SUCCESS;
  };
  const deregisterSchema = { body: ref("gateway-deregister"), response: replies("gateway-status") };
  app.delete<{ Body: GatewayDeregisterBody }>("/register", { schema: { summary: "Remove a registration at once", ...deregisterSchema } }, (req, reply) =>
    deregister(req.body, reply),
  );
  app.post<{ Body: GatewayDeregisterBody }>("/deregister", { schema: { summary: "Remove a registration at once (the same as DELETE /register)", ...deregisterSchema } }, (req, reply) =>
    deregister(req.body, reply),
  );

  app.get<{ Querystring: GatewayQueryParams }>(
    "/query",
    { schema: { summary: "One balanced instance of a service (the seed's query), or all of them with all=true", querystring: ref("gateway-query"), response: replies("gateway-query-reply") } },
    async (req) => {
      const { serviceName } = req.query;
      const all = req.query.all === "true" || req.query.all === "1";
      const known = (await snapshotOf(serviceName)).instances.filter((i) => i.instance.service === serviceName && i.state !== "removed");
      if (known.length === 0) throw new HttpError(404, ErrorCode.NOT_FOUND, `unknown service ${serviceName}`);
      const prefix = ctx.subjects.prefix;
      if (all) {
        return {
          serviceName,
          instances: known.map((v: InstanceView) => ({
            id: v.instance.id,
            serviceAddress: addressOf(v, prefix),
            state: v.state,
            status: v.status,
            version: v.instance.version,
            endpoints: v.instance.endpoints,
          })),
        };
      }
      const chosen = pickInstance(known, ctx.turn());
      if (!chosen) throw new HttpError(503, ErrorCode.UNAVAILABLE, `service ${serviceName} has no live instance (${known.map((i) => i.state).join(", ")})`);
      return { serviceName, serviceAddress: addressOf(chosen, prefix) };
    },
  );

  app.get("/services", { schema: { summary: "The whole registry, grouped by service" } }, async () => {
    const snapshot = await snapshotOf();
    // Service names come from the wire: a Map, never a plain object indexed by them (`constructor`, `__proto__`).
    const byService = new Map<string, unknown[]>();
    for (const view of snapshot.instances) {
      let list = byService.get(view.instance.service);
      if (!list) byService.set(view.instance.service, (list = []));
      list.push({ ...view, address: addressOf(view, ctx.subjects.prefix) });
    }
    // Object.fromEntries defines own properties: "__proto__" becomes a key, not a prototype.
    return { revision: snapshot.revision, coordinator: snapshot.coordinator, at: snapshot.at, services: Object.fromEntries(byService) };
  });
}
