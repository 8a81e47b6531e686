/**
 * The demo's in-process SMTP server: accepts every mail the notifier sends, saves it as an `.eml`
 * file in a folder, and reports its subject. smtp-server and mailparser are loaded on first use,
 * so other commands do not pay for them.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

/** A mail the catcher saved. */
export interface CaughtMail {
  file: string;
  subject: string;
  from: string;
  to: string[];
  messageId: string | undefined;
  receivedAt: number;
}

/** A running catcher. */
export interface MailCatcher {
  readonly host: string;
  readonly port: number;
  /** Mails saved so far, oldest first. */
  readonly mails: readonly CaughtMail[];
  onMail(listener: (mail: CaughtMail) => void): void;
  close(): Promise<void>;
}

/** Largest mail accepted (alert mails are a few KB). */
const MAX_MAIL_BYTES = 5 * 1024 * 1024;

/** Starts the catcher on 127.0.0.1 and a free port, saving mails into `dir` (created if missing). */
export async function startMailCatcher(dir: string): Promise<MailCatcher> {
  mkdirSync(dir, { recursive: true });
  const [{ SMTPServer }, { simpleParser }] = await Promise.all([import("smtp-server"), import("mailparser")]);
  const mails: CaughtMail[] = [];
  const listeners: Array<(m: CaughtMail) => void> = [];
  let counter = 0;
  const parsing = new Set<Promise<void>>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    size: MAX_MAIL_BYTES,
    banner: "switchboard demo mail catcher",
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        if (stream.sizeExceeded) {
          callback(Object.assign(new Error("message too large"), { responseCode: 552 }));
          return;
        }
        const raw = Buffer.concat(chunks);
        const stamp = new Date().toISOString().replace(/[:.]/g, "-");
        const file = join(dir, `${stamp}-${process.pid}-${++counter}.eml`);
        try {
          writeFileSync(file, raw);
        } catch (err) {
          callback(err as Error);
          return;
        }
        // Accept once the file is on disk: that is the delivery the notifier waits for.
        callback();
        const done: Promise<void> = simpleParser(raw)
          .then((parsed) => {
            const mail: CaughtMail = {
              file,
              subject: parsed.subject ?? "(no subject)",
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
              to: session.envelope.rcptTo.map((r) => r.address),
              messageId: parsed.messageId,
              receivedAt: Date.now(),
            };
            mails.push(mail);
            for (const l of listeners) l(mail);
          })
          .catch(() => undefined)
          .finally(() => parsing.delete(done));
        parsing.add(done);
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  server.on("error", () => undefined);
  const address = server.server.address() as AddressInfo;
  return {
    host: "127.0.0.1",
    port: address.port,
    mails,
    onMail: (l) => void listeners.push(l),
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // Mails accepted just before closing are still being parsed: count them too.
      await Promise.all([...parsing]);
    },
  };
}
