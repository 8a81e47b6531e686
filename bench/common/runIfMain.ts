/** The command-line entry of a benchmark module that drivers also import (for its `run()`). */
import { pathToFileURL } from "node:url";

/**
 * Runs `main` with the command-line arguments (after the script) when `moduleUrl`, the caller's
 * `import.meta.url`, is the script node was started with, and does nothing when a driver imports the
 * module. Then exits: 0 once `main` resolved, 1 with the error on stderr if it rejected. Exiting
 * explicitly ends the run even if a connection or timer was left behind.
 */
export function runIfMain(moduleUrl: string, main: (argv: string[]) => Promise<unknown>): void {
  if (!process.argv[1] || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
