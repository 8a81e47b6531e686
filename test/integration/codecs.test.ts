/**
 * Body codecs end to end (issue 16): a real nats-server, a real coordinator, real agents and
 * clients. Round trips for json, raw, msgpack and a user codec (empty bodies and the largest body
 * under max_payload), the codec in the announce / registry / $SRV.INFO, mismatches answered
 * BAD_REQUEST naming both codecs, throwing user codecs reported on the side that threw with the
 * agent still serving, hostile bodies and headers, lazy decoding and pass-through without a copy.
 */
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { Packr } from "msgpackr";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createAgent, type Agent } from "../../src/agent/index.js";
import { BadReplyError, BadRequestError, RemoteError, createClient, type Client, type ClientOptions, type RegistryCache } from "../../src/client/index.js";
import { createCoordinator } from "../../src/coordinator/index.js";
import { requestSnapshot } from "../../src/gateway/index.js";
import { CODEC_HEADER, DEADLINE_HEADER, Subjects, encoded, type Codec } from "../../src/protocol/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";

/** A user codec (what a protobuf codec from generated code looks like to Switchboard): UTF-8 text. */
const textCodec: Codec<string> = {
  name: "text/utf8",
  encode: (s: string) => {
    if (typeof s !== "string") throw new TypeError("text/utf8 encodes strings only");
    return Buffer.from(s, "utf8");
  },
  decode: (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString("utf8"),
};

/** A user codec whose decode refuses bodies starting with "!" and whose encode refuses "boom". */
const pickyCodec: Codec<string> = {
  name: "picky",
  encode: (s: string) => {
    if (s === "boom") throw new Error("picky cannot encode boom");
    return Buffer.from(s, "utf8");
  },
  decode: (b: Uint8Array) => {
    if (b[0] === 33) throw new Error("picky refuses bodies starting with !");
    return Buffer.from(b).toString("utf8");
  },
};

/** Independent MessagePack implementation settings as the oracle for the wire bytes. */
const oracle = new Packr({ useRecords: false });

let server: NatsServer;
let prefix: string;
let agent: Agent;
let client: Client;
let raw: NatsConnection;
let maxPayload: number;
/** Where the raw endpoint saw its payload: same memory as ctx.data (no copy). */
const rawSeen: { sameMemory?: boolean } = {};

const cleanup: Array<() => Promise<unknown>> = [];
beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
  prefix = uniquePrefix();
  const coordinator = createCoordinator({ servers: server.url, prefix, jetstream: false });
  await coordinator.start();
  cleanup.push(() => coordinator.stop());
  agent = createAgent({ servers: server.url, prefix, service: "codecs", heartbeatMs: 1000 });
  agent.endpoint("json", (p) => p);
  agent.endpoint("raw", (p, ctx) => {
    rawSeen.sameMemory = (p as Uint8Array).buffer === ctx.data.buffer;
    return p;
  }, { codec: "raw" });
  agent.endpoint("msgpack", (p) => p, { codec: "msgpack" });
  agent.endpoint("text", (p) => `echo:${p as string}`, { codec: textCodec });
  agent.endpoint("picky", (p) => p, { codec: pickyCodec });
  agent.endpoint("lazy", (_p, ctx) => (ctx.data[0] === 123 ? ctx.payload() : encoded(ctx.data)), { lazy: true });
  await agent.start();
  cleanup.push(() => agent.stop());
  client = await createClient({ servers: server.url, prefix, codecs: [textCodec, pickyCodec], maxAttempts: 1 } as ClientOptions).start();
  cleanup.push(() => client.close());
  await waitFor(() => (client.registry as RegistryCache).instances("codecs").length === 1, { timeoutMs: 20_000, what: "the agent in the client's registry" });
  raw = await connect({ servers: server.url });
  cleanup.push(() => raw.close());
  maxPayload = raw.info!.max_payload;
});
afterAll(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => {});
  await server?.dispose();
});
afterEach(() => {
  // Whatever a test threw at it, the agent still serves.
  expect(agent.endpoints.size).toBe(6);
});

/** The largest body a call may carry: max_payload less the client's room for subject and headers. */
const ENVELOPE = 256;

describe("round trips per codec", () => {
  it("json: values, empty payload (undefined) and the largest string under max_payload", async () => {
    expect(await client.call("codecs", "json", { a: [1, "x", null] })).toEqual({ a: [1, "x", null] });
    expect(await client.call("codecs", "json")).toBeUndefined();
    const big = "j".repeat(maxPayload - ENVELOPE - 2); // JSON adds the two quotes
    expect(await client.call("codecs", "json", big)).toBe(big);
    await expect(client.call("codecs", "json", `${big}j`)).rejects.toThrow(/exceeds the server's max_payload/);
  });

  it("raw: Uint8Array in and out, unparsed and uncopied on the agent; empty and largest bodies", async () => {
    const bytes = new Uint8Array([0, 255, 1, 254, 13, 10, 123]);
    const reply = await client.call<Uint8Array>("codecs", "raw", bytes);
    expect(reply).toBeInstanceOf(Uint8Array);
    expect([...reply]).toEqual([...bytes]);
    expect(rawSeen.sameMemory).toBe(true);
    const empty = await client.call<Uint8Array>("codecs", "raw", new Uint8Array(0));
    expect(empty).toBeInstanceOf(Uint8Array);
    expect(empty.length).toBe(0);
    const big = new Uint8Array(maxPayload - ENVELOPE).map((_, i) => i % 251);
    const back = await client.call<Uint8Array>("codecs", "raw", big);
    expect(back.length).toBe(big.length);
    expect(Buffer.compare(Buffer.from(back), Buffer.from(big))).toBe(0);
    await expect(client.call("codecs", "raw", new Uint8Array(maxPayload - ENVELOPE + 1))).rejects.toThrow(/exceeds the server's max_payload/);
    await expect(client.call("codecs", "raw", { not: "bytes" })).rejects.toThrow(/raw codec takes a Uint8Array/);
  });

  it("msgpack: the wire bytes are MessagePack; values, empty payload and the largest body", async () => {
    const value = { n: 42, f: 1.5, s: "héllo", list: [true, null, "x"], nested: { deep: [1, 2, 3] }, bin: new Uint8Array([1, 2]) };
    const reply = await client.call<typeof value>("codecs", "msgpack", value);
    expect(reply).toEqual({ ...value, bin: expect.any(Uint8Array) });
    expect([...reply.bin]).toEqual([1, 2]);
    // What travels is MessagePack (checked with an independent encoder), marked with Sb-Codec.
    const h = headers();
    h.set(CODEC_HEADER, "msgpack");
    const m = await raw.request(new Subjects(prefix).service("codecs", "msgpack"), oracle.pack({ k: "v" }), { timeout: 5000, headers: h });
    expect(oracle.unpack(m.data)).toEqual({ k: "v" });
    expect(await client.call("codecs", "msgpack")).toBeUndefined();
    const big = "m".repeat(maxPayload - ENVELOPE - 5); // str32: 5 bytes of header
    expect(await client.call("codecs", "msgpack", big)).toBe(big);
  });

  it("a user codec (known to the client by name from the announce): values and empty body", async () => {
    expect(await client.call("codecs", "text", "hi ✓")).toBe("echo:hi ✓");
    expect(await client.call("codecs", "text", "")).toBe("echo:");
    // Per call, by object, for a client that did not register it.
    const other = await createClient({ servers: server.url, prefix, maxAttempts: 1 } as ClientOptions).start();
    cleanup.push(() => other.close());
    await waitFor(() => (other.registry as RegistryCache).instances("codecs").length === 1, { timeoutMs: 20_000, what: "registry" });
    expect(await other.call("codecs", "text", "x", { codec: textCodec })).toBe("echo:x");
    // Without it, the client says which codec it lacks and sends nothing.
    const err = await other.call("codecs", "text", "x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestError);
    expect((err as BadRequestError).message).toMatch(/uses codec "text\/utf8", which this client does not know/);
    expect((err as BadRequestError).attempts).toEqual([]);
  });
});

describe("the codec is announced", () => {
  it("in the registry, the client's routes and $SRV.INFO", async () => {
    const snap = await requestSnapshot(raw, new Subjects(prefix), { service: "codecs" }, 5000);
    expect(snap.instances[0]!.instance.codecs).toEqual({ raw: "raw", msgpack: "msgpack", text: "text/utf8", picky: "picky" });
    expect(client.endpointCodec("codecs", "raw")).toBe("raw");
    expect(client.endpointCodec("codecs", "json")).toBe("json");
    expect(client.endpointCodec("codecs", "nope")).toBeUndefined();
    const info = (await raw.request(`$SRV.INFO.codecs.${agent.id}`, "", { timeout: 5000 })).json<{ endpoints: Array<{ name: string; metadata: Record<string, string> }> }>();
    const byName = Object.fromEntries(info.endpoints.map((e) => [e.name, e.metadata.codec]));
    expect(byName).toEqual({ json: "json", raw: "raw", msgpack: "msgpack", text: "text/utf8", picky: "picky", lazy: "json" });
  });
});

describe("mismatches are BAD_REQUEST naming both codecs", () => {
  it("json sent to a raw endpoint, msgpack to a json endpoint", async () => {
    const e1 = await client.call("codecs", "raw", { a: 1 }, { codec: "json" }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(BadRequestError);
    expect((e1 as Error).message).toBe("codec mismatch: endpoint raw of service codecs uses codec raw, the request is encoded as json (no Sb-Codec header)");
    const e2 = await client.call("codecs", "json", { a: 1 }, { codec: "msgpack" }).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(BadRequestError);
    expect((e2 as Error).message).toBe('codec mismatch: endpoint json of service codecs uses codec json, the request is encoded as "msgpack"');
  });

  it("a hostile Sb-Codec value is quoted and bounded in the error", async () => {
    const h = headers();
    h.set(CODEC_HEADER, `${"x".repeat(500)}\u0007`);
    const m = await raw.request(new Subjects(prefix).instance("codecs", agent.id, "raw"), "x", { timeout: 5000, headers: h });
    expect(m.headers?.get("Nats-Service-Error-Code")).toBe("400");
    const msg = m.headers?.get("Nats-Service-Error") ?? "";
    expect(msg).toMatch(/^codec mismatch: endpoint raw of service codecs uses codec raw, the request is encoded as "x{64}…"$/);
  });
});

describe("codecs that throw", () => {
  it("agent-side decode: BAD_REQUEST naming the codec; agent-side encode: INTERNAL; the agent keeps serving", async () => {
    const e1 = await client.call("codecs", "picky", "!bad").catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(BadRequestError);
    expect((e1 as Error).message).toBe("request body cannot be decoded with codec picky (4 bytes): picky refuses bodies starting with !");
    // The same codec name on the client, without the refusal, so the agent's encode is what throws.
    const lenient: Codec<string> = { ...pickyCodec, encode: (s: string) => Buffer.from(s, "utf8") };
    const e2 = await client.call("codecs", "picky", "boom", { codec: lenient }).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(RemoteError);
    expect((e2 as RemoteError).code).toBe("INTERNAL");
    expect((e2 as Error).message).toBe("handler returned a value that cannot be encoded with codec picky: picky cannot encode boom");
    expect(await client.call("codecs", "picky", "fine")).toBe("fine");
  });

  it("client-side encode: BadRequestError, nothing sent; client-side decode: BadReplyError", async () => {
    const e1 = await client.call("codecs", "picky", "boom").catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(BadRequestError);
    expect((e1 as Error).message).toBe("codecs.picky: payload cannot be encoded with codec picky: picky cannot encode boom");
    expect((e1 as BadRequestError).attempts).toEqual([]);
    // The agent answers "echo:ok"; the client's codec throws reading it.
    const throwsOnDecode: Codec<string> = { name: "text/utf8", encode: (s) => Buffer.from(s), decode: () => { throw new Error("cannot read this"); } };
    const e2 = await client.call("codecs", "text", "ok", { codec: throwsOnDecode }).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(BadReplyError);
    expect((e2 as Error).message).toMatch(/^codecs\.text: reply from instance .+ cannot be decoded with codec text\/utf8 \(7 bytes\): cannot read this$/);
    const notBytes = { name: "text/utf8", encode: () => "a string" as unknown as Uint8Array, decode: (b: Uint8Array) => b };
    await expect(client.call("codecs", "text", "x", { codec: notBytes })).rejects.toThrow(/codec text\/utf8 returned string from encode\(\), not a Uint8Array/);
  });

  it("hostile MessagePack (truncated, 100 000 nested arrays) is BAD_REQUEST, never a crash", async () => {
    const h = headers();
    h.set(CODEC_HEADER, "msgpack");
    const subject = new Subjects(prefix).instance("codecs", agent.id, "msgpack");
    for (const body of [new Uint8Array([0xdb, 0xff, 0xff, 0xff, 0xff, 0x61]), new Uint8Array(100_000).fill(0x91)]) {
      const m = await raw.request(subject, body, { timeout: 5000, headers: h });
      expect(m.headers?.get("Nats-Service-Error-Code")).toBe("400");
      expect(m.headers?.get("Nats-Service-Error")).toMatch(/^request body cannot be decoded with codec msgpack/);
    }
    expect(await client.call("codecs", "msgpack", [1])).toEqual([1]);
  });
});

describe("lazy decoding", () => {
  it("a lazy endpoint forwards a body it never decoded, and decodes on request", async () => {
    const h = headers();
    h.set(DEADLINE_HEADER, String(Date.now() + 5000));
    const subject = new Subjects(prefix).instance("codecs", agent.id, "lazy");
    // Not JSON at all: an eager endpoint would refuse it; the lazy one passes it through untouched.
    const m = await raw.request(subject, "not json <>", { timeout: 5000, headers: h });
    expect(m.headers?.get("Nats-Service-Error-Code") ?? "").toBe("");
    expect(m.string()).toBe("not json <>");
    // Decoding on request: valid JSON comes back decoded and re-encoded; invalid JSON is BAD_REQUEST.
    expect(await client.call("codecs", "lazy", { a: 1 })).toEqual({ a: 1 });
    const bad = await raw.request(subject, "{oops", { timeout: 5000 });
    expect(bad.headers?.get("Nats-Service-Error")).toBe("request body is not valid JSON");
  });
});
