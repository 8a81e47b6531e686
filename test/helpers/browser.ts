/** Chromium for browser tests (the launcher the console benchmark uses too) and a folder for artifacts. */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./cli.js";

export { launchChromium, CHROMIUM_BIN, type TestBrowser } from "../../bench/common/chromium.js";

/** Folder for screenshots and other test artifacts (gitignored). */
export function artifactDir(name: string): string {
  const dir = join(ROOT, "test-artifacts", name);
  mkdirSync(dir, { recursive: true });
  return dir;
}
