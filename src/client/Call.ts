/**
 * One call in progress: picks an instance, sends an attempt, reads the outcome, and retries (on
 * another instance, after a jittered delay, within the deadline and the retry budget) or finishes.
 * It feeds every outcome back into the instance's load statistics and circuit breaker.
 *
 * Built for the success path: the `Call` is also the transport's pending entry for its current
 * attempt (no closure per attempt), attempt records are allocated only after a failure, and no
 * `Error` exists unless the call fails.
 */
import { ERROR_CODE_HEADER, readErrorReply } from "../protocol/index.js";
import { endAttempt, endCall, startAttempt, startCallTrace, type CallTrace } from "../tracing/callTracing.js";
import { jsonCodec, rawCodec, thrownMessage, type Codec } from "../protocol/codecs/index.js";
import { giveUpError, isInstanceFailureCode, sendFailureError } from "./callErrors.js";
import type { CallExecutor } from "./CallExecutor.js";
import type { CircuitBreaker } from "./CircuitBreaker.js";
import { UnavailableError, type AttemptRecord } from "./errors.js";
import type { ResolvedCallOptions } from "./resolveCallOptions.js";
import { isRetryableOutcome, type AttemptOutcome } from "./RetryPolicy.js";
import type { Member, Route, Selection } from "./InstanceRouter.js";
import type { PendingAttempt, ReplyMessage } from "./Transport.js";
import type { GiveUpEvent } from "./types.js";

const decoder = new TextDecoder();


/** "matches version ^2.0.0, tags gpu": for the error of a call that no instance matches. */
function describeSelection(selection: Selection | undefined): string {
  return `matches ${selection?.filters?.map((f) => f.text).join(" and ") ?? "the selection"}`;
}

/** One call in progress; also the transport's pending entry for its current attempt. */
export class Call implements PendingAttempt {
  token = "";
  expiresAt = 0;
  private attempt = 0;
  private tried: string[] | undefined;
  private records: AttemptRecord[] | undefined;
  private member: Member | null = null;
  private breaker: CircuitBreaker | undefined;
  private probe = false;
  private sentAt = 0;
  private subject = "";
  private timer: unknown;

  constructor(
    private readonly exec: CallExecutor,
    private route: Route,
    private readonly service: string,
    private readonly endpoint: string,
    private readonly data: Uint8Array,
    private readonly codec: Codec,
    private readonly deadline: number,
    private readonly opts: ResolvedCallOptions,
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (err: Error) => void,
  ) {
    this.trace = startCallTrace(service, endpoint, opts.headers);
  }

  /** The call's OpenTelemetry spans; undefined when nothing is traced (no SDK, no incoming trace). */
  private readonly trace: CallTrace | undefined;

  /** Sends the next attempt (or finishes when nothing can be sent). `now`: the caller's reading of the clock, if fresh. */
  dispatch(now: number = this.exec.clock.now()): void {
    const exec = this.exec;
    const remaining = this.deadline - now;
    if (remaining <= 0) {
      this.giveUp("deadline");
      return;
    }
    if (this.attempt > 0) {
      try {
        this.route = exec.router.route(this.service, this.endpoint, now); // the registry may have changed during the delay
      } catch {
        // names were valid on the first attempt; keep the route we have
      }
    }
    const pick = this.route.pick(this.opts.strategy, this.opts.key, this.tried, now, this.opts.selection);
    if (pick === "none") {
      exec.counters.rejected++;
      this.record({ instance: null, subject: "", outcome: "rejected", message: `no live instance ${describeSelection(this.opts.selection)}`, durationMs: 0 });
      this.giveUp("no-match");
      return;
    }
    if (pick === null) {
      if (this.waitForAdmission(now, this.route.earliestAdmission(now))) return;
      exec.counters.rejected++;
      this.record({ instance: null, subject: "", outcome: "rejected", message: "every live instance is ejected (circuit open)", durationMs: 0 });
      this.giveUp("ejected");
      return;
    }
    let breaker: CircuitBreaker;
    if (pick === "fallback") {
      breaker = this.route.service.fallback;
      if (!breaker.admits(now)) {
        if (this.waitForAdmission(now, breaker.admitsAt(now))) return;
        exec.counters.rejected++;
        this.record({ instance: null, subject: this.route.fallbackSubject, outcome: "rejected", message: "circuit open", durationMs: 0 });
        this.giveUp("ejected");
        return;
      }
      if (this.attempt === 0) exec.counters.fallbackCalls++;
      this.member = null;
      this.subject = this.route.fallbackSubject;
    } else {
      breaker = pick.breaker;
      this.member = pick;
      this.subject = pick.subject;
      pick.stats.started();
    }
    this.breaker = breaker;
    this.probe = breaker.dispatched();
    this.attempt++;
    exec.counters.attempts++;
    this.sentAt = now;
    const timeoutMs = this.opts.timeoutMs;
    this.expiresAt = now + (timeoutMs < remaining ? timeoutMs : remaining);
    try {
      const headers =
        this.trace === undefined
          ? this.opts.headers
          : startAttempt(this.trace, this.service, this.endpoint, this.member?.id ?? "queue-group", this.attempt, this.opts.headers);
      const codecName = this.codec.name;
      exec.transport.send(this.subject, this.data, this.deadline, codecName === "json" ? undefined : codecName, headers, this);
    } catch (err) {
      this.undoAttempt();
      this.record({ instance: this.member?.id ?? null, subject: this.subject, outcome: "send-failed", message: (err as Error)?.message ?? String(err), durationMs: 0 });
      this.fail(sendFailureError(this.service, this.endpoint, err, this.records ?? []));
    }
  }

  onReply(msg: ReplyMessage): void {
    const now = this.exec.clock.now();
    const latency = now - this.sentAt;
    const data = msg.data;
    const h = msg.headers;
    if (h !== undefined) {
      if (data.length === 0 && h.code === 503) {
        this.exec.counters.noResponders++;
        this.failed(now, latency, "no-responders", undefined, "no responders", false, true);
        return;
      }
      if (h.get(ERROR_CODE_HEADER) !== "") {
        const e = readErrorReply(msg);
        if (e) {
          this.failed(now, latency, "error-reply", e.code, e.message, e.retryable === true, isInstanceFailureCode(e.code), e.code === "OVERLOADED");
          return;
        }
      }
    }
    let value: unknown;
    const codec = this.codec;
    if (codec === rawCodec) {
      value = data; // a view of the received message: no parse, no copy
    } else if (codec !== jsonCodec || data.length > 0) {
      try {
        value = codec === jsonCodec ? JSON.parse(decoder.decode(data)) : codec.decode(data);
      } catch (err) {
        this.exec.counters.badReplies++;
        const who = this.member ? `instance ${this.member.id}` : `subject ${this.subject}`;
        const what = codec === jsonCodec ? "is not valid JSON" : `cannot be decoded with codec ${codec.name}`;
        this.failed(now, latency, "bad-reply", undefined, `reply from ${who} ${what} (${data.length} bytes): ${thrownMessage(err)}`, false, true);
        return;
      }
    }
    // Success: feed the statistics and the breaker, hand over the value.
    if (this.member !== null) this.member.stats.finished(now, latency);
    this.breaker!.success(now, this.probe);
    this.exec.counters.succeeded++;
    if (this.opts.servedBy !== undefined) this.opts.servedBy.calls++;
    if (this.trace !== undefined) endCall(this.trace, "ok", this.attempt);
    this.resolve(value);
  }

  onTimeout(): void {
    const now = this.exec.clock.now();
    this.exec.counters.timeouts++;
    this.failed(now, now - this.sentAt, "timeout", undefined, `no reply within ${Math.round(now - this.sentAt)} ms`, false, true);
  }

  onClosed(reason: string): void {
    this.undoAttempt();
    this.record({ instance: this.member?.id ?? null, subject: this.subject, outcome: "send-failed", message: reason, durationMs: this.exec.clock.now() - this.sentAt });
    this.fail(new UnavailableError(`${this.service}.${this.endpoint}: ${reason}`, this.service, this.endpoint, this.records ?? []));
  }

  /**
   * Every candidate is ejected. When a cool-down ends (or a probe finishes) before the deadline, the
   * call waits for it and takes the half-open probe: instances that come back after a failure (the
   * client's own reconnect, a restarted service) cost the caller latency, not an error. When nothing
   * can be admitted before the deadline, the caller is refused at once, as an open circuit should.
   * Waiting sends nothing, so it spends no attempt and no retry budget.
   */
  private waitForAdmission(now: number, at: number): boolean {
    const wake = Math.max(at, now + 1);
    if (wake >= this.deadline || this.exec.closedReason !== undefined) return false;
    const exec = this.exec;
    exec.counters.waitedForBreaker++;
    this.sleep(wake - now);
    return true;
  }

  /** Dispatches again after `ms`, unless the client closes meanwhile. */
  private sleep(ms: number): void {
    const exec = this.exec;
    exec.delayed.add(this);
    this.timer = exec.timers.setTimeout(() => {
      if (!exec.delayed.delete(this)) return;
      this.dispatch(exec.clock.now());
    }, ms);
  }

  /** Ends a call waiting for its retry delay (client closing). */
  abortDelay(reason: string): void {
    if (!this.exec.delayed.delete(this)) return;
    this.exec.timers.clearTimeout(this.timer);
    this.fail(new UnavailableError(`${this.service}.${this.endpoint}: ${reason}`, this.service, this.endpoint, this.records ?? []));
  }

  /** Takes back the in-flight count and probe slot of an attempt that told nothing about the instance. */
  private undoAttempt(): void {
    if (this.member !== null && this.member.stats.inFlight > 0) this.member.stats.inFlight--;
    this.breaker?.release(this.probe);
  }

  /**
   * A failed attempt: update statistics and breaker, then retry or give up.
   * `instanceFault`: counts against the instance's breaker; `penalise`: record at least the
   * failure penalty as latency, so a fast failure does not attract traffic.
   */
  private failed(
    now: number,
    latency: number,
    outcome: AttemptOutcome,
    code: string | undefined,
    message: string,
    retryableFlag: boolean,
    instanceFault: boolean,
    penalise = instanceFault,
  ): void {
    const exec = this.exec;
    const member = this.member;
    if (this.trace !== undefined) endAttempt(this.trace, code ?? outcome, message);
    if (member !== null) member.stats.finished(now, penalise && latency < exec.penaltyMs ? exec.penaltyMs : latency);
    if (instanceFault) this.breaker!.failure(now, this.probe);
    else this.breaker!.success(now, this.probe);
    const rec: AttemptRecord = { instance: member?.id ?? null, subject: this.subject, outcome, message, durationMs: latency };
    if (code !== undefined) rec.code = code;
    if (retryableFlag) rec.retryable = true;
    this.record(rec);

    if (!isRetryableOutcome(outcome, code, retryableFlag, this.opts.idempotent)) {
      this.giveUp("not-retryable");
      return;
    }
    const policy = this.opts.policy;
    if (this.attempt >= policy.maxAttempts) {
      this.giveUp("max-attempts");
      return;
    }
    const delay = policy.delay(this.attempt);
    // Leave room for the next attempt to be sent at all; a retry that starts at the deadline only delays the error.
    if (now + delay >= this.deadline) {
      this.giveUp("deadline");
      return;
    }
    if (exec.budget !== undefined && !exec.budget.tryWithdraw(now)) {
      exec.counters.budgetExhausted++;
      this.giveUp("budget");
      return;
    }
    if (member !== null) (this.tried ??= []).push(member.id);
    exec.counters.retries++;
    if (exec.retryEvents.hasListeners) {
      exec.retryEvents.fire({ service: this.service, endpoint: this.endpoint, attempt: this.attempt, delayMs: delay, failed: rec });
    }
    this.sleep(delay);
  }

  private record(rec: AttemptRecord): void {
    (this.records ??= []).push(rec);
  }

  private giveUp(reason: GiveUpEvent["reason"]): void {
    const records = this.records ?? [];
    if (this.exec.giveUpEvents.hasListeners) {
      this.exec.giveUpEvents.fire({
        service: this.service,
        endpoint: this.endpoint,
        outcome: records[records.length - 1]?.outcome ?? "timeout",
        attempts: this.attempt,
        reason,
      });
    }
    this.fail(
      giveUpError(
        { service: this.service, endpoint: this.endpoint, attempts: this.attempt, maxAttempts: this.opts.policy.maxAttempts, idempotent: this.opts.idempotent },
        records,
        reason,
      ),
    );
  }

  private fail(err: Error): void {
    this.exec.counters.failed++;
    if (this.trace !== undefined) endCall(this.trace, (err as { code?: string }).code ?? "error", this.attempt, err.message);
    this.reject(err);
  }
}
