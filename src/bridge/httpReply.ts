/**
 * How an HTTP service's answer becomes a NATS reply in the error convention, pure: 2xx → the body;
 * 429 → OVERLOADED and 503 → UNAVAILABLE (refused before any work: retryable everywhere); 4xx → their
 * code (400 BAD_REQUEST, 404 NOT_FOUND); other 5xx → BAD_GATEWAY and 504 → TIMEOUT, which a client
 * retries only when the call is idempotent; a request that never reached the service → UNAVAILABLE,
 * retryable; one that reached it without a complete answer → TIMEOUT or BAD_GATEWAY (it may have acted).
 */
import { ErrorCode, codeForStatus } from "../protocol/index.js";
import type { HttpOutcome } from "../http/probeHttp.js";

/** What to answer on NATS. */
export type BridgeReply = { ok: true; body: Uint8Array } | { ok: false; code: string; message: string; retryable: boolean };

const MAX_MESSAGE = 512;
const decoder = new TextDecoder();

/** The service's own reason: `message` or `error` of a JSON body, else the start of the text. */
function reasonOf(body: Uint8Array, status: number): string {
  const text = decoder.decode(body.subarray(0, 4096));
  try {
    const j = JSON.parse(text) as { message?: unknown; error?: unknown };
    const m = typeof j.message === "string" ? j.message : typeof j.error === "string" ? j.error : undefined;
    if (m) return `HTTP ${status}: ${m}`.slice(0, MAX_MESSAGE);
  } catch {
    // not JSON: the text itself
  }
  const line = text.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return (line ? `HTTP ${status}: ${line}` : `HTTP ${status}`).slice(0, MAX_MESSAGE);
}

/** Maps one exchange to a reply. */
export function bridgeReply(out: HttpOutcome): BridgeReply {
  switch (out.kind) {
    case "not-delivered":
      return { ok: false, code: ErrorCode.UNAVAILABLE, message: `HTTP service unreachable: ${out.message}`, retryable: true };
    case "failed":
      return out.timeout
        ? { ok: false, code: ErrorCode.TIMEOUT, message: `HTTP service: ${out.message}`, retryable: false }
        : { ok: false, code: ErrorCode.BAD_GATEWAY, message: `HTTP service: ${out.message}`, retryable: false };
    case "response": {
      if (out.status >= 200 && out.status < 300) return { ok: true, body: out.body };
      const code =
        out.status === 429
          ? ErrorCode.OVERLOADED
          : out.status === 503
            ? ErrorCode.UNAVAILABLE
            : out.status === 504
              ? ErrorCode.TIMEOUT
              : out.status >= 500
                ? ErrorCode.BAD_GATEWAY
                : codeForStatus(out.status);
      return { ok: false, code, message: reasonOf(out.body, out.status), retryable: code === ErrorCode.OVERLOADED || code === ErrorCode.UNAVAILABLE };
    }
  }
}
