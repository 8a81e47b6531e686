import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// One configuration story: library code takes options; only the CLI (src/cli) turns the environment,
// a config file and flags into options (src/cli/settings.ts). A `process.env` anywhere else in src/ is a
// second, hidden configuration path (eight constructors once read SB_PREFIX, one forgot).
const SRC = fileURLToPath(new URL("../../src", import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return relative(SRC, path) === "cli" ? [] : sourceFiles(path);
    return /\.(ts|js|mjs)$/.test(e.name) ? [path] : [];
  });
}

describe("library code reads no environment", () => {
  it("no file in src/ outside src/cli mentions process.env", () => {
    const files = sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(50);
    const offenders = files
      .flatMap((f) => readFileSync(f, "utf8").split("\n").map((line, i) => ({ f, line, i })))
      .filter(({ line }) => /process\s*\.\s*env|process\s*\[\s*["']env["']\s*\]/.test(line))
      .map(({ f, line, i }) => `${relative(SRC, f)}:${i + 1}: ${line.trim()}`);
    expect(offenders).toEqual([]);
  });
});
