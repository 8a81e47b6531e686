/**
 * The agent's fast read of Sb-Deadline against nats.js's own header decoding, on real messages from
 * a real nats-server: whatever nats.js's `headers.get` returns, the fast path returns too.
 */
import { connect, headers, type Msg, type MsgHdrs } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readDeadlineHeader } from "../../src/agent/requestHeaders.js";
import { deadlineHeaders } from "../../src/client/wireHeaders.js";
import { DEADLINE_HEADER } from "../../src/protocol/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
});
afterAll(async () => {
  await server?.dispose();
});

async function roundTrip(h: MsgHdrs | undefined): Promise<Msg[]> {
  const nc = await connect({ servers: server.url });
  const got: Msg[] = [];
  const sub = nc.subscribe("t.deadline", { max: 2, callback: (_e, m) => void got.push(m) });
  nc.publish("t.deadline", "x", h ? { headers: h } : undefined);
  nc.publish("t.deadline", "x", h ? { headers: h } : undefined);
  await sub.closed;
  await nc.close();
  return got;
}

describe("readDeadlineHeader", () => {
  const cases: Array<[string, () => MsgHdrs | undefined]> = [
    ["no headers", () => undefined],
    ["the client's fast headers", () => deadlineHeaders(1_700_000_000_123)],
    ["deadline among other headers", () => {
      const h = headers();
      h.set("X-Before", "Sb-Deadline: 1"); // the key inside a value must not match
      h.set(DEADLINE_HEADER, "1700000000999");
      h.set("X-After", "y");
      return h;
    }],
    ["other headers only", () => {
      const h = headers();
      h.set("X-Other", "1");
      return h;
    }],
    ["different case (headers.get is exact: no match either)", () => {
      const h = headers();
      h.set("sb-deadline", "5");
      return h;
    }],
    ["not a number", () => {
      const h = headers();
      h.set(DEADLINE_HEADER, "soon");
      return h;
    }],
  ];
  for (const [name, make] of cases) {
    it(`agrees with nats.js headers.get: ${name}`, async () => {
      const [fresh, decoded] = await roundTrip(make());
      const viaNats = decoded!.headers?.get(DEADLINE_HEADER) || undefined; // decodes: takes the fallback path next
      expect(readDeadlineHeader(fresh!)).toBe(viaNats);
      expect(readDeadlineHeader(decoded!)).toBe(viaNats);
    });
  }

  it("reads the fast path without decoding the headers", async () => {
    const [m] = await roundTrip(deadlineHeaders(1_700_000_000_123));
    expect(readDeadlineHeader(m!)).toBe("1700000000123");
    expect((m as unknown as { _headers?: unknown })._headers).toBeUndefined();
  });
});
