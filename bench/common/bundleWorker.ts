/**
 * Bundling a TypeScript worker to plain JavaScript, for benchmarks that measure a worker's memory:
 * under tsx the TypeScript loader costs a worker ~37 MB of RSS, which would swamp what the measured
 * code itself uses.
 */
import { basename, dirname, extname } from "node:path";
import { fileURLToPath } from "node:url";
import { resolveScript } from "./workers.js";

/** A script ready for `startWorker` and how it will run. */
export interface PreparedScript {
  /** The path to pass as `script`. */
  script: string;
  /** "node (bundled with esbuild)", "node" (compiled benchmarks) or "tsx" (bundling was not possible). */
  runtime: string;
}

const CACHE = fileURLToPath(new URL("../../node_modules/.cache/switchboard-bench/", import.meta.url));
const bundled = new Map<string, string>();

/**
 * Bundles a `.ts` worker script with esbuild (which tsx brings along) into node_modules/.cache, so that
 * it runs on bare node; package imports and the schemas/ folder resolve from there. A `.js` script
 * (compiled benchmarks) is returned as it is; so is a `.ts` one when esbuild is unavailable, to run
 * under tsx.
 */
export async function bundleWorker(script: URL | string): Promise<PreparedScript> {
  const file = resolveScript(script);
  if (!file.endsWith(".ts")) return { script: file, runtime: "node" };
  let outfile = bundled.get(file);
  if (!outfile) {
    try {
      const esbuild = (await import("esbuild" as string)) as { build(o: Record<string, unknown>): Promise<unknown> };
      // Folder and file name, so that two benchmarks' workers of the same name do not collide.
      const target = `${CACHE}${basename(dirname(file))}-${basename(file, extname(file))}.mjs`;
      await esbuild.build({ entryPoints: [file], bundle: true, platform: "node", format: "esm", target: "node20", packages: "external", outfile: target, logLevel: "error" });
      outfile = target;
      bundled.set(file, outfile);
    } catch {
      return { script: file, runtime: "tsx" };
    }
  }
  return { script: outfile, runtime: "node (bundled with esbuild)" };
}
