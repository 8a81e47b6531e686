/**
 * The two registry requests every tool needs: a snapshot (`<prefix>.registry.query`) and a
 * registration without an agent (`<prefix>.registry.register`), with their failures typed.
 */
import { errors, type NatsConnection } from "@nats-io/transport-node";
import { queryRegistry, RegistryQueryError } from "../client/index.js";
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
 * Asks a coordinator for the registry (optionally one service, some states), joining a snapshot
 * split into parts (the client's {@link queryRegistry}), with its failures as this module's errors.
 */
export async function requestSnapshot(
  nc: NatsConnection,
  subjects: Subjects,
  query: Omit<RegistryQuery, "v"> = {},
  timeoutMs = 3000,
): Promise<RegistrySnapshot> {
  try {
    return await queryRegistry(nc, subjects, query, { timeoutMs, maxBytes: MAX_SNAPSHOT_BYTES });
  } catch (err) {
    if (!(err instanceof RegistryQueryError)) throw err;
    switch (err.reason) {
      case "no-coordinator":
        throw new RegistryUnavailableError(
          `no coordinator answers on ${subjects.registryQuery}: start one with \`switchboard coordinator\` (same --prefix)`,
          "no-coordinator",
        );
      case "refused":
        throw new RegistryRequestError(err.code ?? "BAD_REQUEST", err.message);
      default:
        throw new RegistryUnavailableError(err.message, err.reason);
    }
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
