/** One request to the notifiers (acks, silences, the firing list), with the CLI's errors for each way it can fail. */
import { hostname, userInfo } from "node:os";
import { errors, type NatsConnection } from "@nats-io/transport-node";
import { decodeWith, encodeJson, readErrorReply, type MessageTypes } from "../protocol/index.js";
import { CliError } from "./CliError.js";
import { formatDuration } from "./output.js";

/** Sends `body` on `subject` and decodes the reply as `kind`; throws a CliError saying what went wrong. */
export async function requestNotifier<K extends keyof MessageTypes>(nc: NatsConnection, subject: string, body: unknown, kind: K, timeoutMs: number, what: string): Promise<MessageTypes[K]> {
  let msg;
  try {
    msg = await nc.request(subject, encodeJson(body), { timeout: timeoutMs });
  } catch (err) {
    if (err instanceof errors.RequestError && err.isNoResponders()) {
      throw new CliError(`no notifier answers on ${subject}: ${what}; start one with \`switchboard notifier\``);
    }
    if (err instanceof errors.TimeoutError) throw new CliError(`no notifier answered within ${formatDuration(timeoutMs)}: ${what}`);
    throw err;
  }
  const error = readErrorReply(msg);
  if (error) throw new CliError(`the notifier refused: ${error.code}: ${error.message}`);
  const decoded = decodeWith<MessageTypes[K]>(kind, msg.data);
  if (!decoded.ok) throw new CliError(`unusable reply from the notifier: ${decoded.error}`);
  return decoded.value;
}

/** Who runs the command, for acknowledgements and silences: `$USER@host` (128 characters at most). */
export function operatorName(): string {
  let user = process.env.USER ?? process.env.LOGNAME ?? "";
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = "operator";
    }
  }
  return `${user}@${hostname()}`.slice(0, 128);
}
