/**
 * A registry query that also reads snapshots split into several replies (`part`/`parts`: a registry
 * larger than the server's max_payload). One coordinator of the queue group answers all the parts.
 * With `accept`, replies the caller cannot verify (not the lease's leader and term, unsigned…) are
 * skipped and the query waits for one it can: whoever else answers on the inbox cannot end it.
 */
import { createInbox, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { decodeMessage, encodeJson, readErrorReply, type RegistryQuery, type RegistrySnapshot, type Subjects } from "../../protocol/index.js";
import { inboxPrefixOf } from "../../protocol/natsInternals.js";
import { RegistryQueryError } from "./types.js";

/** Default largest reply part accepted (far above any max_payload). */
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** Options of {@link queryRegistry}. */
export interface QueryRegistryOptions {
  /** Give up after this many ms (default 2000). */
  timeoutMs?: number;
  /** Largest reply part accepted, in bytes. */
  maxBytes?: number;
  /**
   * Checks each reply part: null to take it, or why not (the part is skipped, reported to `onRejected`,
   * and error replies no longer end the query early either).
   */
  accept?: (part: RegistrySnapshot, msg: Msg) => string | null;
  /** Called with every part `accept` refused. */
  onRejected?: (reason: string, part: RegistrySnapshot) => void;
}

/**
 * Asks a coordinator for the registry (optionally one service and some states) and returns the
 * whole snapshot, joined from its parts. Throws {@link RegistryQueryError}.
 */
export function queryRegistry(
  nc: NatsConnection,
  subjects: Subjects,
  query: Omit<RegistryQuery, "v"> = {},
  opts: QueryRegistryOptions = {},
): Promise<RegistrySnapshot> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  // The connection's own inbox prefix: a user confined to `_INBOX_<user>.>` can only hear replies there.
  const inbox = createInbox(inboxPrefixOf(nc));
  return new Promise<RegistrySnapshot>((resolve, reject) => {
    // Parts of each answer, by who answered and what (a second responder's parts never mix with the first's).
    const answers = new Map<string, Map<number, RegistrySnapshot>>();
    const accept = opts.accept;
    let lastRefusal: RegistryQueryError | undefined;
    let done = false;
    const finish = (err: Error | null, value?: RegistrySnapshot) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sub.unsubscribe();
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(
      () => finish(lastRefusal ?? new RegistryQueryError(`no complete registry snapshot on ${subjects.registryQuery} within ${timeoutMs} ms`, "timeout")),
      timeoutMs,
    );
    const sub = nc.subscribe(inbox, {
      callback: (err, msg) => {
        if (err) return finish(err);
        if (msg.headers?.hasError && msg.headers.code === 503 && msg.data.length === 0) {
          return finish(
            new RegistryQueryError(`no coordinator answers on ${subjects.registryQuery} (start one with the same prefix)`, "no-coordinator"),
          );
        }
        // Without a verifier the first answer decides; with one, only a verified answer does.
        const fail = (e: RegistryQueryError) => {
          if (accept) lastRefusal = e;
          else finish(e);
        };
        const e = readErrorReply(msg);
        if (e) return fail(new RegistryQueryError(`coordinator refused the query: ${e.message}`, "refused", e.code));
        const d = decodeMessage("registry-snapshot", msg.data, maxBytes);
        if (!d.ok) return fail(new RegistryQueryError(`unusable registry snapshot: ${d.error}`, "bad-reply"));
        const s = d.value;
        if (accept) {
          const why = accept(s, msg);
          if (why !== null) {
            lastRefusal = new RegistryQueryError(`registry snapshot refused: ${why}`, "bad-reply");
            opts.onRejected?.(why, s);
            return;
          }
        }
        if (s.parts === undefined || s.part === undefined) return finish(null, s);
        if (s.part > s.parts) return fail(new RegistryQueryError(`snapshot part ${s.part} of ${s.parts}`, "bad-reply"));
        const key = `${s.coordinator}\u0000${s.revision}\u0000${s.term}\u0000${s.at}\u0000${s.parts}`;
        let parts = answers.get(key);
        if (!parts) {
          if (answers.size >= 16) return fail(new RegistryQueryError("too many different answers to one query", "bad-reply"));
          answers.set(key, (parts = new Map()));
        }
        parts.set(s.part, s);
        if (parts.size < s.parts) return;
        const first = parts.get(1)!;
        const instances = [];
        for (let i = 1; i <= s.parts; i++) for (const v of parts.get(i)!.instances) instances.push(v);
        const whole: RegistrySnapshot = { ...first, instances };
        delete whole.part;
        delete whole.parts;
        finish(null, whole);
      },
    });
    const body: RegistryQuery = { v: 1, ...query };
    try {
      nc.publish(subjects.registryQuery, encodeJson(body), { reply: inbox });
    } catch (err) {
      finish(err as Error);
    }
  });
}
