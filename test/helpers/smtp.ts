/**
 * A real SMTP server for tests (smtp-server), parsing every accepted mail with mailparser. It can
 * be stopped and started again on the same port to simulate an outage.
 */
import type { AddressInfo } from "node:net";
import { simpleParser, type ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";

/** A mail the server accepted: parsed, plus its raw source (for header checks). */
export interface ReceivedMail {
  parsed: ParsedMail;
  raw: string;
  /** Envelope recipients. */
  to: string[];
  from: string;
  receivedAt: number;
}

/** A test SMTP server. */
export interface TestSmtpServer {
  readonly port: number;
  readonly host: string;
  readonly mails: ReceivedMail[];
  /** Stops listening (an outage): connections are refused until {@link start}. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  /** Resolves when at least `n` mails arrived (optionally matching), or rejects after `timeoutMs`. */
  waitForMails(n: number, opts?: { timeoutMs?: number; where?: (m: ReceivedMail) => boolean }): Promise<ReceivedMail[]>;
  dispose(): Promise<void>;
}

/** Starts an SMTP server on 127.0.0.1 (a free port unless given). */
export async function startSmtpServer(opts: { port?: number } = {}): Promise<TestSmtpServer> {
  const mails: ReceivedMail[] = [];
  let server: SMTPServer | undefined;
  let port = opts.port ?? 0;
  const make = () =>
    new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS"],
      disableReverseLookup: true,
      // An outage drops open (pooled) connections after 200 ms instead of waiting 30 s for them.
      closeTimeout: 200,
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          const raw = Buffer.concat(chunks);
          simpleParser(raw)
            .then((parsed) => {
              mails.push({
                parsed,
                raw: raw.toString("utf8"),
                to: session.envelope.rcptTo.map((r) => r.address),
                from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
                receivedAt: Date.now(),
              });
              callback();
            })
            .catch((err: Error) => callback(err));
        });
      },
    });
  const listen = async () => {
    server = make();
    await new Promise<void>((resolve, reject) => {
      server!.once("error", reject);
      server!.listen(port, "127.0.0.1", () => resolve());
    });
    port = (server.server.address() as AddressInfo).port;
  };
  await listen();
  const stop = async () => {
    if (!server) return;
    const s = server;
    server = undefined;
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  return {
    get port() {
      return port;
    },
    host: "127.0.0.1",
    mails,
    stop,
    start: listen,
    async waitForMails(n, o = {}) {
      const timeoutMs = o.timeoutMs ?? 15_000;
      const started = Date.now();
      for (;;) {
        const matching = o.where ? mails.filter(o.where) : mails;
        if (matching.length >= n) return matching;
        if (Date.now() - started > timeoutMs) {
          throw new Error(`expected ${n} mails within ${timeoutMs} ms, got ${matching.length}: ${mails.map((m) => m.parsed.subject).join(" | ")}`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    dispose: stop,
  };
}
