/** Bearer-token checks of the console's API: the `Authorization` header or the session cookie, compared in constant time. */
import { createHash, timingSafeEqual } from "node:crypto";

/** Name of the session cookie set by `POST /api/session`. */
export const SESSION_COOKIE = "sb_console_token";

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();

/** Checks presented tokens against the configured ones (none configured: everything passes). */
export class TokenCheck {
  private readonly digests: Buffer[];

  constructor(tokens: readonly string[] | undefined) {
    const list = (tokens ?? []).filter((t) => t.length > 0);
    this.digests = list.map(digest);
  }

  get required(): boolean {
    return this.digests.length > 0;
  }

  /** Whether `token` is one of the configured tokens (hashing first makes the comparison length-independent). */
  valid(token: string | undefined): boolean {
    if (!this.required) return true;
    if (!token || token.length > 4096) return false;
    const d = digest(token);
    let ok = false;
    for (const t of this.digests) ok = timingSafeEqual(t, d) || ok;
    return ok;
  }

  /** The token a request presents: `Authorization: Bearer <t>`, else the session cookie. */
  static presented(authorization: string | undefined, cookie: string | undefined): string | undefined {
    const m = authorization ? /^Bearer ([^\s]{1,4096})$/i.exec(authorization.trim()) : null;
    if (m) return m[1];
    if (!cookie || cookie.length > 16_384) return undefined;
    for (const part of cookie.split(";")) {
      const eq = part.indexOf("=");
      if (eq < 0) continue;
      if (part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
    return undefined;
  }
}
