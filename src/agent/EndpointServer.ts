/**
 * Serves the requests of one instance's endpoints: deadline check, load shedding, JSON decoding,
 * handler invocation and the reply (value or error in the NATS micro convention). Nothing a handler
 * or a caller does can throw out of here: every answer goes through the {@link ReplyGuard} (a request
 * whose reply subject the policy refuses is dropped before the handler runs; a reply above the
 * server's `max_payload` becomes `PAYLOAD_TOO_LARGE`), and a handler's throw or rejection becomes an
 * error reply.
 */
import type { Msg } from "@nats-io/transport-node";
import {
  ServiceError,
  decodeJson,
  encodeJson,
  type Logger,
  type ReplyGuard,
} from "../protocol/index.js";
import { endRequestTrace, startRequestTrace, withContext, type RequestTrace } from "../tracing/callTracing.js";
import { readDeadlineHeader, readTraceHeaders } from "./deadlineHeader.js";
import type { EndpointOptions, Handler, RequestContext, RequestObservation } from "./types.js";

/** Counters kept per endpoint, as the NATS micro `$SRV.STATS` response reports them. */
export interface EndpointStats {
  numRequests: number;
  numErrors: number;
  /** Total processing time in nanoseconds. */
  processingNs: number;
  lastError: string;
  /** Requests dropped because their deadline had passed before they were handled. */
  expired: number;
  /** Requests answered OVERLOADED because maxInFlight was reached. */
  shed: number;
}

/** One served endpoint. */
export interface Endpoint {
  readonly name: string;
  readonly handler: Handler;
  readonly maxInFlight: number;
  readonly metadata: Record<string, string>;
  inFlight: number;
  readonly stats: EndpointStats;
}

const EMPTY = new Uint8Array(0);

class Context implements RequestContext {
  private controller: AbortSignal | undefined;
  constructor(
    readonly service: string,
    readonly instanceId: string,
    readonly endpoint: string,
    readonly subject: string,
    private readonly msg: Msg,
    readonly deadline: number | undefined,
    readonly traceparent: string | undefined,
  ) {}
  /** Decoded on first use only: decoding headers costs more than serving a small request. */
  get headers(): Msg["headers"] {
    return this.msg.headers;
  }
  remainingMs(): number {
    return this.deadline === undefined ? Infinity : this.deadline - Date.now();
  }
  get signal(): AbortSignal {
    if (!this.controller) {
      const left = this.remainingMs();
      this.controller = left === Infinity ? new AbortController().signal : AbortSignal.timeout(Math.max(0, left));
    }
    return this.controller;
  }
}

/** Dispatches requests to endpoint handlers for one agent. */
export class EndpointServer {
  readonly endpoints = new Map<string, Endpoint>();
  /** Requests being handled across all endpoints (the instance's load, sent in heartbeats). */
  inFlight = 0;
  /** Set while stopping: new requests are refused as UNAVAILABLE (retryable) so callers go elsewhere. */
  draining = false;
  private readonly observers: Array<(o: RequestObservation) => void> = [];
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly service: string,
    private readonly instanceId: string,
    private readonly defaultMaxInFlight: number,
    private readonly log: Logger,
    private readonly replies: ReplyGuard,
  ) {}

  /** Adds an endpoint; its name must already be validated as a subject token. */
  add(name: string, handler: Handler, opts: EndpointOptions = {}): Endpoint {
    const ep: Endpoint = {
      name,
      handler,
      maxInFlight: opts.maxInFlight ?? this.defaultMaxInFlight,
      metadata: opts.metadata ?? {},
      inFlight: 0,
      stats: { numRequests: 0, numErrors: 0, processingNs: 0, lastError: "", expired: 0, shed: 0 },
    };
    this.endpoints.set(name, ep);
    return ep;
  }

  /** Registers an observer called after every handled request. */
  onRequest(observer: (o: RequestObservation) => void): void {
    this.observers.push(observer);
  }

  /** Resolves when no request is in flight, or after `timeoutMs`. */
  idle(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** Handles one request for endpoint `name`. Never throws. */
  handle(msg: Msg, name: string): void {
    try {
      this.dispatch(msg, name);
    } catch (err) {
      // Unreachable by design (handlers and replies are guarded); kept so nothing reaches the NATS reader.
      this.log.error({ err, endpoint: name }, "request dispatch failed");
    }
  }

  private dispatch(msg: Msg, name: string): void {
    // Refused before any work: the requester chose a subject this instance must never publish on.
    if (this.replies.refuses(msg)) return;
    const ep = this.endpoints.get(name);
    if (!ep) {
      this.replies.respondError(msg, "NOT_FOUND", `service ${this.service} has no endpoint ${JSON.stringify(name)}`);
      return;
    }
    let deadline: number | undefined;
    const d = readDeadlineHeader(msg);
    if (d) {
      deadline = Number(d);
      // The caller has already given up: any work now is wasted, and a reply would be dropped.
      if (Number.isFinite(deadline) && deadline <= Date.now()) {
        ep.stats.expired++;
        return;
      }
      if (!Number.isFinite(deadline)) deadline = undefined;
    }
    if (this.draining) {
      this.replies.respondError(msg, "UNAVAILABLE", `instance ${this.instanceId} is shutting down`, true);
      return;
    }
    if (ep.inFlight >= ep.maxInFlight) {
      ep.stats.shed++;
      this.finish(ep, 0, "OVERLOADED", `endpoint ${name} is at its limit of ${ep.maxInFlight} concurrent requests`);
      this.replies.respondError(msg, "OVERLOADED", `endpoint ${name} of instance ${this.instanceId} is at its limit of ${ep.maxInFlight} concurrent requests`, true);
      return;
    }
    let payload: unknown;
    try {
      payload = decodeJson(msg.data);
    } catch {
      this.finish(ep, 0, "BAD_REQUEST", "request body is not valid JSON");
      this.replies.respondError(msg, "BAD_REQUEST", "request body is not valid JSON");
      return;
    }

    const started = performance.now();
    ep.inFlight++;
    this.inFlight++;
    const th = readTraceHeaders(msg);
    const rt = startRequestTrace(this.service, name, this.instanceId, th.traceparent, th.tracestate);
    const ctx = new Context(this.service, this.instanceId, name, msg.subject, msg, deadline, th.traceparent);
    let result: unknown;
    try {
      // The handler runs with the request's span active, so its own calls continue the trace
      // (when the application installed an OpenTelemetry context manager).
      result = withContext(rt.ctx, () => ep.handler(payload, ctx));
    } catch (err) {
      this.fail(msg, ep, started, err, true, rt);
      return;
    }
    if (result !== null && typeof result === "object" && typeof (result as PromiseLike<unknown>).then === "function") {
      (result as PromiseLike<unknown>).then(
        (value) => this.succeed(msg, ep, started, value, rt),
        (err) => this.fail(msg, ep, started, err, true, rt),
      );
    } else {
      this.succeed(msg, ep, started, result, rt);
    }
  }

  private succeed(msg: Msg, ep: Endpoint, started: number, value: unknown, rt: RequestTrace): void {
    this.release(ep);
    let data: Uint8Array;
    try {
      data = value === undefined ? EMPTY : encodeJson(value);
    } catch (err) {
      this.fail(msg, ep, started, new Error(`handler returned a value that cannot be JSON-encoded: ${(err as Error).message}`), false, rt);
      return;
    }
    const ms = performance.now() - started;
    if (this.replies.respond(msg, data) === "too-large") {
      this.finish(ep, ms, "PAYLOAD_TOO_LARGE", `reply of ${data.length} bytes exceeds the server's max_payload`);
      endRequestTrace(rt, "PAYLOAD_TOO_LARGE");
    } else {
      this.finish(ep, ms);
      endRequestTrace(rt, "ok");
    }
  }

  private fail(msg: Msg, ep: Endpoint, started: number, err: unknown, release = true, rt?: RequestTrace): void {
    if (release) this.release(ep);
    const ms = performance.now() - started;
    let code = "INTERNAL";
    let message: string;
    let retryable = false;
    if (err instanceof ServiceError) {
      code = err.code;
      message = err.message;
      retryable = err.retryable;
    } else if (err instanceof Error) {
      message = err.message || err.name;
    } else {
      message = String(err);
    }
    if (code === "INTERNAL") this.log.debug({ endpoint: ep.name, err }, "handler failed");
    this.finish(ep, ms, code, message);
    if (rt !== undefined) endRequestTrace(rt, code, message);
    this.replies.respondError(msg, code, message, retryable);
  }

  private release(ep: Endpoint): void {
    ep.inFlight--;
    this.inFlight--;
    if (this.inFlight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private finish(ep: Endpoint, durationMs: number, errorCode?: string, errorMessage?: string): void {
    const s = ep.stats;
    s.numRequests++;
    s.processingNs += Math.round(durationMs * 1e6);
    if (errorCode) {
      s.numErrors++;
      s.lastError = `${errorCode}: ${errorMessage ?? ""}`;
    }
    if (this.observers.length === 0) return;
    const o: RequestObservation = errorCode ? { endpoint: ep.name, durationMs, error: errorCode } : { endpoint: ep.name, durationMs };
    for (const fn of this.observers) {
      try {
        fn(o);
      } catch (e) {
        this.log.warn({ err: e }, "request observer threw");
      }
    }
  }
}
