/**
 * docs/PROTOCOL.md promises that its JSON examples are valid messages: every ```json block marked
 * `<!-- validate: <schema> -->` is validated against schemas/<schema>.json, every message schema has
 * at least one example, and every schema file the doc links to exists.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeErrors, validatorFor } from "../../src/protocol/index.js";

const root = join(import.meta.dirname, "..", "..");
const doc = readFileSync(join(root, "docs", "PROTOCOL.md"), "utf8");
const examples = [...doc.matchAll(/<!-- validate: ([a-z-]+) -->\n```json\n([\s\S]*?)\n```/g)].map((m) => ({ schema: m[1]!, text: m[2]! }));

describe("docs/PROTOCOL.md", () => {
  it("has validated examples", () => {
    expect(examples.length).toBeGreaterThanOrEqual(15);
  });

  it.each(examples.map((e, i) => [`${e.schema} #${i + 1}`, e] as const))("example %s is a valid message", (_name, e) => {
    const value = JSON.parse(e.text);
    const validate = validatorFor(e.schema);
    expect(validate(value), describeErrors(validate.errors)).toBe(true);
  });

  it("shows an example of every message on the wire", () => {
    const wire = ["announce", "heartbeat", "leave", "sync", "registry-query", "registry-snapshot", "registry-event", "register", "register-reply", "error", "metrics", "alert", "alert-ack", "alert-ack-reply", "monitor-query"];
    const shown = new Set(examples.map((e) => e.schema));
    for (const kind of wire) expect(shown.has(kind), kind).toBe(true);
  });

  it("links only schema files that exist, and mentions every message schema", () => {
    const linked = [...doc.matchAll(/\.\.\/schemas\/([a-z-]+\.json)/g)].map((m) => m[1]!);
    for (const file of linked) expect(existsSync(join(root, "schemas", file)), file).toBe(true);
    const internal = new Set(["common.json", "config.json", "alert-rules.json"]);
    for (const file of readdirSync(join(root, "schemas"))) {
      if (internal.has(file)) continue;
      expect(doc.includes(file), `PROTOCOL.md mentions ${file}`).toBe(true);
    }
  });

  it("names the error headers and codes the protocol module uses", async () => {
    const { ERROR_CODE_HEADER, ERROR_MESSAGE_HEADER, DEADLINE_HEADER, ErrorCode, statusForCode } = await import("../../src/protocol/index.js");
    for (const h of [ERROR_CODE_HEADER, ERROR_MESSAGE_HEADER, DEADLINE_HEADER]) expect(doc).toContain(`\`${h}\``);
    for (const code of Object.values(ErrorCode)) expect(doc).toMatch(new RegExp(`\\| \`${code}\` \\| ${statusForCode(code)} \\|`));
  });
});
