/**
 * Answers `<prefix>.alerts.list` (queue group of the notifiers): the alerts firing now, oldest
 * first, with state (`active` or `suppressed`), since, labels, annotations, the silences and
 * alerts muting each, and its acknowledgement. Filters: service, severity, label matchers,
 * suppressed or not; `limit` caps the answer (`total` says how many matched).
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { NOTIFIER_QUEUE, decodeMessage, encodeJson, ReplyGuard, type AlertEvent, type AlertList, type InvalidInputLog, type ListedAlert, type Logger } from "../protocol/index.js";
import type { Acknowledgement } from "./AlertGrouper.js";
import { compileMatcher, matchesAll, type CompiledMatcher } from "./LabelMatchers.js";
import type { Suppressor } from "./Suppressor.js";

/** Options of {@link AlertListResponder}. */
export interface AlertListResponderOptions {
  subject: string;
  /** Subject prefix of the installation: the reply-subject policy never answers under it. */
  prefix: string;
  notifierId: string;
  /** Every alert firing now. */
  firing: () => Iterable<AlertEvent>;
  suppressor: Suppressor;
  acknowledgement: (fingerprint: string) => Acknowledgement | undefined;
  invalid: InvalidInputLog;
  log: Logger;
  now: () => number;
}

/** The listed form of a firing alert. */
export function listedAlert(a: AlertEvent, suppressor: Suppressor, ack: Acknowledgement | undefined, now: number): ListedAlert {
  const { silencedBy, inhibitedBy } = suppressor.status(a, now);
  const out: ListedAlert = {
    fingerprint: a.fingerprint,
    rule: a.rule,
    service: a.service,
    severity: a.severity,
    state: silencedBy.length > 0 || inhibitedBy.length > 0 ? "suppressed" : "active",
    since: a.startsAt,
    activeAt: a.activeAt ?? a.startsAt,
    value: a.value ?? null,
    labels: a.labels,
    annotations: a.annotations,
    silencedBy,
    inhibitedBy,
  };
  if (a.instance !== undefined) out.instance = a.instance;
  // An acknowledgement covers episodes that started before it, until its end.
  if (ack && a.startsAt <= ack.at && (ack.until === undefined || now < ack.until)) {
    out.acknowledged = { by: ack.by, at: ack.at };
    if (ack.until !== undefined) out.acknowledged.until = ack.until;
    if (ack.comment !== undefined) out.acknowledged.comment = ack.comment;
  }
  return out;
}

/** See the module comment. */
export class AlertListResponder {
  private sub: Subscription | undefined;
  private maxPayload = 1024 * 1024;
  /** Reply-subject policy and never-throwing replies. */
  private readonly replies: ReplyGuard;

  constructor(private readonly opts: AlertListResponderOptions) {
    this.replies = new ReplyGuard({ prefix: opts.prefix, invalid: opts.invalid, log: opts.log });
  }

  start(nc: NatsConnection): this {
    this.maxPayload = nc.info?.max_payload ?? this.maxPayload;
    this.sub = nc.subscribe(this.opts.subject, {
      queue: NOTIFIER_QUEUE,
      callback: (err, msg) => {
        if (!err) this.onRequest(msg);
      },
    });
    return this;
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
  }

  private onRequest(msg: Msg): void {
    if (this.replies.refuses(msg)) return;
    const decoded = decodeMessage("alert-list-query", msg.data, 64 * 1024);
    if (!decoded.ok) {
      this.opts.invalid.record("alert-list-query", decoded.error, msg.subject);
      this.replies.respondError(msg, "BAD_REQUEST", decoded.error);
      return;
    }
    const q = decoded.value;
    let matchers: CompiledMatcher[];
    try {
      matchers = (q.matchers ?? []).map(compileMatcher);
    } catch (err) {
      this.replies.respondError(msg, "BAD_REQUEST", (err as Error).message);
      return;
    }
    const now = this.opts.now();
    const all: ListedAlert[] = [];
    for (const a of this.opts.firing()) {
      if (q.service !== undefined && a.service !== q.service) continue;
      if (q.severity !== undefined && a.severity !== q.severity) continue;
      if (!matchesAll(matchers, a.labels)) continue;
      const listed = listedAlert(a, this.opts.suppressor, this.opts.acknowledgement(a.fingerprint), now);
      if (q.suppressed !== undefined && (listed.state === "suppressed") !== q.suppressed) continue;
      all.push(listed);
    }
    all.sort((x, y) => x.since - y.since || x.fingerprint.localeCompare(y.fingerprint));
    // Labels and annotations may be large: fewer alerts rather than a reply over max_payload.
    const maxBytes = this.maxPayload - 4096;
    let n = Math.min(q.limit ?? 500, all.length);
    let data: Uint8Array;
    for (;;) {
      const reply: AlertList = { v: 1, notifier: this.opts.notifierId, at: now, total: all.length, alerts: all.slice(0, n) };
      data = encodeJson(reply);
      if (data.length <= maxBytes || n === 0) break;
      n = Math.floor(n / 2);
    }
    this.replies.respond(msg, data);
  }
}
