/** Opening the NATS connection of a command, with failures explained in one line. */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { toConnectionOptions } from "../protocol/index.js";
import { describeConnectError } from "./CliError.js";
import type { ResolvedSettings } from "./types.js";

/** How long the first connection may take before the command gives up (a silent host would otherwise hang it). */
const FIRST_CONNECT_TIMEOUT_MS = 5_000;

/**
 * Connects with the resolved settings. The first connection must succeed (a CLI should fail fast
 * with a reason); afterwards the connection reconnects forever, as every component's does.
 */
export async function connectForCli(settings: ResolvedSettings, name: string): Promise<NatsConnection> {
  try {
    const opts = toConnectionOptions({ ...settings.nats, name });
    return await connect({ ...opts, timeout: FIRST_CONNECT_TIMEOUT_MS });
  } catch (err) {
    throw describeConnectError(err, settings.nats.servers);
  }
}

/** Closes a connection, draining it first so published messages are flushed; never throws. */
export async function closeQuietly(nc: NatsConnection | undefined): Promise<void> {
  if (!nc || nc.isClosed()) return;
  try {
    await nc.drain();
  } catch {
    try {
      await nc.close();
    } catch {
      // already closed
    }
  }
}
