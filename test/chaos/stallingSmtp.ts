/**
 * A real SMTP server (smtp-server) whose behaviour a chaos test switches at run time:
 * - `accept`: every mail is accepted (250) and recorded;
 * - `stall`: the whole message is received but the final reply is withheld, so a test can kill the
 *   sender in the middle of the transaction; a stalled mail was never accepted and is not recorded;
 * - down: {@link StallingSmtp.stop} stops listening, connections are refused until {@link StallingSmtp.start}.
 * A mail counts as delivered only when the server answered 250 for it.
 */
import type { AddressInfo } from "node:net";
import { simpleParser, type ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";

/** An accepted mail. */
export interface AcceptedMail {
  parsed: ParsedMail;
  messageId: string;
  /** The transition keys it reports (X-Switchboard-Transitions). */
  transitions: string[];
  acceptedAt: number;
}

/** See the module comment. */
export interface StallingSmtp {
  readonly host: string;
  readonly port: number;
  readonly accepted: AcceptedMail[];
  /** Transactions stalled so far (their senders never got an answer). */
  readonly stalled: number;
  mode: "accept" | "stall";
  /** Resolves at the next stalled transaction. */
  nextStall(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
  dispose(): Promise<void>;
}

/** Starts the server on a free port of 127.0.0.1. */
export async function startStallingSmtp(mode: "accept" | "stall" = "accept"): Promise<StallingSmtp> {
  const accepted: AcceptedMail[] = [];
  let stalled = 0;
  let stallWaiters: Array<() => void> = [];
  let server: SMTPServer | undefined;
  let port = 0;
  const self = {
    host: "127.0.0.1",
    get port() {
      return port;
    },
    accepted,
    get stalled() {
      return stalled;
    },
    mode,
  } as StallingSmtp;

  const make = () =>
    new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS"],
      logger: false,
      // A server going down must not wait 30 s for a half-dead connection.
      closeTimeout: 200,
      onData(stream, _session, callback) {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          if (self.mode === "stall") {
            // Never answered: the sender cannot know whether the mail went through, and it did not.
            stalled++;
            const w = stallWaiters;
            stallWaiters = [];
            for (const f of w) f();
            return;
          }
          simpleParser(Buffer.concat(chunks))
            .then((parsed) => {
              const h = parsed.headers.get("x-switchboard-transitions");
              accepted.push({
                parsed,
                messageId: parsed.messageId ?? "",
                transitions: typeof h === "string" && h ? h.split(",").map((t) => t.trim()) : [],
                acceptedAt: Date.now(),
              });
              callback();
            })
            .catch((err: Error) => callback(err));
        });
      },
    });

  self.start = async () => {
    if (server) return;
    const s = make();
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => resolve());
    });
    server = s;
    port = (s.server.address() as AddressInfo).port;
  };
  self.stop = async () => {
    const s = server;
    server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  self.dispose = self.stop;
  self.nextStall = (timeoutMs = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no SMTP transaction stalled within ${timeoutMs} ms`)), timeoutMs);
      stallWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  await self.start();
  return self;
}
