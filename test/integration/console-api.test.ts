/**
 * The console's HTTP API against a real nats-server, attacked: bearer tokens (header and session
 * cookie), malformed paths, queries and bodies, acks with no notifier listening, hostile messages
 * in the alert stream and the notifier's buckets; responses and live events checked against
 * their schemas; caching headers of the page's assets.
 */
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildWeb } from "../../scripts/build-web.mjs";
import { createAgent, type Agent } from "../../src/agent/index.js";
import { createConsole, type Console } from "../../src/console/index.js";
import { createCoordinator, type Coordinator } from "../../src/coordinator/index.js";
import { ensureAlertStream, prefixName } from "../../src/monitor/index.js";
import { Subjects, encodeJson, validatorFor } from "../../src/protocol/index.js";
import { alertEvent, publishAlert } from "../helpers/alerting.js";
import { artifactDir } from "../helpers/browser.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";

const TOKEN = "s3cret-token";

function valid(kind: string, body: unknown): boolean {
  const v = validatorFor(kind);
  if (!v(body)) throw new Error(`${kind}: ${JSON.stringify(v.errors)}`);
  return true;
}

/** Reads Server-Sent Events from a fetch body until `until` returns true for one (or the time runs out). */
async function readEvents(url: string, headers: Record<string, string>, until: (e: { event: string; data: unknown }) => boolean, timeoutMs = 10_000) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  const seen: Array<{ event: string; data: unknown }> = [];
  try {
    const res = await fetch(url, { headers, signal: ctl.signal });
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let cut: number;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const event = /^event: (.+)$/m.exec(block)?.[1];
        const data = /^data: (.+)$/m.exec(block)?.[1];
        if (!event || !data) continue;
        const e = { event, data: JSON.parse(data) as unknown };
        seen.push(e);
        if (until(e)) return seen;
      }
    }
  } finally {
    clearTimeout(timer);
    ctl.abort();
  }
  return seen;
}

describe("console API", () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let coordinator: Coordinator;
  let web: Console;
  let agent: Agent | undefined;
  const prefix = uniquePrefix();
  const subjects = new Subjects(prefix);
  const auth = { authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    const { outDir } = await buildWeb(join(artifactDir("console-api-build"), "web"));
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    coordinator = createCoordinator({ nats: nc, prefix, id: "c1" });
    await coordinator.start();
    await ensureAlertStream(await jetstreamManager(nc), subjects, { storage: "memory" });
    web = await createConsole({ nats: nc, prefix, port: 0, authTokens: [TOKEN], webRoot: outDir, flushMs: 100, metricsStepMs: 500, requestTimeoutMs: 1000 }).start();
  });

  afterAll(async () => {
    await agent?.stop();
    await web?.stop();
    await coordinator?.stop();
    await nc?.close();
    await nats?.dispose();
  });

  it("requires the bearer token on the API (header or session cookie), never on the page", async () => {
    const none = await fetch(`${web.url}api/snapshot`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(valid("console-error", await none.json())).toBe(true);
    expect((await fetch(`${web.url}api/snapshot`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    expect((await fetch(`${web.url}api/stream`)).status).toBe(401);

    const ok = await fetch(`${web.url}api/snapshot`, { headers: auth });
    expect(ok.status).toBe(200);
    expect(valid("console-snapshot", await ok.json())).toBe(true);

    expect(await (await fetch(`${web.url}api/session`)).json()).toEqual({ authRequired: true, authenticated: false });
    const bad = await fetch(`${web.url}api/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token: "nope" }) });
    expect(bad.status).toBe(401);
    const login = await fetch(`${web.url}api/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token: TOKEN }) });
    expect(login.status).toBe(200);
    const cookie = login.headers.get("set-cookie")!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const withCookie = await fetch(`${web.url}api/snapshot`, { headers: { cookie: cookie.split(";")[0]! } });
    expect(withCookie.status).toBe(200);

    const page = await fetch(web.url);
    expect(page.status).toBe(200);
    expect(page.headers.get("cache-control")).toBe("no-cache");
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = await page.text();
    const js = /src="\/(main-[A-Z0-9]{8}\.js)"/.exec(html)![1]!;
    const asset = await fetch(`${web.url}${js}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(html).not.toMatch(/https?:\/\//);
  });

  it("refuses malformed paths, queries and bodies with a clear 4xx", async () => {
    const get = (path: string) => fetch(`${web.url}${path}`, { headers: auth });
    const ack = (fp: string, body: string, type = "application/json") => fetch(`${web.url}api/alerts/${fp}/ack`, { method: "POST", headers: { ...auth, "content-type": type }, body });

    for (const [res, status, code] of [
      [await get("api/services/__proto__"), 404, "NOT_FOUND"],
      [await get("api/services/constructor"), 404, "NOT_FOUND"],
      [await get("api/services/a.b"), 400, "BAD_REQUEST"],
      [await get(`api/snapshot?service=${encodeURIComponent("<script>")}`), 400, "BAD_REQUEST"],
      [await get(`api/stream?service=${encodeURIComponent("x y")}`), 400, "BAD_REQUEST"],
      [await get("api/nothing"), 404, "NOT_FOUND"],
      [await ack("XYZ", JSON.stringify({ durationMs: 3_600_000 })), 400, "BAD_REQUEST"],
      [await ack("0123456789abcdef", JSON.stringify({ durationMs: 3_600_000, extra: 1 })), 400, "BAD_REQUEST"],
      [await ack("0123456789abcdef", JSON.stringify({ durationMs: 10 })), 400, "BAD_REQUEST"],
      [await ack("0123456789abcdef", JSON.stringify({ durationMs: "1h" })), 400, "BAD_REQUEST"],
      [await ack("0123456789abcdef", "{not json"), 400, "BAD_REQUEST"],
      [await ack("0123456789abcdef", "durationMs=1", "application/x-www-form-urlencoded"), 415, "UNSUPPORTED_MEDIA_TYPE"],
      [await ack("0123456789abcdef", JSON.stringify({ durationMs: 3_600_000, comment: "x".repeat(40_000) })), 413, "PAYLOAD_TOO_LARGE"],
    ] as const) {
      expect(res.status, res.url).toBe(status);
      const body = (await res.json()) as { error: { code: string } };
      expect(valid("console-error", body)).toBe(true);
      expect(body.error.code, res.url).toBe(code);
    }
  });

  it("answers an ack with 503 when no notifier listens: nothing was stored", async () => {
    const res = await fetch(`${web.url}api/alerts/0123456789abcdef/ack`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ durationMs: 3_600_000 }) });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string; message: string } }).error).toEqual({
      code: "NO_NOTIFIER",
      message: `no notifier answers on ${prefix}.alerts.ack: the acknowledgement was not stored`,
    });
  });

  it("skips hostile alert-stream messages and bucket records and keeps showing valid ones", async () => {
    const js = jetstream(nc);
    await js.publish(subjects.alert("critical", "pay"), encodeJson({ v: 1, fingerprint: "__proto__", status: "firing" }));
    await js.publish(subjects.alert("critical", "pay"), new TextEncoder().encode("{not json"));
    const kvm = new Kvm(js);
    const state = await kvm.create(`${prefixName(prefix)}_notify_state`, { history: 1 });
    await state.put("ack.__proto__", encodeJson({ by: "x", at: 1 }));
    await state.put("ack.0123456789abcdef", new TextEncoder().encode("[1,2"));
    const sent = await kvm.create(`${prefixName(prefix)}_notify_sent`, { history: 1 });
    await sent.put("default.__proto__.firing.1", encodeJson({ at: 1 }));
    const good = alertEvent({ rule: "HighErrors", service: "pay", annotations: { summary: "<img src=x onerror=alert(1)>" } });
    await publishAlert(js, subjects, good);
    await state.put(`ack.${good.fingerprint}`, encodeJson({ by: "ops@example.com", at: 5, until: 6, comment: "on it" }));
    await sent.put(`default.${good.fingerprint}.firing.${good.startsAt}`, encodeJson({ at: 7, messageId: "<m1@x>" }));

    await waitFor(
      async () => {
        const snap = (await (await fetch(`${web.url}api/snapshot`, { headers: auth })).json()) as { alerts: Array<{ fingerprint: string; ack?: unknown; mails: unknown[] }> };
        const a = snap.alerts.find((x) => x.fingerprint === good.fingerprint);
        return snap.alerts.length === 1 && a?.ack !== undefined && a.mails.length === 1;
      },
      { timeoutMs: 10_000, what: "the valid alert with its ack and mail" },
    );
    const snap = (await (await fetch(`${web.url}api/snapshot`, { headers: auth })).json()) as { alerts: unknown[] };
    expect(valid("console-snapshot", snap)).toBe(true);
    expect(snap.alerts).toEqual([
      expect.objectContaining({
        fingerprint: good.fingerprint,
        annotations: { summary: "<img src=x onerror=alert(1)>" },
        group: 'alertname="HighErrors", service="pay", severity="critical"',
        ack: { by: "ops@example.com", at: 5, until: 6, comment: "on it" },
        mails: [{ route: "default", status: "firing", at: 7, messageId: "<m1@x>" }],
      }),
    ]);
  });

  it("streams a snapshot, then batched updates a registry change causes, each matching its schema", async () => {
    const events = readEvents(`${web.url}api/stream?service=orders`, auth, (e) => e.event === "update" && (e.data as { detail?: { instances: unknown[] } }).detail?.instances.length === 1);
    agent = createAgent({ service: "orders", servers: nats.url, prefix, heartbeatMs: 200, version: "9.9.9" });
    agent.endpoint("place", async () => "ok");
    await agent.start();
    const seen = await events;
    expect(seen[0]!.event).toBe("snapshot");
    expect(valid("console-snapshot", seen[0]!.data)).toBe(true);
    const updates = seen.filter((e) => e.event === "update");
    expect(updates.length).toBeGreaterThan(0);
    for (const u of updates) expect(valid("console-update", u.data)).toBe(true);
    const last = updates.at(-1)!.data as { detail: { instances: Array<{ view: { instance: { version: string }; state: string } }> } };
    expect(last.detail.instances[0]!.view.instance.version).toBe("9.9.9");
    expect(last.detail.instances[0]!.view.state).toBe("up");
  });
});
