/**
 * What a newcomer sees: `switchboard demo` (as `npm start` runs it) prints the console's URL, and the
 * page shows the demo's story live, without a reload — three instances up, calls flowing, one
 * SIGKILLed instance going down while calls keep succeeding (failover), its InstanceDown alert and
 * the mail sent for it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import { buildWeb } from "../../scripts/build-web.mjs";
import { artifactDir, launchChromium, type TestBrowser } from "../helpers/browser.js";
import { killAllCli, startCli } from "../helpers/cli.js";
import { freePort } from "../helpers/nats-server.js";

describe("the demo's console", () => {
  let browser: TestBrowser | undefined;
  const dirs: string[] = [];
  afterAll(async () => {
    await browser?.close();
    await killAllCli();
    dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  }, 60_000);

  it("shows the demo's instances, the kill, failover without errors, the alert and its mail", async () => {
    await buildWeb(); // dist/web, where the CLI run from source finds the page
    const port = await freePort();
    const mailDir = mkdtempSync(join(tmpdir(), "sb-demo-mail-"));
    dirs.push(mailDir);
    const demo = startCli(["demo", "--json", "--duration", "40s", "--kill-after", "12s", "--console-port", "0", "--mail-dir", mailDir], {
      env: { NATS_URL: `nats://127.0.0.1:${port}` },
    });
    const url = JSON.parse((await demo.waitFor(/^\{.*"kind":"console".*\}$/m, { timeoutMs: 60_000 }))[0]).url as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    browser = await launchChromium();
    const page: Page = await browser.context.newPage();
    const shots = artifactDir("console-demo");

    await page.goto(`${url}#/service/echo`);
    await page.evaluate("window.__loadedOnce = 1");
    const rows = page.locator(".vbody [role=row]");
    await expect.poll(() => rows.filter({ has: page.locator(".badge.s-up") }).count(), { timeout: 30_000 }).toBe(3);

    // The kill: one row turns down, live.
    const kill = JSON.parse((await demo.waitFor(/^\{.*"kind":"kill".*\}$/m, { timeoutMs: 40_000 }))[0]) as { id: string };
    await expect.poll(async () => (await rows.filter({ hasText: kill.id }).textContent()) ?? "", { timeout: 15_000 }).toMatch(/down/);
    await page.screenshot({ path: join(shots, "demo-service-after-kill.png"), fullPage: true });

    // Failover: the calls go on, without errors, on the services page.
    await page.getByRole("navigation").getByRole("link", { name: "Services" }).click();
    const echo = page.getByRole("row").filter({ has: page.getByRole("link", { name: "echo", exact: true }) });
    await expect.poll(async () => (await echo.textContent()) ?? "", { timeout: 15_000 }).toMatch(/^echo2 · 1 down.*[1-9][0-9.]*\/s0%/);

    // The alert and its mail.
    await page.getByRole("link", { name: /^Alerts/ }).click();
    const card = page.getByRole("article", { name: new RegExp(`firing alert InstanceDown on echo instance ${kill.id}`) });
    await card.waitFor({ timeout: 20_000 });
    await expect.poll(async () => (await card.locator(".mails").textContent()) ?? "", { timeout: 20_000 }).toMatch(/firing · route default/);
    await page.screenshot({ path: join(shots, "demo-alerts.png"), fullPage: true });
    expect(await page.evaluate("window.__loadedOnce")).toBe(1);

    expect(await demo.stop("SIGINT", 30_000)).toBe(0);
  }, 150_000);
});
