/** `POST /failures`: the seed's failure route (probe, then the seed's retry schedule), see failureRetry.ts. */
import type { FastifyInstance } from "fastify";
import type { GatewayFailuresBody } from "../../protocol/index.js";
import type { GatewayContext } from "../context.js";
import { runFailureProcedure } from "../failureRetry.js";
import { ref, replies } from "./schemaRefs.js";

/** The seed's detection timeout. */
const PROBE_TIMEOUT_MS = 5000;
const DEFAULT_DEADLINE_MS = 30_000;

/** Registers `POST /failures` on `app`. */
export function failureRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  app.post<{ Body: GatewayFailuresBody }>(
    "/failures",
    {
      schema: {
        summary: "Probe a service and, if it fails, retry with the seed's schedule (5 attempts, min(n × 1 s, 5 s), jittered) within a deadline",
        body: ref("gateway-failures"),
        response: { ...replies("gateway-failures-reply"), 502: ref("gateway-failures-reply") },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const caller = ctx.caller();
      const outcome = await runFailureProcedure({
        // One attempt each: the schedule is the seed's, not the client's.
        attempt: (timeoutMs) => caller.call(b.service, b.endpoint, b.request, { deadlineMs: timeoutMs, timeoutMs, maxAttempts: 1 }),
        probeTimeoutMs: b.probeTimeoutMs ?? PROBE_TIMEOUT_MS,
        deadlineMs: b.deadlineMs ?? DEFAULT_DEADLINE_MS,
        now: Date.now,
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
        random: Math.random,
      });
      void reply.code(outcome.status === "success" ? 200 : 502);
      return outcome;
    },
  );
}
