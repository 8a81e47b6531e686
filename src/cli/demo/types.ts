/** Options of `switchboard demo`. */

/** What the demo does and for how long. */
export interface DemoOptions {
  /** End by itself after this many ms (default: run until Ctrl-C). */
  durationMs?: number;
  /** Target calls per second (default 200). */
  rate: number;
  /** Concurrent callers (default 8). */
  concurrency: number;
  /** Demo service instances (default 3). */
  instances: number;
  /** Kill one instance this long after all are up (default: 30 % of the duration, at least 3 s; 8 s without a duration). */
  killAfterMs?: number;
  /** Heartbeat interval of the demo instances (default 250 ms). */
  heartbeatMs: number;
  /** Where the mail catcher saves mails (default `.demo/mail`). */
  mailDir: string;
  /** Port of the operator console (default 8080, a free one when that is taken; null: no console). */
  consolePort: number | null;
  /** Service name of the demo instances (default `echo`). */
  service: string;
}
