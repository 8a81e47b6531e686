/**
 * A registry query that also reads snapshots split into several replies (`part`/`parts`: a registry
 * larger than the server's max_payload). One coordinator of the queue group answers all the parts.
 */
import { createInbox, type NatsConnection } from "@nats-io/transport-node";
import { decodeMessage, encodeJson, readErrorReply, type RegistryQuery, type RegistrySnapshot, type Subjects } from "../../protocol/index.js";
import { RegistryQueryError } from "./types.js";

/** Default largest reply part accepted (far above any max_payload). */
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** Options of {@link queryRegistry}. */
export interface QueryRegistryOptions {
  /** Give up after this many ms (default 2000). */
  timeoutMs?: number;
  /** Largest reply part accepted, in bytes. */
  maxBytes?: number;
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
  const inbox = createInbox();
  return new Promise<RegistrySnapshot>((resolve, reject) => {
    const parts = new Map<number, RegistrySnapshot>();
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
      () => finish(new RegistryQueryError(`no complete registry snapshot on ${subjects.registryQuery} within ${timeoutMs} ms`, "timeout")),
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
        const e = readErrorReply(msg);
        if (e) return finish(new RegistryQueryError(`coordinator refused the query: ${e.message}`, "refused", e.code));
        const d = decodeMessage("registry-snapshot", msg.data, maxBytes);
        if (!d.ok) return finish(new RegistryQueryError(`unusable registry snapshot: ${d.error}`, "bad-reply"));
        const s = d.value;
        if (s.parts === undefined || s.part === undefined) return finish(null, s);
        if (s.part > s.parts) return finish(new RegistryQueryError(`snapshot part ${s.part} of ${s.parts}`, "bad-reply"));
        parts.set(s.part, s);
        if (parts.size < s.parts) return;
        const first = parts.get(1)!;
        const instances = [];
        for (let i = 1; i <= s.parts; i++) {
          const p = parts.get(i);
          if (!p || p.revision !== first.revision || p.coordinator !== first.coordinator) {
            return finish(new RegistryQueryError("snapshot parts do not belong together", "bad-reply"));
          }
          for (const v of p.instances) instances.push(v);
        }
        const whole: RegistrySnapshot = { v: 1, revision: first.revision, coordinator: first.coordinator, leader: first.leader, at: first.at, instances };
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
