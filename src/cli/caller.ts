/** The balanced caller `switchboard call` uses: the Switchboard client, wrapped as the gateway wraps it. */
import type { NatsConnection } from "@nats-io/transport-node";
import { createClient, isStrategyName, STRATEGY_NAMES } from "../client/index.js";
import { clientCaller, type GatewayCaller } from "../gateway/index.js";
import { CliError } from "./CliError.js";

/** Options of the CLI's caller. */
export interface CliCallerOptions {
  strategy?: string;
  idempotent?: boolean;
}

/** Builds a caller on an open connection (the connection stays the caller's owner's). */
export async function createCliCaller(nc: NatsConnection, prefix: string, opts: CliCallerOptions): Promise<GatewayCaller> {
  if (opts.strategy !== undefined && !isStrategyName(opts.strategy)) {
    throw new CliError(`unknown strategy ${JSON.stringify(opts.strategy)}: use one of ${STRATEGY_NAMES.join(", ")}`, 2);
  }
  const client = await createClient({ nats: nc, prefix }).start();
  return clientCaller(client, opts);
}
