/**
 * The package's API surface as text: every name exported by an entry point with what it is
 * (`class`, `function`, `const`, `interface`, `type`, `enum`; `type-only` when exported with `export type`).
 *
 * `npm run api:update` rewrites `api.txt` (the public entry, src/index.ts) and `api-internal.txt`
 * (`switchboard/internal`, src/internal.ts); `test/unit/api-surface.test.ts` fails when either differs,
 * so a change of the public surface is always a reviewed diff of those files.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import ts from "typescript";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Entry point → snapshot file. */
export const ENTRIES = [
  { entry: "src/index.ts", snapshot: "api.txt" },
  { entry: "src/internal.ts", snapshot: "api-internal.txt" },
] as const;

function kindOf(sym: ts.Symbol): string {
  const f = sym.flags;
  if (f & ts.SymbolFlags.Class) return "class";
  if (f & ts.SymbolFlags.Enum) return "enum";
  if (f & ts.SymbolFlags.Function) return "function";
  if (f & ts.SymbolFlags.Variable) return "const";
  if (f & ts.SymbolFlags.Interface) return "interface";
  if (f & ts.SymbolFlags.TypeAlias) return "type";
  if (f & ts.SymbolFlags.Namespace) return "namespace";
  return "other";
}

function isTypeOnlyExport(checker: ts.TypeChecker, sym: ts.Symbol): boolean {
  // Follow the chain of re-exports: any `export type` on the way makes the name type-only for users.
  let s: ts.Symbol | undefined = sym;
  for (let i = 0; s && s.flags & ts.SymbolFlags.Alias && i < 20; i++) {
    for (const d of s.declarations ?? []) {
      if (ts.isExportSpecifier(d) && (d.isTypeOnly || d.parent.parent.isTypeOnly)) return true;
      if (ts.isExportDeclaration(d) && d.isTypeOnly) return true;
    }
    s = checker.getImmediateAliasedSymbol(s);
  }
  return false;
}

/** The sorted `name kind` lines of each entry point (one program for both). */
export function computeApiSurfaces(): Map<string, string> {
  const configPath = join(ROOT, "tsconfig.json");
  const config = ts.readConfigFile(configPath, ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  const program = ts.createProgram(
    ENTRIES.map((e) => join(ROOT, e.entry)),
    { ...parsed.options, noEmit: true },
  );
  const checker = program.getTypeChecker();
  const out = new Map<string, string>();
  for (const { entry, snapshot } of ENTRIES) {
    const file = program.getSourceFile(join(ROOT, entry));
    if (!file) throw new Error(`${entry} not found`);
    const moduleSym = checker.getSymbolAtLocation(file);
    if (!moduleSym) throw new Error(`${entry} is not a module`);
    const lines = checker.getExportsOfModule(moduleSym).map((sym) => {
      const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
      const kind = kindOf(target);
      return `${sym.getName()} ${kind}${isTypeOnlyExport(checker, sym) && kind !== "interface" && kind !== "type" ? " type-only" : ""}`;
    });
    lines.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    out.set(snapshot, lines.join("\n") + "\n");
  }
  return out;
}

export function readSnapshot(snapshot: string): string {
  try {
    return readFileSync(join(ROOT, snapshot), "utf8");
  } catch {
    return "";
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const write = process.argv.includes("--write");
  let stale = false;
  for (const [snapshot, text] of computeApiSurfaces()) {
    if (readSnapshot(snapshot) === text) continue;
    stale = true;
    if (write) {
      writeFileSync(join(ROOT, snapshot), text);
      process.stdout.write(`wrote ${snapshot} (${text.split("\n").length - 1} names)\n`);
    } else process.stdout.write(`${snapshot} is stale: run npm run api:update\n`);
  }
  if (stale && !write) process.exitCode = 1;
}
