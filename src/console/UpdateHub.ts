/**
 * Live updates to browsers over Server-Sent Events. Changes are gathered in {@link ConsoleState}
 * and flushed at most every `flushMs` as one `update` event per stream, however many registry
 * events, metric steps or alert transitions arrived meanwhile. A stream opened with a service gets
 * that service's detail too, when it changed. A browser that does not keep up (its socket buffer
 * grows past a limit) is disconnected rather than buffered without bound; EventSource reconnects
 * and starts again from a fresh snapshot.
 */
import type { ServerResponse } from "node:http";
import type { ConsoleCollectorStatus, ConsoleRegistryStatus, ConsoleSnapshot, ConsoleUpdate } from "../protocol/index.js";
import type { ConsoleState } from "./ConsoleState.js";

/** Buffered bytes after which a stream counts as stuck and is closed. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** A detail with more instances than this is sent at most every {@link BIG_DETAIL_INTERVAL_MS} (a 10,000-instance detail is megabytes). */
const BIG_DETAIL_INSTANCES = 1000;
const BIG_DETAIL_INTERVAL_MS = 2000;
/** Keep-alive comment interval, so proxies do not close idle streams. */
const KEEPALIVE_MS = 15_000;

interface Stream {
  res: ServerResponse;
  service: string | undefined;
  /** When the watched service's detail was last sent, and whether a change is still waiting. */
  detailSentAt: number;
  detailPending: boolean;
}

/** What the hub needs besides the state. */
export interface UpdateHubOptions {
  flushMs: number;
  maxStreams: number;
  status: () => { registry: ConsoleRegistryStatus; collector: ConsoleCollectorStatus };
  snapshot: (service: string | undefined) => ConsoleSnapshot;
}

/** See the module comment. */
export class UpdateHub {
  private readonly streams = new Set<Stream>();
  private timer: NodeJS.Timeout | undefined;
  private keepAlive: NodeJS.Timeout | undefined;
  private pending = false;
  private lastStatus = "";

  constructor(
    private readonly state: ConsoleState,
    private readonly opts: UpdateHubOptions,
  ) {}

  get size(): number {
    return this.streams.size;
  }

  /** Services some stream is watching. */
  watched(): Set<string> {
    const out = new Set<string>();
    for (const s of this.streams) if (s.service) out.add(s.service);
    return out;
  }

  start(): this {
    this.keepAlive = setInterval(() => {
      for (const s of this.streams) this.write(s, ": keep-alive\n\n");
    }, KEEPALIVE_MS);
    return this;
  }

  /** Something changed: an update goes out within `flushMs`. */
  schedule(): void {
    if (this.pending) return;
    this.pending = true;
    this.timer = setTimeout(() => this.flush(), this.opts.flushMs);
  }

  /** Takes over a response as an event stream; false when there are already `maxStreams`. */
  open(res: ServerResponse, service: string | undefined): boolean {
    if (this.streams.size >= this.opts.maxStreams) return false;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
      connection: "keep-alive",
    });
    const stream: Stream = { res, service, detailSentAt: Date.now(), detailPending: false };
    this.streams.add(stream);
    res.on("close", () => this.streams.delete(stream));
    this.write(stream, `retry: 2000\nevent: snapshot\ndata: ${JSON.stringify(this.opts.snapshot(service))}\n\n`);
    return true;
  }

  /** Sends what changed since the last flush. */
  flush(): void {
    this.pending = false;
    clearTimeout(this.timer);
    const c = this.state.takeChanges();
    const status = this.opts.status();
    const statusKey = JSON.stringify(status);
    const statusChanged = statusKey !== this.lastStatus;
    this.lastStatus = statusKey;
    const common: ConsoleUpdate = { v: 1, at: Date.now() };
    if (statusChanged) Object.assign(common, status);
    if (c.services.length) common.services = c.services;
    if (c.removedServices.length) common.removedServices = c.removedServices;
    if (c.alerts.length) common.alerts = c.alerts;
    if (c.events.length) common.events = c.events;
    const hasCommon = Object.keys(common).length > 2;
    const commonData = hasCommon ? JSON.stringify(common) : "";
    const details = new Map<string, { data: string; big: boolean }>();
    const now = Date.now();
    let waiting = false;
    for (const s of this.streams) {
      if (s.service !== undefined && c.touched.has(s.service)) s.detailPending = true;
      let d: { data: string; big: boolean } | undefined;
      if (s.service !== undefined && s.detailPending) {
        d = details.get(s.service);
        if (d === undefined) {
          const detail = this.state.detail(s.service);
          d = { data: JSON.stringify(detail ? { ...common, detail } : common), big: (detail?.instances.length ?? 0) > BIG_DETAIL_INSTANCES };
          details.set(s.service, d);
        }
        if (d.big && now - s.detailSentAt < BIG_DETAIL_INTERVAL_MS) {
          d = undefined;
          waiting = true;
        }
      }
      if (d) {
        s.detailPending = false;
        s.detailSentAt = now;
        this.write(s, `event: update\ndata: ${d.data}\n\n`);
      } else if (hasCommon) this.write(s, `event: update\ndata: ${commonData}\n\n`);
    }
    if (waiting) this.schedule();
  }

  /** Ends every stream. */
  stop(): void {
    clearTimeout(this.timer);
    clearInterval(this.keepAlive);
    for (const s of this.streams) s.res.end();
    this.streams.clear();
  }

  private write(s: Stream, text: string): void {
    if (s.res.writableLength > MAX_BUFFERED_BYTES) {
      this.streams.delete(s);
      s.res.destroy();
      return;
    }
    s.res.write(text);
  }
}
