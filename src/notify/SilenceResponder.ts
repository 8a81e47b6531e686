/**
 * Answers silence requests on `<prefix>.silences` (queue group of the notifiers): `add` validates
 * and stores a new silence, `expire` ends one now, `list` returns them. Every request is
 * validated (schema, matchers compile, sane times); a refused one gets `BAD_REQUEST`, an unknown
 * silence `NOT_FOUND`, a KV failure `UNAVAILABLE`.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { v4 as uuidv4 } from "uuid";
import { NOTIFIER_QUEUE, decodeMessage, encodeJson, ReplyGuard, type InvalidInputLog, type Logger, type Silence, type SilenceReply } from "../protocol/index.js";
import { compileMatcher } from "./LabelMatchers.js";
import { MAX_SILENCE_MS, SILENCE_RETENTION_MS, type SilenceStore } from "./SilenceStore.js";
import { Silences } from "./Silences.js";

/** Options of {@link SilenceResponder}. */
export interface SilenceResponderOptions {
  subject: string;
  /** Subject prefix of the installation: the reply-subject policy never answers under it. */
  prefix: string;
  notifierId: string;
  store: SilenceStore;
  log: Logger;
  invalid: InvalidInputLog;
  now: () => number;
  /** Called after a silence was added or expired here. */
  onChange: () => void;
}

/** See the module comment. */
export class SilenceResponder {
  private sub: Subscription | undefined;
  /** Reply-subject policy and never-throwing replies. */
  private readonly replies: ReplyGuard;

  constructor(private readonly opts: SilenceResponderOptions) {
    this.replies = new ReplyGuard({ prefix: opts.prefix, invalid: opts.invalid, log: opts.log });
  }

  start(nc: NatsConnection): this {
    this.sub = nc.subscribe(this.opts.subject, {
      queue: NOTIFIER_QUEUE,
      callback: (err, msg) => {
        if (!err) void this.onRequest(msg).catch((e: unknown) => this.opts.log.warn({ err: e }, "silence request failed"));
      },
    });
    return this;
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
  }

  private reply(msg: Msg, silences: Silence[]): void {
    const reply: SilenceReply = { v: 1, notifier: this.opts.notifierId, at: this.opts.now(), silences };
    this.replies.respond(msg, encodeJson(reply));
  }

  private async onRequest(msg: Msg): Promise<void> {
    const { store, now: clock } = this.opts;
    // Refused before anything is stored.
    if (this.replies.refuses(msg)) return;
    const decoded = decodeMessage("silence-request", msg.data, 128 * 1024);
    if (!decoded.ok) {
      this.opts.invalid.record("silence-request", decoded.error, msg.subject);
      this.replies.respondError(msg, "BAD_REQUEST", decoded.error);
      return;
    }
    const req = decoded.value;
    const now = clock();
    if (req.op === "list") {
      const all = store.silences.all().filter((s) => req.includeExpired === true ? s.endsAt + SILENCE_RETENTION_MS >= now : s.endsAt > now);
      this.reply(msg, all.slice(0, 10_000));
      return;
    }
    if (req.op === "expire") {
      if (req.id === undefined || req.createdBy === undefined) return void this.replies.respondError(msg, "BAD_REQUEST", "expire needs id and createdBy");
      const s = store.silences.get(req.id);
      if (!s) return void this.replies.respondError(msg, "NOT_FOUND", `no silence ${req.id}`);
      if (s.endsAt <= now) return this.reply(msg, [s]);
      const expired: Silence = { ...s, endsAt: Math.max(now, s.startsAt + 1), updatedAt: now, expiredBy: req.createdBy };
      if (!(await this.store(msg, expired))) return;
      this.opts.log.info({ silence: s.id, by: req.createdBy }, "silence expired");
      this.reply(msg, [expired]);
      return;
    }
    // add
    if (req.matchers === undefined || req.endsAt === undefined || req.createdBy === undefined) {
      return void this.replies.respondError(msg, "BAD_REQUEST", "add needs matchers, endsAt and createdBy");
    }
    try {
      req.matchers.forEach(compileMatcher);
    } catch (err) {
      return void this.replies.respondError(msg, "BAD_REQUEST", (err as Error).message);
    }
    const startsAt = req.startsAt ?? now;
    if (req.endsAt <= startsAt) return void this.replies.respondError(msg, "BAD_REQUEST", "endsAt must be after startsAt");
    if (req.endsAt <= now) return void this.replies.respondError(msg, "BAD_REQUEST", "endsAt is in the past");
    if (req.endsAt - Math.max(startsAt, now) > MAX_SILENCE_MS) return void this.replies.respondError(msg, "BAD_REQUEST", "a silence may last at most 90 days");
    if (startsAt > now + MAX_SILENCE_MS) return void this.replies.respondError(msg, "BAD_REQUEST", "startsAt is more than 90 days ahead");
    if (store.silences.all().filter((s) => Silences.isActive(s, now) || s.startsAt > now).length >= 5000) {
      return void this.replies.respondError(msg, "BAD_REQUEST", "too many silences (5000 in force or scheduled); expire some first");
    }
    const silence: Silence = { v: 1, id: uuidv4(), matchers: req.matchers, startsAt, endsAt: req.endsAt, createdBy: req.createdBy, comment: req.comment ?? "", updatedAt: now };
    if (!(await this.store(msg, silence))) return;
    this.opts.log.info({ silence: silence.id, by: silence.createdBy, matchers: silence.matchers, endsAt: silence.endsAt }, "silence added");
    this.reply(msg, [silence]);
  }

  private async store(msg: Msg, s: Silence): Promise<boolean> {
    try {
      await this.opts.store.put(s);
    } catch (err) {
      this.replies.respondError(msg, "UNAVAILABLE", `could not store the silence: ${(err as Error).message}`, true);
      return false;
    }
    this.opts.onChange();
    return true;
  }
}
