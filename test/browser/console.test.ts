/**
 * The operator console in a real Chromium (playwright-core driving Debian's chromium), against a
 * real system: nats-server, a coordinator process, a collector, a notifier process mailing to a
 * real SMTP server, and agent processes. One instance is SIGKILLed: the page (never reloaded) must
 * show it suspect/down, the instance_down alert must appear, and its Acknowledge button must store
 * an acknowledgement at the notifier (checked in the notifier's KV bucket over NATS). Hostile text
 * that can legally reach the page (version, tags, metadata, alert labels and annotations) must
 * render as text. Screenshots of every view go to test-artifacts/console/.
 */
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildWeb } from "../../scripts/build-web.mjs";
import { createConsole, type Console } from "../../src/console/index.js";
import { createCollector, prefixName, type Collector } from "../../src/monitor/index.js";
import { Subjects, decodeJson, encodeJson, validatorFor } from "../../src/protocol/index.js";
import { writeRules } from "../helpers/alerting.js";
import { artifactDir, launchChromium, type TestBrowser } from "../helpers/browser.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startAgentProcess, startFixture, type FixtureProcess } from "../helpers/processes.js";
import { startSmtpServer, type TestSmtpServer } from "../helpers/smtp.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";

const XSS_VERSION = "<img src=x onerror=window.__xss=1>";
const XSS_TAG = "<script>window.__xss=4</script>";
const XSS_LABEL = '"><svg onload=window.__xss=3>';
const XSS_SUMMARY = "<b>bold?</b><img src=x onerror=window.__xss=2> instance {{ $labels.instance }} is down";

describe("operator console in Chromium", { timeout: 120_000 }, () => {
  let nats: NatsServer;
  let smtp: TestSmtpServer;
  let nc: NatsConnection;
  let collector: Collector;
  let web: Console;
  let browser: TestBrowser;
  let page: Page;
  const procs: FixtureProcess[] = [];
  const prefix = uniquePrefix();
  const shots = artifactDir("console");
  let webRoot: string;
  let traffic = true;
  let trafficLoop: Promise<void> | undefined;

  beforeAll(async () => {
    [nats, smtp] = await Promise.all([startNatsServer(), startSmtpServer()]);
    const env = { NATS_URL: nats.url, SB_PREFIX: prefix };
    // Side by side: each child process takes seconds to boot on a busy machine.
    const [build, coordinator, notifier] = await Promise.all([
      buildWeb(join(artifactDir("console-build"), "web")),
      startFixture("coordinator-process.ts", { ...env, SB_COORDINATOR_ID: "coord-1", SB_REMOVE_AFTER_INTERVALS: "1000" }, 60_000),
      startFixture(
        "notifier-process.ts",
        {
          ...env,
          SB_NOTIFIER_ID: "notifier-1",
          SMTP_HOST: "127.0.0.1",
          SMTP_PORT: String(smtp.port),
          SMTP_FROM: "switchboard@example.com",
          SMTP_TO: "oncall@example.com",
        },
        60_000,
      ),
    ]);
    webRoot = build.outDir;
    procs.push(coordinator, notifier);
    nc = await connect({ servers: nats.url });
    collector = createCollector({
      nats: nc,
      prefix,
      id: "collector-1",
      evaluationIntervalMs: 200,
      evaluationDelayMs: 100,
      rules: writeRules(
        JSON.stringify({
          rules: [{ name: "InstanceDown", service: "*", metric: "instance_down", severity: "critical", by: "instance", labels: { team: XSS_LABEL }, annotations: { summary: XSS_SUMMARY } }],
        }),
        "rules.json",
      ),
    });
    await collector.start();
    web = await createConsole({ nats: nc, prefix, port: 0, webRoot, flushMs: 250, metricsStepMs: 1000 }).start();
    const agentEnv = { ...env, SB_HEARTBEAT_MS: "200", SB_VERSION: XSS_VERSION, SB_TAGS: JSON.stringify([XSS_TAG, "zone-a"]), SB_METADATA: JSON.stringify({ owner: XSS_LABEL }) };
    const agents = await Promise.all([1, 2, 3].map(() => startAgentProcess(agentEnv)));
    procs.push(...agents);
    procs.push(await startAgentProcess({ ...env, SB_SERVICE: "billing", SB_HEARTBEAT_MS: "200", SB_VERSION: "2.4.1" }));
    // Calls over the queue-group subject, so the collector has rates and latencies to show.
    const subjects = new Subjects(prefix);
    trafficLoop = (async () => {
      while (traffic) {
        await nc.request(subjects.service("echo", "echo"), encodeJson({ n: 1 }), { timeout: 500 }).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.on("pageerror", (err) => console.error("page error:", err.message));
  }, 150_000);

  afterAll(async () => {
    traffic = false;
    await trafficLoop;
    await browser?.close();
    await web?.stop();
    await collector?.stop();
    await Promise.all(procs.map((p) => p.stop()));
    await nc?.close();
    await smtp?.dispose();
    await nats?.dispose();
  }, 60_000);

  it("shows the services and instances, a SIGKILLed instance going down live, its alert, and acknowledges it over NATS", async () => {
    await page.goto(web.url);
    await page.evaluate("window.__loadedOnce = 1");

    // Services: both services, with echo's three instances up.
    const echoRow = page.getByRole("row").filter({ has: page.getByRole("link", { name: "echo", exact: true }) });
    await expect.poll(async () => (await echoRow.textContent()) ?? "", { timeout: 20_000 }).toMatch(/^echo3\b/);
    await expect.poll(() => page.getByRole("link", { name: "billing", exact: true }).count(), { timeout: 10_000 }).toBe(1);
    await page.screenshot({ path: join(shots, "services.png") });

    // The API answers what its schemas say.
    const snapshot = (await (await fetch(`${web.url}api/snapshot`)).json()) as unknown;
    expect(validatorFor("console-snapshot")(snapshot), JSON.stringify(validatorFor("console-snapshot").errors)).toBe(true);

    // Service detail: three instances, hostile version/tags as text.
    await page.getByRole("link", { name: "echo", exact: true }).click();
    await expect.poll(() => page.getByRole("row").filter({ hasText: XSS_VERSION }).count(), { timeout: 10_000 }).toBe(3);
    expect(await page.getByText(XSS_TAG, { exact: true }).count()).toBe(3);
    const detail = (await (await fetch(`${web.url}api/services/echo`)).json()) as unknown;
    expect(validatorFor("console-service")(detail)).toBe(true);
    await page.screenshot({ path: join(shots, "service-detail.png"), fullPage: true });

    // SIGKILL one instance: its row turns suspect, then down, without a reload.
    const victim = procs.find((p) => p.ready && procs.indexOf(p) === 3)!;
    await victim.kill();
    const victimRow = page.getByRole("row").filter({ hasText: victim.ready });
    await expect.poll(async () => (await victimRow.textContent()) ?? "", { timeout: 15_000 }).toMatch(/suspect|down/);
    await expect.poll(async () => (await victimRow.textContent()) ?? "", { timeout: 15_000 }).toMatch(/down/);
    expect(await page.evaluate("window.__loadedOnce")).toBe(1);
    await page.screenshot({ path: join(shots, "service-detail-after-kill.png"), fullPage: true });

    // Alerts: the InstanceDown alert of the victim, with hostile labels and annotations as text, and its mail.
    await page.getByRole("link", { name: /^Alerts/ }).click();
    const card = page.getByRole("article", { name: new RegExp(`firing alert InstanceDown on echo instance ${victim.ready}`) });
    await card.waitFor({ timeout: 15_000 });
    await expect.poll(() => card.getByText(XSS_LABEL, { exact: true }).count()).toBe(1);
    await expect.poll(() => card.getByText(`<b>bold?</b><img src=x onerror=window.__xss=2> instance ${victim.ready} is down`, { exact: true }).count()).toBe(1);
    await expect.poll(async () => (await card.locator(".mails").textContent()) ?? "", { timeout: 15_000 }).toMatch(/firing · route default/);

    // Acknowledge for 1 hour: the page says so, and the notifier stored it (read over NATS).
    await card.getByLabel("Acknowledge for").selectOption({ label: "1 hour" });
    await card.getByLabel("Comment").fill("looking <i>now</i>");
    await card.getByRole("button", { name: "Acknowledge" }).click();
    await expect.poll(async () => (await card.getByRole("status").first().textContent()) ?? "", { timeout: 10_000 }).toMatch(/acknowledged by notifier notifier-1 until|Acknowledged by console/);
    const fingerprint = /fingerprint ([0-9a-f]{16})/.exec((await card.textContent()) ?? "")![1]!;
    const kv = await new Kvm(jetstream(nc)).open(`${prefixName(prefix)}_notify_state`);
    const entry = await kv.get(`ack.${fingerprint}`);
    expect(entry?.operation).toBe("PUT");
    const stored = decodeJson(entry!.value) as { by: string; until: number; comment: string };
    expect(stored.by).toBe("console");
    expect(stored.comment).toBe("looking <i>now</i>");
    expect(stored.until).toBeGreaterThan(Date.now() + 3_500_000);
    expect(stored.until).toBeLessThan(Date.now() + 3_700_000);
    await expect.poll(async () => (await card.locator(".acked").textContent()) ?? "", { timeout: 10_000 }).toContain("Acknowledged by console");
    await page.screenshot({ path: join(shots, "alerts.png"), fullPage: true });

    // Events: the victim's transitions, filtered by state.
    await page.getByRole("link", { name: "Events" }).click();
    await page.getByLabel("State").selectOption("down");
    await expect.poll(() => page.getByRole("row").filter({ hasText: victim.ready }).count(), { timeout: 10_000 }).toBe(1);
    await page.getByLabel("State").selectOption("all");
    await page.screenshot({ path: join(shots, "events.png") });

    // Nothing hostile ran, nothing hostile became an element.
    expect(await page.evaluate("window.__xss")).toBeUndefined();
    expect(await page.locator("main img, main svg[onload], main script, main b").count()).toBe(0);

    // A phone-width window: the services view still fits.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole("link", { name: "Services" }).click();
    await expect.poll(async () => (await echoRow.textContent()) ?? "").toMatch(/down/);
    const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - document.documentElement.clientWidth");
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(shots, "services-phone.png") });
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it("moves through the services list with the keyboard", async () => {
    await page.goto(`${web.url}#/services`);
    const rows = page.locator(".vbody [role=row]");
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
    await rows.first().focus();
    await page.keyboard.press("ArrowDown");
    await expect.poll(() => page.evaluate<string | null>("document.activeElement?.getAttribute('data-index') ?? null")).toBe("1");
    const focused = await page.evaluate<string>("document.activeElement?.textContent ?? ''");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.evaluate<string>("location.hash")).toMatch(/^#\/service\//);
    expect(focused.startsWith(decodeURIComponent((await page.evaluate<string>("location.hash")).slice("#/service/".length)))).toBe(true);
  });
});
