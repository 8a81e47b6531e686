/**
 * The seed's monitoring routes. `POST /metrics`: an HTTP service's metrics become a metric snapshot of
 * its registered instance on `<prefix>.metrics.<service>.<instance>`, so collectors expose them and
 * evaluate rules on them like an agent's. `POST /alerts`: a hand-raised alert goes on the durable alert
 * stream (deduplicated by `Nats-Msg-Id`), so the mail notifier sends it exactly once; `resolve` closes it.
 * The start of a firing alert is kept in a KV bucket, so raising it twice (from any gateway) is one
 * alert and resolving it names the same transition.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { FastifyInstance } from "fastify";
import { registrationId } from "../../coordinator/index.js";
import { alertFingerprint, alertMsgId, ensureAlertStream, prefixName } from "../../monitor/index.js";
import {
  ErrorCode,
  describeErrors,
  encodeJson,
  validatorFor,
  type AlertEvent,
  type GatewayAlertBody,
  type GatewayMetricsBody,
  type MetricsSnapshot,
} from "../../protocol/index.js";
import { registryFailure, type GatewayContext } from "../context.js";
import { HttpError } from "../HttpError.js";
import { requestSnapshot } from "../RegistryRequests.js";
import { ref, replies } from "./schemaRefs.js";

const DEFAULT_PUSH_INTERVAL_MS = 15_000;
const SUCCESS = { status: "success" } as const;

/** Name of the bucket holding the start of hand-raised alerts that fire. */
export function manualAlertBucket(prefix: string): string {
  return `${prefixName(prefix)}_manual_alerts`;
}

/** Registers `POST /metrics` and `POST /alerts` on `app`. */
export function monitorRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  /** Per instance: the last seq sent (seqs are epoch ms, so several gateways and restarts keep them rising). */
  const lastSeq = new Map<string, number>();

  app.post<{ Body: GatewayMetricsBody }>(
    "/metrics",
    { schema: { summary: "Push an HTTP service's metrics into the collectors' pipeline (the seed's metrics)", body: ref("gateway-metrics"), response: replies("gateway-status") } },
    async (req) => {
      const b = req.body;
      if ((b.serviceAddress === undefined) === (b.instance === undefined)) {
        throw new HttpError(400, ErrorCode.BAD_REQUEST, "give exactly one of serviceAddress (a registration) and instance (an id)");
      }
      const id = b.instance ?? registrationId(b.serviceName, b.serviceAddress!);
      let snapshot;
      try {
        snapshot = await requestSnapshot(ctx.nats(), ctx.subjects, { service: b.serviceName }, ctx.timeoutMs);
      } catch (err) {
        throw registryFailure(err);
      }
      // Only a registered instance may push: nobody can invent series for another service.
      const view = snapshot.instances.find((v) => v.instance.id === id && v.state !== "removed");
      if (!view) throw new HttpError(404, ErrorCode.NOT_FOUND, `no registered instance ${id} of ${b.serviceName}: register it first (POST /register)`);
      const now = Date.now();
      const key = `${b.serviceName}\u0000${id}`;
      const seq = Math.max((lastSeq.get(key) ?? 0) + 1, now);
      lastSeq.set(key, seq);
      const snap: MetricsSnapshot = {
        v: 1,
        service: b.serviceName,
        id,
        seq,
        sentAt: now,
        startedAt: Math.min(view.instance.startedAt, now),
        intervalMs: b.intervalMs ?? DEFAULT_PUSH_INTERVAL_MS,
        endpoints: [],
        counters: [],
        gauges: [],
        histograms: [],
      };
      for (const m of b.metrics) {
        const common = { name: m.name, ...(m.help !== undefined ? { help: m.help } : {}), ...(m.labels !== undefined ? { labels: m.labels } : {}) };
        if (m.type === "histogram") {
          if (!m.bounds || !m.counts || m.sum === undefined || m.count === undefined) {
            throw new HttpError(400, ErrorCode.BAD_REQUEST, `histogram ${m.name} needs bounds, counts, sum and count`);
          }
          snap.histograms!.push({ ...common, bounds: m.bounds, counts: m.counts, sum: m.sum, count: m.count });
        } else {
          if (m.value === undefined) throw new HttpError(400, ErrorCode.BAD_REQUEST, `${m.type} ${m.name} needs a value`);
          (m.type === "counter" ? snap.counters! : snap.gauges!).push({ ...common, value: m.value });
        }
      }
      const validate = validatorFor("metrics");
      if (!validate(snap)) throw new HttpError(400, ErrorCode.BAD_REQUEST, `metrics: ${describeErrors(validate.errors)}`);
      const nc = ctx.nats();
      nc.publish(ctx.subjects.metrics(b.serviceName, id), encodeJson(snap));
      await nc.flush();
      return SUCCESS;
    },
  );

  let alertState: Promise<KV> | undefined;
  const stateBucket = () =>
    (alertState ??= (async () => {
      const nc = ctx.nats();
      await ensureAlertStream(await jetstreamManager(nc), ctx.subjects);
      return new Kvm(nc).create(manualAlertBucket(ctx.subjects.prefix), { history: 1 });
    })().catch((err: unknown) => {
      alertState = undefined;
      throw new HttpError(503, ErrorCode.UNAVAILABLE, `alert stream unavailable (JetStream): ${(err as Error).message}`);
    }));

  app.post<{ Body: GatewayAlertBody }>(
    "/alerts",
    { schema: { summary: "Raise (or resolve) an alert by hand; mailed exactly once (the seed's alerts)", body: ref("gateway-alert"), response: replies("gateway-status") } },
    async (req) => {
      const a = req.body.alert;
      const severity = a.severity ?? "warning";
      // Label keys come from the wire: a Map, then own properties only.
      const labels = new Map<string, string>(Object.entries(a.labels ?? {}));
      labels.set("alertname", a.name);
      labels.set("service", a.service);
      labels.set("severity", severity);
      if (a.instance !== undefined) labels.set("instance", a.instance);
      const labelObject = Object.fromEntries(labels);
      const fingerprint = alertFingerprint(labelObject);
      const kv = await stateBucket();
      const now = Date.now();
      const stored = await kv.get(fingerprint);
      const firingSince = stored && stored.operation === "PUT" ? Number(stored.string()) : undefined;
      const resolving = req.body.resolve === true;
      if (resolving && firingSince === undefined) throw new HttpError(404, ErrorCode.NOT_FOUND, `alert ${a.name} for ${a.service} is not firing`);
      const startsAt = firingSince ?? now;
      const annotations = new Map<string, string>();
      if (a.summary !== undefined) annotations.set("summary", a.summary);
      if (a.description !== undefined) annotations.set("description", a.description);
      if (req.body.email && req.body.email.length > 0) annotations.set("email", req.body.email.join(", "));
      const ev: AlertEvent = {
        v: 1,
        fingerprint,
        status: resolving ? "resolved" : "firing",
        rule: a.name,
        service: a.service,
        severity,
        metric: "manual",
        labels: labelObject,
        annotations: Object.fromEntries(annotations),
        activeAt: startsAt,
        startsAt,
        generator: "gateway",
      };
      if (a.instance !== undefined) ev.instance = a.instance;
      if (resolving) ev.endsAt = now;
      const validate = validatorFor("alert");
      if (!validate(ev)) throw new HttpError(400, ErrorCode.BAD_REQUEST, `alert: ${describeErrors(validate.errors)}`);
      // Remember the start before publishing: a retried POST reuses it, so the stream deduplicates it.
      if (!resolving && firingSince === undefined) await kv.put(fingerprint, String(startsAt));
      await jetstream(ctx.nats()).publish(ctx.subjects.alert(severity, a.service), encodeJson(ev), { msgID: alertMsgId(ev), timeout: ctx.timeoutMs });
      if (resolving) await kv.delete(fingerprint);
      return SUCCESS;
    },
  );
}
