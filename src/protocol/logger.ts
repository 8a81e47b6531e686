/** pino loggers for every component; one root so level and destination are set in one place. */
import { pino, type Logger, type LoggerOptions } from "pino";

/** Level of loggers created without an explicit one; library code never reads the environment for it. */
let defaultLevel = "info";

/**
 * Sets the level of component loggers created afterwards without `opts.level` (default `info`).
 * Entry points decide: the CLI passes `SB_LOG_LEVEL`, the test setup `silent`.
 */
export function setDefaultLogLevel(level: string | undefined): void {
  if (level) defaultLevel = level;
}

/** Creates a component logger. Level from `opts.level`, else the default level ({@link setDefaultLogLevel}). */
export function createLogger(component: string, opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? defaultLevel;
  return pino({ ...opts, level, base: { component, ...(opts.base ?? {}) } });
}

export type { Logger };
