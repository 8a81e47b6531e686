/**
 * Serves the requests of one instance's endpoints: deadline check, load shedding, codec check and
 * body decoding (eager, or lazy on the handler's request), handler invocation and the reply (value
 * or error in the NATS micro convention). Nothing a handler, a codec or a caller does can throw out
 * of here: every answer goes through the {@link ReplyGuard} (a request whose reply subject the policy
 * refuses is dropped before the handler runs; a reply above the server's `max_payload` becomes
 * `PAYLOAD_TOO_LARGE`), and a handler's or codec's throw or rejection becomes an error reply.
 */
import type { Msg } from "@nats-io/transport-node";
import { InvalidInputLog, ServiceError, type Logger, type ReplyGuard } from "../protocol/index.js";
import { CodecSet, EncodedBody, encodeWith, jsonCodec, thrownMessage, type Codec } from "../protocol/codecs/index.js";
import { endRequestTrace, startRequestTrace, withContext, type RequestTrace } from "../tracing/callTracing.js";
import { readRequestHeaders, requestHeaders, type RequestHeaders } from "./requestHeaders.js";
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
  /** Codec of request and reply bodies. */
  readonly codec: Codec;
  /** The handler decodes the body itself (`ctx.payload()`), if at all. */
  readonly lazy: boolean;
  inFlight: number;
  readonly stats: EndpointStats;
}

const EMPTY = new Uint8Array(0);
/** Marks "not decoded yet" in a lazy context. */
const UNDECODED: unique symbol = Symbol("undecoded");

/** Printable, bounded text of a header value from the wire, for an error message. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

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
    private readonly codec: Codec,
    private decoded: unknown,
  ) {}
  /** Decoded on first use only: decoding headers costs more than serving a small request. */
  get headers(): Msg["headers"] {
    return this.msg.headers;
  }
  /** The request body as received: a view of the message, never a copy. */
  get data(): Uint8Array {
    return this.msg.data;
  }
  payload<T = unknown>(): T {
    if (this.decoded === UNDECODED) this.decoded = decodeBody(this.codec, this.msg.data);
    return this.decoded as T;
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

  private readonly codecs = new CodecSet();
  /** Reused for every request (handling is synchronous up to the handler call). */
  private readonly hdrs: RequestHeaders = requestHeaders();
  private readonly invalid: InvalidInputLog;

  constructor(
    private readonly service: string,
    private readonly instanceId: string,
    private readonly defaultMaxInFlight: number,
    private readonly log: Logger,
    private readonly replies: ReplyGuard,
  ) {
    this.invalid = new InvalidInputLog(log);
  }

  /** Adds an endpoint; its name must already be validated as a subject token. Throws CodecError for an unusable codec. */
  add(name: string, handler: Handler, opts: EndpointOptions = {}): Endpoint {
    const ep: Endpoint = {
      name,
      handler,
      maxInFlight: opts.maxInFlight ?? this.defaultMaxInFlight,
      metadata: opts.metadata ?? {},
      codec: opts.codec === undefined ? jsonCodec : this.codecs.resolve(opts.codec),
      lazy: opts.lazy === true,
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
      // Unreachable by design (handlers, codecs and replies are guarded); kept so nothing reaches the NATS reader.
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
    const h = readRequestHeaders(msg, this.hdrs);
    const d = h.deadline;
    const sentCodec = h.codec;
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
    const codec = ep.codec;
    if (sentCodec === undefined ? codec !== jsonCodec : sentCodec !== codec.name) {
      const message = `codec mismatch: endpoint ${name} of service ${this.service} uses codec ${codec.name}, the request is encoded as ${sentCodec === undefined ? "json (no Sb-Codec header)" : quoted(sentCodec)}`;
      this.finish(ep, 0, "BAD_REQUEST", message);
      this.replies.respondError(msg, "BAD_REQUEST", message);
      return;
    }
    let payload: unknown = UNDECODED;
    if (!ep.lazy) {
      try {
        payload = decodeBody(codec, msg.data);
      } catch (err) {
        this.badBody(msg, ep, (err as ServiceError).message);
        return;
      }
    }

    const started = performance.now();
    ep.inFlight++;
    this.inFlight++;
    const traceparent = h.traceparent;
    const rt = startRequestTrace(this.service, name, this.instanceId, traceparent, h.tracestate);
    const ctx = new Context(this.service, this.instanceId, name, msg.subject, msg, deadline, traceparent, codec, payload);
    if (payload === UNDECODED) payload = undefined;
    let result: unknown;
    try {
      // The handler runs with the request's span active, so its own calls continue the trace
      // (when the application installed an OpenTelemetry context manager).
      const p = payload;
      result = withContext(rt.ctx, () => ep.handler(p, ctx));
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
    const codec = ep.codec;
    try {
      data = value instanceof EncodedBody ? value.data : codec === jsonCodec ? (value === undefined ? EMPTY : jsonCodec.encode(value)) : encodeWith(codec, value);
    } catch (err) {
      const what = codec === jsonCodec ? "JSON-encoded" : `encoded with codec ${codec.name}`;
      this.log.warn({ endpoint: ep.name, codec: codec.name, err }, "handler's reply cannot be encoded");
      this.fail(msg, ep, started, new Error(`handler returned a value that cannot be ${what}: ${thrownMessage(err)}`), false, rt);
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

  /** A request body the endpoint's codec refused: BAD_REQUEST naming the codec, logged once per burst. */
  private badBody(msg: Msg, ep: Endpoint, message: string): void {
    this.invalid.record(`request:${ep.name}`, message, msg.subject);
    this.finish(ep, 0, "BAD_REQUEST", message);
    this.replies.respondError(msg, "BAD_REQUEST", message);
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

/**
 * Decodes a request body. JSON keeps its fast path; another codec's failure becomes a
 * `ServiceError("BAD_REQUEST")` so that a lazy handler calling `ctx.payload()` answers BAD_REQUEST too.
 */
function decodeBody(codec: Codec, data: Uint8Array): unknown {
  if (codec === jsonCodec) {
    try {
      return jsonCodec.decode(data);
    } catch {
      throw new ServiceError("BAD_REQUEST", "request body is not valid JSON");
    }
  }
  try {
    return codec.decode(data);
  } catch (err) {
    throw new ServiceError("BAD_REQUEST", `request body cannot be decoded with codec ${codec.name} (${data.length} bytes): ${thrownMessage(err)}`);
  }
}
