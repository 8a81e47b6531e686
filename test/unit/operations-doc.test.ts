/**
 * docs/OPERATIONS.md's subject-permission example is the configuration the security chaos test runs
 * against a real nats-server (test/chaos/permissions.ts), and nats-server accepts it as written.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { authorizationConfig } from "../chaos/permissions.js";
import { NATS_SERVER_BIN } from "../helpers/nats-server.js";
import { buildProgram } from "../../src/cli/index.js";

const root = join(import.meta.dirname, "..", "..");
const doc = readFileSync(join(root, "docs", "OPERATIONS.md"), "utf8");
const normalize = (text: string) => text.replace(/\s+/g, " ").trim();

describe("docs/OPERATIONS.md", () => {
  const block = /<!-- permissions-example -->\n```conf\n([\s\S]*?)\n```/.exec(doc)?.[1];

  it("shows exactly the permission config the security test proves", () => {
    expect(block).toBeDefined();
    expect(normalize(block!)).toBe(normalize(authorizationConfig("sb")));
  });

  it("is a configuration nats-server accepts", () => {
    expect(existsSync(NATS_SERVER_BIN), NATS_SERVER_BIN).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), "sb-ops-doc-"));
    try {
      const file = join(dir, "nats.conf");
      writeFileSync(file, `listen: "127.0.0.1:-1"\n${block}\n`);
      const r = spawnSync(NATS_SERVER_BIN, ["-t", "-c", file], { encoding: "utf8" });
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("mentions only flags the CLI has", () => {
    const program = buildProgram();
    const known = new Set<string>();
    for (const c of [program, ...program.commands]) for (const o of c.options) if (o.long) known.add(o.long);
    const flags = new Set([...doc.matchAll(/(?<![\w-])--([a-z][a-z0-9_-]+)/g)].map((m) => `--${m[1]}`));
    // Flags of other programs named in the text.
    const foreign = new Set(["--build", "--rm", "--cluster_name", "--max-semi-space-size"]);
    for (const f of flags) if (!foreign.has(f)) expect(known.has(f), f).toBe(true);
  });
});
