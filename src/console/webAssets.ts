/** Where the built page (`npm run build` → `dist/web`) is, from src/ (tsx, tests) and from dist/src/ (built). */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The folder holding `index.html` of the console page, or undefined when it has not been built. */
export function findWebRoot(): string | undefined {
  const candidates = [new URL("../../web/", import.meta.url), new URL("../../dist/web/", import.meta.url)].map((u) => fileURLToPath(u));
  return candidates.find((dir) => existsSync(`${dir}index.html`));
}
