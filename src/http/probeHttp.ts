/**
 * One HTTP exchange with a registered service, bounded in time and size, whose failure says whether
 * the request reached the service: the shared core of health checks and of the bridge.
 */

/** How an exchange ended. */
export type HttpOutcome =
  | { kind: "response"; status: number; body: Uint8Array; contentType: string | undefined }
  /** The request never reached the service (refused, unresolvable, unreachable): safe to try elsewhere. */
  | { kind: "not-delivered"; message: string }
  /** Sent, but no complete answer (timeout, reset, oversized): the service may have acted. */
  | { kind: "failed"; timeout: boolean; message: string };

/** Options of {@link httpExchange}. */
export interface HttpExchangeOptions {
  method: "GET" | "POST";
  body?: Uint8Array | undefined;
  headers?: Record<string, string>;
  timeoutMs: number;
  /** Largest response body read; a larger one is a failure (default 1 MiB). */
  maxBytes?: number;
}

const NOT_DELIVERED = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "ERR_INVALID_URL", "UND_ERR_CONNECT_TIMEOUT"]);

function causeCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e && typeof e === "object"; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Reads at most `max` bytes of a body; undefined when it is larger. */
async function readCapped(res: Response, max: number): Promise<Uint8Array | undefined> {
  const declared = Number(res.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => {});
    return undefined;
  }
  if (!res.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Sends one request to `url` and reads the answer, never throwing. Redirects are not followed
 * (a registered address answers itself, or fails).
 */
export async function httpExchange(url: string, opts: HttpExchangeOptions): Promise<HttpOutcome> {
  const signal = AbortSignal.timeout(Math.max(1, opts.timeoutMs));
  let res: Response;
  try {
    res = await fetch(url, {
      method: opts.method,
      redirect: "manual",
      signal,
      headers: opts.headers ?? {},
      ...(opts.body && opts.body.length > 0 ? { body: opts.body } : {}),
    });
  } catch (err) {
    const code = causeCode(err);
    if (code && NOT_DELIVERED.has(code)) return { kind: "not-delivered", message: `${code} ${new URL(url).host}` };
    const timeout = signal.aborted;
    return { kind: "failed", timeout, message: timeout ? `no answer within ${opts.timeoutMs} ms` : `${code ?? (err as Error).name}: ${(err as Error).message}`.slice(0, 300) };
  }
  try {
    const body = await readCapped(res, opts.maxBytes ?? 1024 * 1024);
    if (body === undefined) return { kind: "failed", timeout: false, message: `answer larger than ${opts.maxBytes ?? 1024 * 1024} bytes` };
    return { kind: "response", status: res.status, body, contentType: res.headers.get("content-type") ?? undefined };
  } catch (err) {
    const timeout = signal.aborted;
    return { kind: "failed", timeout, message: timeout ? `answer not complete within ${opts.timeoutMs} ms` : (err as Error).message.slice(0, 300) };
  }
}

/** `<address>/<path>` with exactly one slash between them. */
export function joinUrl(address: string, path: string): string {
  return `${address.replace(/\/+$/, "")}/${path.replace(/^\/+/, "")}`;
}
