import { headers } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { deadlineHeaders } from "../../src/client/wireHeaders.js";
import { DEADLINE_HEADER } from "../../src/protocol/index.js";

const text = (h: unknown) => new TextDecoder().decode((h as { encode(): Uint8Array }).encode());

describe("deadlineHeaders", () => {
  it("encodes exactly what nats.js's generic headers encode", () => {
    const generic = headers();
    generic.set(DEADLINE_HEADER, "1700000000123");
    expect(text(deadlineHeaders(1_700_000_000_122.4))).toBe(text(generic));
    expect(text(deadlineHeaders(1_700_000_000_123))).toBe("NATS/1.0\r\nSb-Deadline: 1700000000123\r\n\r\n");
  });

  it("behaves as a full MsgHdrs: get, has, keys, iteration, and changes after creation", () => {
    const h = deadlineHeaders(42);
    expect(h.get(DEADLINE_HEADER)).toBe("42");
    expect(h.has(DEADLINE_HEADER)).toBe(true);
    expect(h.keys()).toEqual([DEADLINE_HEADER]);
    const h2 = deadlineHeaders(43);
    h2.set("X-Trace", "abc");
    expect(text(h2)).toBe("NATS/1.0\r\nSb-Deadline: 43\r\nX-Trace: abc\r\n\r\n");
    expect([...deadlineHeaders(44)]).toEqual([[DEADLINE_HEADER, ["44"]]]);
  });

  it("shares one object per deadline millisecond, never a modified one", () => {
    const a = deadlineHeaders(5000.2);
    expect(deadlineHeaders(5000.9)).toBe(a);
    const bytes = (a as unknown as { encode(): Uint8Array }).encode();
    expect((a as unknown as { encode(): Uint8Array }).encode()).toBe(bytes); // encoded once
    expect(deadlineHeaders(5001.5)).not.toBe(a);
    const b = deadlineHeaders(6000);
    b.set("X-Mine", "1");
    const c = deadlineHeaders(6000);
    expect(c).not.toBe(b);
    expect(c.has("X-Mine")).toBe(false);
  });

  it("merges caller headers (object or MsgHdrs) without mutating them; the deadline wins", () => {
    const mine = headers();
    mine.set("X-Tenant", "t1");
    mine.set(DEADLINE_HEADER, "1");
    const h = deadlineHeaders(99, mine);
    expect(h.get("X-Tenant")).toBe("t1");
    expect(h.get(DEADLINE_HEADER)).toBe("99");
    expect(mine.get(DEADLINE_HEADER)).toBe("1");
    const o = deadlineHeaders(100, { "X-Request-Id": "r-7" });
    expect(text(o)).toContain("X-Request-Id: r-7");
    expect(o.get(DEADLINE_HEADER)).toBe("100");
  });

  it("refuses header values that would break the wire format", () => {
    expect(() => deadlineHeaders(1, { "X-Bad": "a\r\nInjected: yes" })).toThrow();
  });
});
