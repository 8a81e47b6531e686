/**
 * The caller `/call` uses unless one is injected. Interim: a request on the fallback queue-group
 * subject `<prefix>.svc.<service>.<endpoint>` (NATS balances it), until the balanced client is wired.
 */
import { errors, type NatsConnection } from "@nats-io/transport-node";
import { ErrorCode, Subjects, decodeJson, encodeJson, readErrorReply } from "../protocol/index.js";
import type { GatewayCaller } from "./types.js";

class CallError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Builds the default caller on an open connection. */
export async function createDefaultCaller(nc: NatsConnection, prefix: string): Promise<GatewayCaller> {
  const subjects = new Subjects(prefix);
  return {
    async call(service, endpoint, payload, opts) {
      let msg;
      try {
        msg = await nc.request(subjects.service(service, endpoint), encodeJson(payload ?? null), { timeout: opts.timeoutMs });
      } catch (err) {
        if (err instanceof errors.RequestError && err.isNoResponders()) {
          throw new CallError(ErrorCode.NOT_FOUND, `no instance of ${service} serves ${endpoint}`);
        }
        if (err instanceof errors.TimeoutError) throw new CallError(ErrorCode.TIMEOUT, `${service}.${endpoint} did not answer within ${opts.timeoutMs} ms`);
        throw err;
      }
      const error = readErrorReply(msg);
      if (error) throw new CallError(error.code, error.message);
      return decodeJson(msg.data);
    },
  };
}
