/** pino loggers for every component; one root so level and destination are set in one place. */
import { pino, type Logger, type LoggerOptions } from "pino";

/** Creates a component logger. Level from `opts.level`, else `SB_LOG_LEVEL`, else `info` (`silent` in tests). */
export function createLogger(component: string, opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.SB_LOG_LEVEL ?? (process.env.VITEST ? "silent" : "info");
  return pino({ ...opts, level, base: { component, ...(opts.base ?? {}) } });
}

export type { Logger };
