/** Retry delays: exponential from `initialMs`, capped at `maxMs`, with equal jitter from an injected random source. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  // Half fixed, half random: spreads retries of several notifiers without ever retrying at once.
  return Math.round(exp / 2 + random() * (exp / 2));
}
