/**
 * The reply-subject policy and the never-throwing responder (pure parts; the attacks against real
 * components on a real nats-server are in test/security/reply-subjects.test.ts), and how a client
 * reads an error reply from an untrusted responder.
 */
import { describe, expect, it } from "vitest";
import { headers, type Msg, type MsgHdrs } from "@nats-io/transport-node";
import {
  ERROR_CODE_HEADER,
  ERROR_MESSAGE_HEADER,
  InvalidInputLog,
  ReplyGuard,
  codeForStatus,
  errorReply,
  readErrorReply,
  replySubjectRefusal,
  statusForCode,
} from "../../src/protocol/index.js";

const enc = (s: string) => new TextEncoder().encode(s);

/** A received request whose `respond` behaves like nats.js's: it throws what `publish` throws. */
function request(reply: string | undefined, publish: (data: Uint8Array, h?: MsgHdrs) => void = () => {}): Msg {
  return {
    subject: "sb.inst.orders.i1.echo",
    reply,
    respond(data?: Uint8Array, opts?: { headers?: MsgHdrs }) {
      if (!reply) return false;
      publish(data ?? new Uint8Array(0), opts?.headers);
      return true;
    },
  } as unknown as Msg;
}

describe("reply-subject policy", () => {
  it("refuses system namespaces, the installation's own subjects, wildcards and overlong subjects", () => {
    const refused = [
      "$KV.sb_coordinator_lease.leader",
      "$JS.API.STREAM.PURGE.KV_sb_registry",
      "$JS.ACK.x.y.1.2.3.4.5",
      "$SYS.REQ.SERVER.PING",
      "$SRV.PING",
      "$O.bucket.C.x",
      "sb",
      "sb.heartbeat.orders.i2",
      "sb.registry.events",
      "sb.inst.orders.i1.echo",
      "_INBOX.*",
      "_INBOX.>",
      ".x",
      "x.",
      "a..b",
      `_INBOX.${"x".repeat(300)}`,
    ];
    for (const r of refused) expect(replySubjectRefusal(r, "sb"), r).not.toBeNull();
    // A multi-token prefix protects exactly itself.
    expect(replySubjectRefusal("prod.sb.registry.events", "prod.sb")).toMatch(/own prefix/);
    expect(replySubjectRefusal("prod.other.x", "prod.sb")).toBeNull();
  });
  it("answers inboxes, private inbox prefixes and subjects of other applications", () => {
    for (const r of ["_INBOX.abc.1", "_INBOX_web.abc.1", "_INBOX_orders.X7.42", "sbx.reply", "replies.here"]) {
      expect(replySubjectRefusal(r, "sb"), r).toBeNull();
    }
  });
});

describe("ReplyGuard", () => {
  const quiet = { warn: () => {} };

  it("refuses before the work is done, counts and logs once per burst in the component's invalid-input log", () => {
    const warnings: unknown[] = [];
    const invalid = new InvalidInputLog({ warn: (o: unknown) => warnings.push(o) } as never);
    const guard = new ReplyGuard({ prefix: "sb", invalid, log: quiet });
    const sent: string[] = [];
    for (let i = 0; i < 100; i++) {
      const m = request("$KV.sb_coordinator_lease.leader", () => sent.push("x"));
      expect(guard.refuses(m)).toBe(true);
      expect(guard.respond(m, enc("{}"))).toBe("refused");
    }
    expect(sent).toEqual([]);
    expect(guard.stats().refusedReplySubjects).toBe(200);
    expect(invalid.snapshot()).toEqual({ "reply-subject": 200 });
    expect(warnings).toHaveLength(1);
    expect(guard.refuses(request(undefined))).toBe(false);
    expect(guard.respond(request(undefined), enc("{}"))).toBe("no-reply");
  });

  it("turns a reply above max_payload into a PAYLOAD_TOO_LARGE error reply, and never throws", () => {
    const guard = new ReplyGuard({ prefix: "sb", log: quiet });
    const out: Array<{ data: Uint8Array; h?: MsgHdrs }> = [];
    const maxPayload = 1024;
    // What nats.js's publish does when a payload exceeds the server's max_payload.
    const publish = (data: Uint8Array, h?: MsgHdrs) => {
      if (data.length > maxPayload) throw new Error("payload max_payload size exceeded");
      out.push({ data, h });
    };
    expect(guard.respond(request("_INBOX.a.1", publish), new Uint8Array(5000))).toBe("too-large");
    expect(out).toHaveLength(1);
    expect(readErrorReply({ headers: out[0]!.h, data: out[0]!.data })).toMatchObject({ code: "PAYLOAD_TOO_LARGE", message: expect.stringContaining("5000 bytes") });
    expect(out[0]!.h!.get(ERROR_CODE_HEADER)).toBe("413");
    expect(guard.respond(request("_INBOX.a.2", () => { throw new Error("connection closed"); }), enc("1"))).toBe("failed");
    expect(guard.respondError(request("_INBOX.a.3", publish), "NOT_FOUND", "no")).toBe("sent");
    expect(guard.stats()).toEqual({ refusedReplySubjects: 0, payloadTooLarge: 1, failed: 1 });
  });
});

describe("error replies from an untrusted responder", () => {
  function reply(status: string | undefined, body: unknown, message?: string): Pick<Msg, "headers" | "data"> {
    const h = headers();
    if (status !== undefined) h.set(ERROR_CODE_HEADER, status);
    if (message !== undefined) h.set(ERROR_MESSAGE_HEADER, message);
    return { headers: h, data: typeof body === "string" ? enc(body) : enc(JSON.stringify(body)) };
  }

  it("cut a 500 KB message and ignore a 100 KB code", () => {
    const e = readErrorReply(reply("500", { v: 1, code: "X".repeat(100_000), message: "m".repeat(500_000) }))!;
    // A conforming body is a few hundred bytes; this one is not parsed: the header decides.
    expect(e.code).toBe("INTERNAL");
    expect(e.message.length).toBeLessThanOrEqual(1024);
    const small = readErrorReply(reply("500", { v: 1, code: "X".repeat(100), message: "m".repeat(10_000) }))!;
    expect(small.code).toBe("INTERNAL");
    expect(small.message).toHaveLength(1024);
    expect(small.message.endsWith("…")).toBe(true);
    const header = readErrorReply(reply("503", "", "h".repeat(5000)))!;
    expect(header).toMatchObject({ code: "UNAVAILABLE" });
    expect(header.message).toHaveLength(1024);
  });

  it("keep a conforming service code and refuse codes outside the protocol's pattern", () => {
    expect(readErrorReply(reply("500", { v: 1, code: "OUT_OF_STOCK", message: "none left", retryable: true }))).toEqual({
      v: 1,
      code: "OUT_OF_STOCK",
      message: "none left",
      retryable: true,
    });
    for (const bad of ["constructor", "__proto__", "lower", "A B", "\u001b[2J", "", 42]) {
      expect(readErrorReply(reply("429", { v: 1, code: bad, message: "x" }))!.code, String(bad)).toBe("OVERLOADED");
    }
    // retryable only when it is literally true
    expect(readErrorReply(reply("500", { v: 1, code: "X", message: "y", retryable: "yes" }))).not.toHaveProperty("retryable");
  });

  it("map a non-conforming Nats-Service-Error-Code to the responder's failure, not the caller's", () => {
    const codes: Array<[string, string]> = [
      ["abc", "INTERNAL"],
      ["", "INTERNAL"],
      ["5000", "INTERNAL"],
      ["-1", "INTERNAL"],
      ["200", "INTERNAL"],
      ["4O4", "INTERNAL"],
      ["1e3", "INTERNAL"],
      ["404", "NOT_FOUND"],
      ["403", "BAD_REQUEST"],
      ["408", "TIMEOUT"],
      ["413", "PAYLOAD_TOO_LARGE"],
      ["502", "INTERNAL"],
    ];
    // An empty header value means "not an error reply" in the micro convention.
    for (const [status, code] of codes.filter(([s]) => s !== "")) {
      expect(readErrorReply(reply(status, "not json"))!.code, status).toBe(code);
    }
    expect(codeForStatus(Number.NaN)).toBe("INTERNAL");
  });

  it("never resolve a code through Object.prototype", () => {
    for (const name of Object.getOwnPropertyNames(Object.prototype)) expect(statusForCode(name), name).toBe(500);
    expect(errorReply("constructor", "x").headers.get(ERROR_CODE_HEADER)).toBe("500");
  });
});
