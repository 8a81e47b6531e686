/**
 * Answers the NATS micro discovery protocol (`$SRV.PING|INFO|STATS[.<name>[.<id>]]`), so standard
 * NATS tooling (`nats micro ls`, any micro client) sees Switchboard instances.
 *
 * Why not `@nats-io/services`: its service object owns the instance id and wraps every handler, while
 * an agent's id is the Switchboard instance id and its hot path adds deadline checks and load shedding.
 * The discovery part of the protocol is three small JSON documents, written here.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { encodeJson, type ReplyGuard } from "../protocol/index.js";
import type { Endpoint } from "./EndpointServer.js";

/** What discovery reports about the instance. */
export interface MicroIdentity {
  name: string;
  id: string;
  version: string;
  description: string;
  metadata: Record<string, string>;
  started: Date;
  /** Subject each endpoint is served on (the queue-group subject) and its queue group. */
  endpointSubject(endpoint: string): string;
  queueGroup: string;
  endpoints(): Iterable<Endpoint>;
}

const VERBS = ["PING", "INFO", "STATS"] as const;
type Verb = (typeof VERBS)[number];

/** Subscribes the nine discovery subjects; returns the subscriptions so the agent can drain them. */
export function serveMicroDiscovery(nc: NatsConnection, replies: ReplyGuard, who: MicroIdentity): Subscription[] {
  const subs: Subscription[] = [];
  for (const verb of VERBS) {
    for (const subject of [`$SRV.${verb}`, `$SRV.${verb}.${who.name}`, `$SRV.${verb}.${who.name}.${who.id}`]) {
      subs.push(
        nc.subscribe(subject, {
          callback: (err, msg) => {
            if (err || !msg.reply || replies.refuses(msg)) return;
            replies.respond(msg, encodeJson(describe(verb, who)));
          },
        }),
      );
    }
  }
  return subs;
}

function describe(verb: Verb, who: MicroIdentity): Record<string, unknown> {
  const base = { name: who.name, id: who.id, version: who.version, metadata: who.metadata };
  let body: Record<string, unknown>;
  if (verb === "PING") {
    body = { type: "io.nats.micro.v1.ping_response", ...base };
  } else if (verb === "INFO") {
    body = {
      type: "io.nats.micro.v1.info_response",
      ...base,
      description: who.description,
      endpoints: [...who.endpoints()].map((ep) => ({
        name: ep.name,
        subject: who.endpointSubject(ep.name),
        queue_group: who.queueGroup,
        // The body codec, so micro tooling shows how to talk to the endpoint.
        metadata: { ...ep.metadata, codec: ep.codec.name },
      })),
    };
  } else {
    body = {
      type: "io.nats.micro.v1.stats_response",
      ...base,
      started: who.started.toISOString(),
      endpoints: [...who.endpoints()].map((ep) => ({
        name: ep.name,
        subject: who.endpointSubject(ep.name),
        queue_group: who.queueGroup,
        num_requests: ep.stats.numRequests,
        num_errors: ep.stats.numErrors,
        last_error: ep.stats.lastError,
        processing_time: ep.stats.processingNs,
        average_processing_time: ep.stats.numRequests ? Math.round(ep.stats.processingNs / ep.stats.numRequests) : 0,
      })),
    };
  }
  return body;
}
