/** The caller `switchboard call` uses. Interim: the gateway's fallback caller until the balanced client lands. */
import type { NatsConnection } from "@nats-io/transport-node";
import type { GatewayCaller } from "../gateway/index.js";
import { createDefaultCaller } from "../gateway/defaultCaller.js";

/** Options of the CLI's caller. */
export interface CliCallerOptions {
  strategy?: string;
  idempotent?: boolean;
}

/** Builds a caller on an open connection. */
export async function createCliCaller(nc: NatsConnection, prefix: string, _opts: CliCallerOptions): Promise<GatewayCaller> {
  return createDefaultCaller(nc, prefix);
}
