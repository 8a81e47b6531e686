/**
 * Debian's Chromium driven by playwright-core (no browser download): headless, no sandbox (tests
 * run as root), no background traffic, and a fresh profile folder removed on close. Used by the
 * browser tests and the console benchmark.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

/** Where Chromium is (CHROMIUM_BIN overrides; .ci/run installs Debian's package). */
export const CHROMIUM_BIN = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";

/** A Chromium with its own profile folder. */
export interface TestBrowser {
  readonly context: BrowserContext;
  /** Ends Chromium and deletes the profile. */
  close(): Promise<void>;
}

/** Starts Chromium with a fresh profile. */
export async function launchChromium(viewport = { width: 1280, height: 800 }): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), "sb-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_BIN,
    headless: true,
    viewport,
    args: [
      "--no-sandbox",
      "--headless",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-dev-shm-usage",
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    },
  };
}
