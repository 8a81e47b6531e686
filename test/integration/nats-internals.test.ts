/**
 * The nats.js internals the fast paths read (src/protocol/natsInternals.ts), checked against the
 * installed nats.js on real messages from a real nats-server: every fast path is taken. A nats.js
 * upgrade that changes these internals fails here instead of silently making the call path slower
 * (the fallbacks keep it correct; the last test checks them).
 */
import { readFileSync } from "node:fs";
import { connect, headers, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readDeadlineHeader } from "../../src/agent/requestHeaders.js";
import { deadlineHeaders } from "../../src/client/wireHeaders.js";
import {
  HEADERS_UNAVAILABLE,
  NO_HEADERS,
  PUBLISH_ENCODES_HEADERS,
  inboxPrefixOf,
  rawHeaderLength,
  rawMessageBytes,
  rawSubject,
} from "../../src/protocol/natsInternals.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";

let server: NatsServer;
let nc: NatsConnection;
beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
  nc = await connect({ servers: server.url, inboxPrefix: "_PRIVATE_INBOX" });
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

/** Publishes once on `subject` and returns the message as nats.js delivers it. */
async function receive(subject: string, data: string, h?: MsgHdrs): Promise<Msg> {
  const got: Msg[] = [];
  const sub = nc.subscribe(subject, { max: 1, callback: (_e, m) => void got.push(m) });
  nc.publish(subject, data, h ? { headers: h } : undefined);
  await sub.closed;
  return got[0]!;
}

const installed = JSON.parse(readFileSync(new URL("../../node_modules/@nats-io/nats-core/package.json", import.meta.url), "utf8")) as { version: string };

describe(`nats.js internals (installed @nats-io/nats-core ${installed.version})`, () => {
  it("raw subject bytes are exposed and equal the subject", async () => {
    const msg = await receive("t.internals.subject.x1", "hello");
    const raw = rawSubject(msg);
    expect(raw, "fast path not taken: nats.js no longer exposes msg._msg.subject as bytes").toBeInstanceOf(Uint8Array);
    expect(new TextDecoder().decode(raw)).toBe("t.internals.subject.x1");
  });

  it("raw header bytes are exposed, precede the body, and match nats.js's own decoding", async () => {
    const h = headers();
    h.set("X-One", "1");
    h.set("Sb-Deadline", "1700000000123");
    const msg = await receive("t.internals.headers", "body!", h);
    const len = rawHeaderLength(msg);
    expect(len, "fast path not taken: nats.js no longer exposes msg._msg.hdr / msg._rdata").toBeGreaterThan(0);
    const bytes = rawMessageBytes(msg);
    const text = new TextDecoder().decode(bytes.subarray(0, len));
    expect(text.startsWith("NATS/1.0\r\n")).toBe(true);
    expect(text).toContain("\r\nSb-Deadline: 1700000000123\r\n");
    expect(new TextDecoder().decode(bytes.subarray(len))).toBe("body!");
    // The agent's deadline read uses the raw bytes and leaves the headers undecoded…
    expect(readDeadlineHeader(msg)).toBe("1700000000123");
    expect(rawHeaderLength(msg)).toBe(len);
    // …until someone reads msg.headers; from then on the decoded headers are the truth.
    expect(msg.headers?.get("X-One")).toBe("1");
    expect(rawHeaderLength(msg)).toBe(HEADERS_UNAVAILABLE);
    expect(readDeadlineHeader(msg)).toBe("1700000000123");
  });

  it("a message without headers is recognised without decoding anything", async () => {
    const msg = await receive("t.internals.none", "x");
    expect(rawHeaderLength(msg)).toBe(NO_HEADERS);
    expect(readDeadlineHeader(msg)).toBeUndefined();
  });

  it("the connection's inbox prefix is read from its options", () => {
    expect(inboxPrefixOf(nc)).toBe("_PRIVATE_INBOX");
  });

  it("publish takes header bytes from encode(): the client's own deadline headers are sent without nats.js's header object", async () => {
    expect(PUBLISH_ENCODES_HEADERS).toBe(true);
    const h = deadlineHeaders(1_700_000_000_500) as MsgHdrs & { pristine: boolean };
    const msg = await receive("t.internals.encode", "x", h);
    // Had publish read the headers through any MsgHdrs method, the object would have fallen back to nats.js's headers.
    expect(h.pristine).toBe(true);
    expect(msg.headers?.get("Sb-Deadline")).toBe("1700000000500");
  });

  it("fallbacks: objects without the internals go through the public API", () => {
    const h = headers();
    h.set("Sb-Deadline", "42");
    const plain = { subject: "a.b", data: new Uint8Array(0), headers: h } as unknown as Msg;
    expect(rawSubject(plain)).toBeUndefined();
    expect(rawHeaderLength(plain)).toBe(HEADERS_UNAVAILABLE);
    expect(readDeadlineHeader(plain)).toBe("42");
    expect(inboxPrefixOf({} as NatsConnection)).toBeUndefined();
  });
});
