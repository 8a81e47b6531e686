/**
 * The tests' cleanup stack: what a test started, stopped newest first after it, one failure not stopping
 * the rest. The same stack the demo uses (src/cli/demo/CleanupStack.ts), so there is one implementation.
 */
import { CleanupStack as NamedCleanupStack } from "../../src/cli/demo/CleanupStack.js";

export class CleanupStack {
  private readonly stack = new NamedCleanupStack();

  /** Registers things to stop (servers, agents, connections, subscriptions). */
  push(...runs: Array<() => unknown>): void {
    for (const run of runs) {
      this.stack.push("test resource", async () => {
        await run();
      });
    }
  }

  /** Stops everything registered, newest first; failures are ignored (the test already has its verdict). */
  run(): Promise<void> {
    return this.stack.runAll(() => {});
  }
}
