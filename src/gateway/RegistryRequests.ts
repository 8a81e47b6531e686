/**
 * The two registry requests every tool needs: a snapshot (`<prefix>.registry.query`) and a
 * registration without an agent (`<prefix>.registry.register`), with their failures typed.
 */
import { createInbox, errors, type NatsConnection } from "@nats-io/transport-node";
import {
  decodeMessage,
  encodeJson,
  readErrorReply,
  type Register,
  type RegisterReply,
  type RegistryQuery,
  type RegistrySnapshot,
  type Subjects,
} from "../protocol/index.js";

/** Largest snapshot accepted (a registry of ~10 k instances is a few MB). */
const MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024;

/** No coordinator answered, or the answer could not be used. */
export class RegistryUnavailableError extends Error {
  override readonly name = "RegistryUnavailableError";
  constructor(
    message: string,
    /** `no-coordinator` (nobody listens), `timeout`, or `bad-reply`. */
    readonly reason: "no-coordinator" | "timeout" | "bad-reply",
  ) {
    super(message);
  }
}

/** A coordinator answered with an error reply (e.g. BAD_REQUEST for an invalid registration). */
export class RegistryRequestError extends Error {
  override readonly name = "RegistryRequestError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function request(nc: NatsConnection, subject: string, body: unknown, timeoutMs: number) {
  try {
    return await nc.request(subject, encodeJson(body), { timeout: timeoutMs });
  } catch (err) {
    if (err instanceof errors.RequestError && err.isNoResponders()) {
      throw new RegistryUnavailableError(
        `no coordinator answers on ${subject}: start one with \`switchboard coordinator\` (same --prefix)`,
        "no-coordinator",
      );
    }
    if (err instanceof errors.TimeoutError || (err instanceof Error && err.cause instanceof errors.TimeoutError)) {
      throw new RegistryUnavailableError(`no coordinator answered on ${subject} within ${timeoutMs} ms`, "timeout");
    }
    throw err;
  }
}

/**
 * Asks a coordinator for the registry (optionally one service, some states). A snapshot too large
 * for one message arrives as several replies (`part` 1..`parts`) on the same inbox; they are joined.
 */
export async function requestSnapshot(
  nc: NatsConnection,
  subjects: Subjects,
  query: Omit<RegistryQuery, "v"> = {},
  timeoutMs = 3000,
): Promise<RegistrySnapshot> {
  const subject = subjects.registryQuery;
  const inbox = createInbox();
  const sub = nc.subscribe(inbox);
  const timer = setTimeout(() => sub.unsubscribe(), timeoutMs);
  try {
    nc.publish(subject, encodeJson({ v: 1, ...query } satisfies RegistryQuery), { reply: inbox });
    let first: RegistrySnapshot | undefined;
    const parts = new Map<number, RegistrySnapshot>();
    for await (const msg of sub) {
      if (msg.data.length === 0 && msg.headers?.code === 503) {
        throw new RegistryUnavailableError(
          `no coordinator answers on ${subject}: start one with \`switchboard coordinator\` (same --prefix)`,
          "no-coordinator",
        );
      }
      const error = readErrorReply(msg);
      if (error) throw new RegistryRequestError(error.code, error.message);
      const decoded = decodeMessage("registry-snapshot", msg.data, MAX_SNAPSHOT_BYTES);
      if (!decoded.ok) throw new RegistryUnavailableError(`unusable registry snapshot: ${decoded.error}`, "bad-reply");
      const snap = decoded.value;
      if (snap.parts === undefined || snap.parts <= 1) return snap;
      // Parts of one snapshot share coordinator and revision; anything else is a stray reply.
      if (first && (snap.coordinator !== first.coordinator || snap.revision !== first.revision)) continue;
      first ??= snap;
      parts.set(snap.part ?? 1, snap);
      if (parts.size >= snap.parts) {
        const instances = [...parts.keys()].sort((a, b) => a - b).flatMap((k) => parts.get(k)!.instances);
        const { part: _part, parts: _parts, ...rest } = first;
        return { ...rest, instances };
      }
    }
    throw new RegistryUnavailableError(
      first ? `registry snapshot incomplete after ${timeoutMs} ms (${parts.size} of ${first.parts} parts)` : `no coordinator answered on ${subject} within ${timeoutMs} ms`,
      "timeout",
    );
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
}

/** Registers something that cannot run an agent (the seed's POST /register). */
export async function requestRegister(
  nc: NatsConnection,
  subjects: Subjects,
  registration: Omit<Register, "v">,
  timeoutMs = 3000,
): Promise<RegisterReply> {
  const msg = await request(nc, subjects.registryRegister, { v: 1, ...registration } satisfies Register, timeoutMs);
  const error = readErrorReply(msg);
  if (error) throw new RegistryRequestError(error.code, error.message);
  const decoded = decodeMessage("register-reply", msg.data);
  if (!decoded.ok) throw new RegistryUnavailableError(`unusable register reply: ${decoded.error}`, "bad-reply");
  return decoded.value;
}
