#!/usr/bin/env node
// Launcher of the `switchboard` CLI: runs the built code in dist/ (npm run build).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const main = new URL("../dist/src/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write(
    "switchboard: the CLI is not built (dist/src/cli/main.js is missing): run `npm run build` first " +
      "(`npm start` builds and runs the demo).\n",
  );
  process.exit(1);
}
const { run } = await import(main.href);
await run(process.argv);
