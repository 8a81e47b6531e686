// Builds the console page (web/src → dist/web): one JS and one CSS bundle with content hashes in
// their names (served with year-long caching), and index.html pointing at them (revalidated).
// Everything comes from node_modules: no CDN at run time. Run by `npm run build`; the browser
// tests call buildWeb() themselves.
import { build } from "esbuild";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Builds into `outDir` (default dist/web); returns the file names written. */
export async function buildWeb(outDir = join(root, "dist", "web")) {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const result = await build({
    entryPoints: [join(root, "web", "src", "main.tsx")],
    bundle: true,
    format: "esm",
    target: ["chrome110", "firefox110", "safari16"],
    jsx: "automatic",
    jsxImportSource: "preact",
    minify: true,
    sourcemap: "linked",
    entryNames: "[name]-[hash]",
    outdir: outDir,
    metafile: true,
    legalComments: "linked",
    logLevel: "warning",
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
  const js = outputs.find((f) => /^main-[A-Z0-9]{8}\.js$/.test(f));
  const css = outputs.find((f) => /^main-[A-Z0-9]{8}\.css$/.test(f));
  if (!js || !css) throw new Error(`unexpected esbuild outputs: ${outputs.join(", ")}`);
  const html = readFileSync(join(root, "web", "src", "index.html"), "utf8").replace("/__JS__", `/${js}`).replace("/__CSS__", `/${css}`);
  writeFileSync(join(outDir, "index.html"), html);
  return { outDir, js, css };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { outDir, js, css } = await buildWeb(process.argv[2]);
  console.log(`console page built in ${outDir}: ${js}, ${css}`);
}
