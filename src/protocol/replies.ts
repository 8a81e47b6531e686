/** Building and reading error replies in the NATS micro convention. */
import { headers, type Msg, type MsgHdrs } from "@nats-io/transport-node";
import { encodeJson } from "./codec.js";
import { ERROR_CODE_HEADER, ERROR_MESSAGE_HEADER, codeForStatus, statusForCode } from "./errors.js";
import type { ErrorReply } from "./types.generated.js";

/** Largest error message sent, so a huge exception message cannot make a huge reply. */
const MAX_ERROR_MESSAGE = 1024;

/** Headers and body of an error reply. */
export function errorReply(code: string, message: string, retryable?: boolean): { headers: MsgHdrs; data: Uint8Array } {
  const text = message.length > MAX_ERROR_MESSAGE ? `${message.slice(0, MAX_ERROR_MESSAGE - 1)}…` : message;
  const h = headers();
  h.set(ERROR_CODE_HEADER, String(statusForCode(code)));
  // Header values cannot carry CR/LF.
  h.set(ERROR_MESSAGE_HEADER, text.replace(/[\r\n]+/g, " "));
  const body: ErrorReply = { v: 1, code, message: text };
  if (retryable) body.retryable = true;
  return { headers: h, data: encodeJson(body) };
}

/** Answers a request with an error reply; no-op for a message without a reply subject. */
export function respondError(msg: Msg, code: string, message: string, retryable?: boolean): void {
  if (!msg.reply) return;
  const { headers: h, data } = errorReply(code, message, retryable);
  msg.respond(data, { headers: h });
}

/**
 * Reads the error of a reply in the micro convention, or null when the reply is not an error.
 * The JSON body gives the symbolic code; with a non-JSON body the numeric header is mapped.
 */
export function readErrorReply(msg: Pick<Msg, "headers" | "data">): ErrorReply | null {
  const status = msg.headers?.get(ERROR_CODE_HEADER);
  if (!status) return null;
  const message = msg.headers?.get(ERROR_MESSAGE_HEADER) ?? "";
  try {
    const body = JSON.parse(new TextDecoder().decode(msg.data)) as Partial<ErrorReply>;
    if (body && typeof body.code === "string") {
      return { v: 1, code: body.code, message: typeof body.message === "string" ? body.message : message, ...(body.retryable ? { retryable: true } : {}) };
    }
  } catch {
    // fall through to the headers
  }
  return { v: 1, code: codeForStatus(Number(status)), message };
}
