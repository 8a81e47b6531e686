/** What the demo started, stopped again in reverse order of setup. */

/** One thing to stop. */
interface Cleanup {
  what: string;
  run: () => Promise<void>;
}

/** A stack of cleanups: {@link CleanupStack.runAll} stops everything, newest first; one failing does not stop the others. */
export class CleanupStack {
  private readonly items: Cleanup[] = [];

  /** Registers something to stop; `what` names it in the failure note. */
  push(what: string, run: () => Promise<void>): void {
    this.items.push({ what, run });
  }

  /** Runs every cleanup, newest first, reporting failures to `onError`. */
  async runAll(onError: (text: string) => void): Promise<void> {
    while (this.items.length > 0) {
      const c = this.items.pop()!;
      try {
        await c.run();
      } catch (err) {
        onError(`could not stop ${c.what}: ${(err as Error).message}`);
      }
    }
  }
}
