/**
 * The demo's script: SIGKILL one instance once calls are flowing, report the failover a few
 * seconds later, and end at --duration — waiting a little longer for the alert's mail if the
 * machine was too slow for it to arrive in time.
 */
import type { CleanupStack } from "./CleanupStack.js";
import type { DemoNote } from "./demoNats.js";
import { killServiceProcess, type ServiceProcess } from "./ServiceProcesses.js";

/** Time the scenario needs after the kill: suspect/down (≈ 3 heartbeats), the rule's `for`, group wait, SMTP. */
const SCENARIO_TAIL_MS = 7000;
/** How long past --duration the demo waits for the alert's mail on a slow machine. */
const MAIL_GRACE_MS = 10_000;

/** The instance the script killed. */
export interface KilledInstance {
  n: number;
  id: string;
  pid: number;
  atMs: number;
}

/** What the script reads and drives. */
export interface DemoScriptOptions {
  procs: readonly ServiceProcess[];
  /** When the demo started. */
  startedAt: number;
  durationMs: number | undefined;
  killAfterMs: number | undefined;
  /** Ends the demo. */
  finish: (reason: string) => void;
  /** Whether the demo is already stopping. */
  stopping: () => boolean;
  /** Calls and failures so far, and retries in all. */
  counts: () => { calls: number; failed: number; retries: number };
  /** Mails caught so far. */
  mails: () => number;
  /** Subscribes to each caught mail. */
  onMail: (listener: () => void) => void;
  /** Records the kill. */
  onKill: (killed: KilledInstance) => void;
}

/**
 * Schedules the script. The kill comes at 30 % of the duration (or --kill-after), but late enough
 * for calls to be flowing and early enough for the alert and its mail to follow before the end.
 */
export function scheduleDemoScript(o: DemoScriptOptions, note: DemoNote, cleanups: CleanupStack): void {
  let killed = false;
  const callsAt = Date.now();
  const endAt = o.durationMs ? o.startedAt + o.durationMs : Infinity;
  const killAfter = o.killAfterMs ?? (o.durationMs ? Math.max(3000, Math.round(o.durationMs * 0.3)) : 8000);
  const killAt = Math.max(callsAt + 1500, Math.min(o.startedAt + killAfter, endAt - SCENARIO_TAIL_MS));
  let durationPassed = false;
  const finishWhenShown = () => {
    if (!killed || o.mails() > 0) o.finish("duration reached");
  };
  o.onMail(() => {
    if (durationPassed) finishWhenShown();
  });
  let graceTimer: NodeJS.Timeout | undefined;
  const durationTimer = o.durationMs
    ? setTimeout(
        () => {
          durationPassed = true;
          if (killed && o.mails() === 0) {
            note(`duration reached; waiting up to ${Math.round(MAIL_GRACE_MS / 1000)} s more for the alert's mail`);
            graceTimer = setTimeout(() => o.finish("duration reached (no mail yet)"), MAIL_GRACE_MS);
          }
          finishWhenShown();
        },
        Math.max(0, endAt - Date.now()),
      )
    : undefined;
  cleanups.push("timers", async () => {
    clearTimeout(durationTimer);
    clearTimeout(graceTimer);
  });
  const killTimer = setTimeout(() => {
    const victim = o.procs[Math.min(1, o.procs.length - 1)];
    if (!victim || o.stopping()) return;
    const before = o.counts();
    killed = true;
    o.onKill({ n: victim.index + 1, id: victim.id, pid: victim.pid, atMs: Date.now() - o.startedAt });
    note(`killing instance #${victim.index + 1} (${victim.id}, pid ${victim.pid}) with SIGKILL: no leave message, just silence`, {
      kind: "kill",
      id: victim.id,
      pid: victim.pid,
    });
    void killServiceProcess(victim).then(() => {
      setTimeout(() => {
        if (o.stopping()) return;
        const now = o.counts();
        const failedSince = now.failed - before.failed;
        note(
          `failover: ${now.calls - before.calls} calls since the kill, ${failedSince} failed, ${now.retries} retries in all` +
            (failedSince === 0 ? " — the killed instance cost latency, not errors" : ""),
          { kind: "failover", failed: failedSince },
        );
      }, 3000);
    });
  }, killAt - Date.now());
  cleanups.push("kill timer", async () => clearTimeout(killTimer));
}
