/** Building and reading error replies in the NATS micro convention. */
import { headers, type Msg, type MsgHdrs } from "@nats-io/transport-node";
import { encodeJson } from "./codec.js";
import { ERROR_CODE_HEADER, ERROR_MESSAGE_HEADER, codeForStatus, statusForCode } from "./errors.js";
import type { ErrorReply } from "./types.generated.js";

/** Largest error message sent, so a huge exception message cannot make a huge reply. */
const MAX_ERROR_MESSAGE = 1024;

/** Headers and body of an error reply. */
export function errorReply(code: string, message: string, retryable?: boolean): { headers: MsgHdrs; data: Uint8Array } {
  const text = bounded(message);
  const h = headers();
  h.set(ERROR_CODE_HEADER, String(statusForCode(code)));
  // Header values cannot carry CR/LF.
  h.set(ERROR_MESSAGE_HEADER, text.replace(/[\r\n]+/g, " "));
  const body: ErrorReply = { v: 1, code, message: text };
  if (retryable) body.retryable = true;
  return { headers: h, data: encodeJson(body) };
}

/** A symbolic error code as the protocol defines it (schemas/error.json). */
const CODE_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;
/** Error bodies above this are not parsed: a conforming one is a few hundred bytes. */
const MAX_ERROR_BODY = 16 * 1024;

/** `text` cut to {@link MAX_ERROR_MESSAGE} characters (with an ellipsis when cut). */
function bounded(text: string): string {
  return text.length > MAX_ERROR_MESSAGE ? `${text.slice(0, MAX_ERROR_MESSAGE - 1)}…` : text;
}

/**
 * Reads the error of a reply in the micro convention, or null when the reply is not an error.
 * The responder is not trusted: the JSON body gives the symbolic code only when it conforms to the
 * protocol's pattern, otherwise the numeric header is mapped ({@link codeForStatus}: a malformed
 * status is the responder's failure, `INTERNAL`); the message is cut to 1 024 characters.
 */
export function readErrorReply(msg: Pick<Msg, "headers" | "data">): ErrorReply | null {
  const status = msg.headers?.get(ERROR_CODE_HEADER);
  if (!status) return null;
  const headerMessage = msg.headers?.get(ERROR_MESSAGE_HEADER) ?? "";
  const numeric = /^\d{3}$/.test(status.trim()) ? Number(status.trim()) : NaN;
  let code: string = codeForStatus(numeric);
  let message = headerMessage;
  let retryable = false;
  if (msg.data.length > 0 && msg.data.length <= MAX_ERROR_BODY) {
    try {
      const body = JSON.parse(new TextDecoder().decode(msg.data)) as Partial<ErrorReply> | null;
      if (body && typeof body === "object") {
        if (typeof body.code === "string" && CODE_PATTERN.test(body.code)) code = body.code;
        if (typeof body.message === "string") message = body.message;
        retryable = body.retryable === true;
      }
    } catch {
      // not JSON: the headers are all there is
    }
  }
  return { v: 1, code, message: bounded(message), ...(retryable ? { retryable: true } : {}) };
}
