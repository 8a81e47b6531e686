/**
 * W3C Trace Context and OpenTelemetry spans for calls, through `@opentelemetry/api` only: without an
 * SDK installed by the application the tracer is OpenTelemetry's no-op, spans are not recorded and
 * nothing is added to requests (unless the caller continues an incoming trace, whose context is then
 * passed on unchanged). The `traceparent`/`tracestate` headers are read and written with
 * OpenTelemetry's own W3C propagator (which validates them: a malformed header starts a new trace).
 *
 * Client: one CLIENT span per call, one child span per attempt (each retry a child of the call),
 * the attempt's context sent as `traceparent`. Agent: one SERVER span per request, child of the
 * incoming `traceparent`, active while the handler runs.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, trace, type Context, type Span, type TextMapGetter } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";

/** Instrumentation scope of every span Switchboard makes. */
export const TRACER_NAME = "switchboard";

/** Header names (lower case, as W3C Trace Context recommends). */
export const TRACEPARENT_HEADER = "traceparent";
export const TRACESTATE_HEADER = "tracestate";

/** Longest header values taken from the wire (a valid traceparent has 55 characters; tracestate ≤ 512). */
const MAX_TRACEPARENT = 128;
const MAX_TRACESTATE = 512;

/** Span attribute names. */
export const ATTR = {
  service: "switchboard.service",
  endpoint: "switchboard.endpoint",
  instance: "switchboard.instance",
  attempt: "switchboard.attempt",
  outcome: "switchboard.outcome",
} as const;

const propagator = new W3CTraceContextPropagator();

/** Headers as a record or nats.js headers. */
type HeaderBag = Record<string, string> | { get(k: string): string; keys(): string[] } | undefined;

function getHeader(h: HeaderBag, name: string): string | undefined {
  if (h === undefined || h === null) return undefined;
  if (typeof (h as { get?: unknown }).get === "function" && typeof (h as { keys?: unknown }).keys === "function") {
    const hh = h as { get(k: string): string; keys(): string[] };
    for (const k of hh.keys()) if (k.toLowerCase() === name) return hh.get(k) || undefined;
    return undefined;
  }
  for (const k of Object.keys(h)) if (k.toLowerCase() === name) return (h as Record<string, string>)[k];
  return undefined;
}

const getter: TextMapGetter<{ traceparent?: string | undefined; tracestate?: string | undefined }> = {
  keys: () => [TRACEPARENT_HEADER, TRACESTATE_HEADER],
  get: (carrier, key) => (key === TRACEPARENT_HEADER ? carrier.traceparent : key === TRACESTATE_HEADER ? carrier.tracestate : undefined),
};

/**
 * The context a trace continues from: the `traceparent`/`tracestate` values (validated; too long or
 * malformed ones are ignored), else `fallback`.
 */
export function extractTraceContext(traceparent: string | undefined, tracestate: string | undefined, fallback: Context): Context {
  if (traceparent === undefined || traceparent.length > MAX_TRACEPARENT) return fallback;
  const carrier = { traceparent, tracestate: tracestate !== undefined && tracestate.length <= MAX_TRACESTATE ? tracestate : undefined };
  const ctx = propagator.extract(ROOT_CONTEXT, carrier, getter);
  return trace.getSpanContext(ctx) === undefined ? fallback : ctx;
}

/** The trace of one call on the client: the call span and its context. */
export interface CallTrace {
  readonly span: Span;
  readonly ctx: Context;
  attempt?: Span | undefined;
}

/**
 * Starts the span of a call, continuing a `traceparent` among the call's headers or else the active
 * context. Returns undefined when there is nothing to record or pass on (no SDK and no incoming trace):
 * the call path then does no tracing work at all.
 */
export function startCallTrace(service: string, endpoint: string, headers: HeaderBag): CallTrace | undefined {
  const parent = extractTraceContext(getHeader(headers, TRACEPARENT_HEADER), getHeader(headers, TRACESTATE_HEADER), context.active());
  const span = trace.getTracer(TRACER_NAME).startSpan(
    `${service}.${endpoint}`,
    { kind: SpanKind.CLIENT, attributes: { [ATTR.service]: service, [ATTR.endpoint]: endpoint } },
    parent,
  );
  if (!span.isRecording() && !trace.isSpanContextValid(span.spanContext())) return undefined;
  return { span, ctx: trace.setSpan(parent, span) };
}

/**
 * Starts the span of attempt `n` (a child of the call span) and returns the request headers with its
 * `traceparent` (and `tracestate`): the call's own headers copied, never modified.
 */
export function startAttempt(t: CallTrace, service: string, endpoint: string, instance: string, n: number, headers: HeaderBag): Record<string, string> {
  t.attempt?.end();
  const span = trace.getTracer(TRACER_NAME).startSpan(
    `${service}.${endpoint} attempt ${n}`,
    { kind: SpanKind.CLIENT, attributes: { [ATTR.service]: service, [ATTR.endpoint]: endpoint, [ATTR.instance]: instance, [ATTR.attempt]: n } },
    t.ctx,
  );
  t.attempt = span;
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  if (headers !== undefined && headers !== null) {
    if (typeof (headers as { keys?: unknown }).keys === "function" && typeof (headers as { get?: unknown }).get === "function") {
      const h = headers as { get(k: string): string; keys(): string[] };
      for (const k of h.keys()) out[k] = h.get(k);
    } else Object.assign(out, headers);
  }
  for (const k of Object.keys(out)) if (k.toLowerCase() === TRACEPARENT_HEADER || k.toLowerCase() === TRACESTATE_HEADER) delete out[k];
  propagator.inject(trace.setSpan(t.ctx, span), out, { set: (c, k, v) => ((c as Record<string, string>)[k] = v) });
  return out;
}

/** Ends the current attempt span with its outcome (`ok`, `timeout`, `no-responders`, …). */
export function endAttempt(t: CallTrace, outcome: string, message?: string): void {
  const span = t.attempt;
  if (span === undefined) return;
  t.attempt = undefined;
  span.setAttribute(ATTR.outcome, outcome);
  if (outcome !== "ok") span.setStatus({ code: SpanStatusCode.ERROR, message });
  span.end();
}

/** Ends the call span. */
export function endCall(t: CallTrace, outcome: string, attempts: number, message?: string): void {
  if (t.attempt !== undefined) endAttempt(t, outcome, message);
  t.span.setAttribute(ATTR.outcome, outcome);
  t.span.setAttribute(ATTR.attempt, attempts);
  if (outcome !== "ok") t.span.setStatus({ code: SpanStatusCode.ERROR, message });
  t.span.end();
}

/** The server span of one request in the agent, and the context the handler runs in. */
export interface RequestTrace {
  readonly span: Span;
  readonly ctx: Context;
}

/** Starts the SERVER span of a request, child of its `traceparent` (if valid). */
export function startRequestTrace(service: string, endpoint: string, instance: string, traceparent: string | undefined, tracestate: string | undefined): RequestTrace {
  const parent = extractTraceContext(traceparent, tracestate, context.active());
  const span = trace.getTracer(TRACER_NAME).startSpan(
    `${service}.${endpoint}`,
    { kind: SpanKind.SERVER, attributes: { [ATTR.service]: service, [ATTR.endpoint]: endpoint, [ATTR.instance]: instance } },
    parent,
  );
  return { span, ctx: trace.setSpan(parent, span) };
}

/** Ends a request's server span with its outcome (`ok` or an error code). */
export function endRequestTrace(t: RequestTrace, outcome: string, message?: string): void {
  t.span.setAttribute(ATTR.outcome, outcome);
  if (outcome !== "ok") t.span.setStatus({ code: SpanStatusCode.ERROR, message });
  t.span.end();
}

/** Runs `fn` with `ctx` active (a no-op wrapper unless the application installed a context manager). */
export function withContext<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn);
}
