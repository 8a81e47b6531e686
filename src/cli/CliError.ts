/**
 * The one way a command fails: a CliError carries a one-line reason (and an exit code) that
 * main() prints as `switchboard: <reason>`; anything else is turned into one by {@link toCliError}.
 */

/** A failure with a one-line, user-facing reason. */
export class CliError extends Error {
  override readonly name = "CliError";
  /**
   * @param message one line, says what went wrong and, where possible, what to do about it
   * @param exitCode process exit code (1 runtime failure, 2 usage error)
   */
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

interface ErrnoLike {
  code?: unknown;
  message?: unknown;
  cause?: unknown;
  name?: unknown;
}

/** The `code` of an error or of its cause (nats.js wraps socket errors). */
function errnoCode(err: unknown): string | undefined {
  for (let e = err as ErrnoLike | undefined, depth = 0; e && depth < 4; e = e.cause as ErrnoLike | undefined, depth++) {
    if (typeof e.code === "string" && e.code) return e.code;
  }
  return undefined;
}

/** Every message in an error's cause chain, joined, for pattern matching. */
function messages(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as ErrnoLike | undefined, depth = 0; e && depth < 4; e = e.cause as ErrnoLike | undefined, depth++) {
    if (typeof e.message === "string") parts.push(e.message);
  }
  return parts.join(": ");
}

/**
 * Explains a failed NATS connection in one line: which URL, what happened, how to fix it.
 * @param servers the URLs that were tried
 */
export function describeConnectError(err: unknown, servers: string[]): CliError {
  const where = servers.join(", ");
  const code = errnoCode(err);
  const text = messages(err);
  if (code === "ECONNREFUSED" || /connection refused/i.test(text)) {
    return new CliError(
      `no NATS server answers at ${where} (connection refused): start one with \`nats-server -js\`, ` +
        `or run \`switchboard demo\` (it starts its own), or point --servers / NATS_URL at yours`,
    );
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return new CliError(`cannot resolve the NATS host in ${where} (${code}): check --servers / NATS_URL`);
  }
  if (/authorization|authentication|auth.*(violation|expired|required)/i.test(text)) {
    return new CliError(
      `NATS at ${where} refused the credentials (${firstLine(text)}): check --user/--password, --token, --creds or --nkey`,
    );
  }
  if (/tls|certificate|ssl|self.signed/i.test(text) || (code && /^ERR_TLS|^CERT_|SSL/.test(code))) {
    return new CliError(`TLS with NATS at ${where} failed (${firstLine(text)}): check --tls-ca/--tls-cert/--tls-key`);
  }
  if (code === "ENOENT" || code === "EACCES") {
    return new CliError(`cannot read a NATS credential file: ${firstLine(text)}`);
  }
  if (/timeout/i.test(text)) {
    return new CliError(`NATS at ${where} did not complete the handshake in time: is it a NATS server (nats://, port 4222)?`);
  }
  return new CliError(`cannot connect to NATS at ${where}: ${firstLine(text) || String(err)}`);
}

function firstLine(text: string): string {
  return text.split("\n")[0]!.trim();
}

/** Turns anything thrown by a command into a one-line CliError. */
export function toCliError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof Error) return new CliError(firstLine(err.message) || err.name);
  return new CliError(firstLine(String(err)));
}
