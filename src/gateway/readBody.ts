/** Reading a request body with a size limit, so one client cannot make the gateway buffer without bound. */
import type { IncomingMessage } from "node:http";
import { HttpError } from "./HttpError.js";

/**
 * How much of an oversized body is still read (and thrown away) before the connection is cut.
 * Reading a modest excess lets the client finish sending and actually receive the 413; beyond
 * this, the connection is destroyed instead, so a huge upload costs the gateway nothing more.
 */
const DISCARD_FACTOR = 4;
const MIN_DISCARD_BYTES = 1024 * 1024;

/**
 * Reads the whole body, refusing (413) anything above `limit` bytes. A declared Content-Length
 * above the limit is refused without reading; an undeclared (chunked) body is counted as it arrives.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new HttpError(413, "PAYLOAD_TOO_LARGE", `request body exceeds the ${limit}-byte limit`, { Connection: "close" });
  const declared = Number(req.headers["content-length"]);
  const discardCap = Math.max(limit * DISCARD_FACTOR, MIN_DISCARD_BYTES);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let overflow = Number.isFinite(declared) && declared > limit;
    if (overflow && declared > discardCap) {
      // Not worth reading: answer and close (the client may see a reset instead of the 413).
      req.pause();
      reject(tooLarge());
      return;
    }
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) overflow = true;
      if (overflow) {
        chunks.length = 0;
        if (size > discardCap) {
          req.removeAllListeners("data");
          req.pause();
          reject(tooLarge());
        }
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => (overflow ? reject(tooLarge()) : resolve(Buffer.concat(chunks, size))));
    req.on("error", (err) => reject(new HttpError(400, "BAD_REQUEST", `cannot read request body: ${err.message}`)));
  });
}

/**
 * Parses a body as JSON. An empty body is `undefined` unless `required`. Throws a 400 HttpError
 * with the parser's reason.
 */
export function parseJsonBody(body: Buffer, required: boolean): unknown {
  if (body.length === 0) {
    if (required) throw new HttpError(400, "BAD_REQUEST", "request body is empty: send a JSON object");
    return undefined;
  }
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw new HttpError(400, "BAD_REQUEST", `request body is not valid JSON: ${(err as Error).message}`);
  }
}
