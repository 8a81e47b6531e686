#!/usr/bin/env -S node --max-semi-space-size=4
// Launcher of the `switchboard` CLI: runs the built code in dist/ (npm run build).
// The V8 flag above is the coordinator's (src/cli/nodeFlags.ts says why); started as
// `node bin/switchboard.js coordinator` without it, the command runs again in a child node process with it.
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
// Before loading the CLI itself, so that a relaunching parent stays a small process.
const { relaunchWithNodeFlags } = await import(new URL("../dist/src/cli/nodeFlags.js", import.meta.url).href);
const relaunched = relaunchWithNodeFlags(process.argv, process.env.SB_NO_REEXEC === "1");
if (relaunched) process.exit(await relaunched);
const { run } = await import(main.href);
await run(process.argv);
