/** Long-running commands: run until SIGINT or SIGTERM, then stop cleanly. */

/**
 * Resolves with the signal's name on the first SIGINT or SIGTERM. A second signal while the
 * command is still stopping exits at once (code 130), so a stuck shutdown can always be interrupted.
 */
function waitForShutdownSignal(onSecond: () => void = () => process.exit(130)): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let seen = false;
    const handler = (signal: NodeJS.Signals) => {
      if (seen) {
        onSecond();
        return;
      }
      seen = true;
      resolve(signal);
    };
    process.on("SIGINT", handler);
    process.on("SIGTERM", handler);
  });
}

/** A promise that resolves on a shutdown signal or when `abort` is called, whichever comes first. */
export function shutdownTrigger(): { promise: Promise<string>; abort(reason: string): void } {
  let abort!: (reason: string) => void;
  const local = new Promise<string>((resolve) => (abort = resolve));
  return { promise: Promise.race([waitForShutdownSignal(), local]), abort };
}
