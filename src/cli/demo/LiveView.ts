/**
 * The demo's terminal view: a compact frame redrawn in place on a TTY, plain log lines otherwise.
 * Rendering is pure (state in, lines out); only {@link LiveView} writes to the terminal.
 */
import type { Colors } from "../output.js";
import { clock, colorState, formatDuration, visibleWidth } from "../output.js";

/** One demo service instance as the view shows it. */
export interface ViewInstance {
  n: number;
  id: string;
  pid: number;
  /** The process as the demo sees it. */
  process: "running" | "killed" | "stopped" | "exited";
  /** The registry's view of it, if known. */
  state?: string;
}

/** An alert event as the view shows it. */
export interface ViewAlert {
  at: number;
  status: "firing" | "resolved";
  severity: string;
  rule: string;
  where: string;
  fingerprint: string;
}

/** Everything the frame shows. */
export interface DemoViewState {
  elapsedMs: number;
  durationMs: number | undefined;
  natsUrl: string;
  natsLocal: boolean;
  /** URL of the operator console, when it runs. */
  consoleUrl?: string;
  prefix: string;
  service: string;
  instances: ViewInstance[];
  calls: number;
  failed: number;
  retries: number;
  rate: number;
  p50: number | null;
  p99: number | null;
  lastError: string | undefined;
  alerts: ViewAlert[];
  mails: Array<{ at: number; subject: string; file: string }>;
  events: Array<{ at: number; text: string }>;
}

const ms = (v: number | null) => (v === null ? "-" : v < 10 ? `${v.toFixed(2)} ms` : `${v.toFixed(1)} ms`);
const short = (id: string) => (id.length > 13 ? `${id.slice(0, 8)}…` : id);

/** The frame's lines for a TTY. */
export function renderFrame(s: DemoViewState, c: Colors, width = 100): string[] {
  const time = s.durationMs ? `${formatDuration(s.elapsedMs)} / ${formatDuration(s.durationMs)}` : `${formatDuration(s.elapsedMs)} (Ctrl-C to stop)`;
  const lines = [
    `${c.bold("Switchboard demo")}  ${c.dim(`prefix ${s.prefix} · NATS ${s.natsUrl}${s.natsLocal ? " (started for the demo)" : ""}`)}  ${time}`,
    ...(s.consoleUrl ? [`${c.bold("Console")}  ${c.cyan(s.consoleUrl)}  ${c.dim("(open it in a browser: the kill, failover and alert show there live)")}`] : []),
    "",
    c.bold(`Instances of ${s.service}`),
  ];
  for (const i of s.instances) {
    const proc = i.process === "killed" ? c.red("killed with SIGKILL") : i.process === "running" ? c.dim(`pid ${i.pid}`) : c.dim(i.process);
    const st = i.state ?? "…";
    lines.push(`  #${i.n}  ${short(i.id).padEnd(10)} ${colorState(st, c)}${" ".repeat(Math.max(1, 9 - st.length))}${proc}`);
  }
  lines.push("");
  const failed = s.failed === 0 ? c.green("0 failed") : c.red(`${s.failed} failed`);
  lines.push(
    `${c.bold("Calls")}  ${s.calls.toLocaleString("en-US")} ok  ${failed}  ${c.cyan(`${Math.round(s.rate)} calls/s`)}  p50 ${ms(s.p50)}  p99 ${ms(s.p99)}  ${c.dim(`retries ${s.retries}`)}`,
  );
  if (s.lastError) lines.push(c.red(`  last error: ${s.lastError}`));
  const alerts = s.alerts.slice(-3);
  lines.push(`${c.bold("Alerts")} ${alerts.length === 0 ? c.dim("none yet") : ""}`);
  for (const a of alerts) {
    const status = a.status === "firing" ? c.red("FIRING  ") : c.green("RESOLVED");
    lines.push(`  ${c.dim(clock(a.at))} ${status} ${a.severity} ${a.rule} ${a.where} ${c.dim(`fp ${a.fingerprint}`)}`);
  }
  lines.push(`${c.bold("Mail")}   ${s.mails.length === 0 ? c.dim("none yet") : ""}`);
  for (const m of s.mails.slice(-2)) lines.push(`  ${c.dim(clock(m.at))} ${c.bold(JSON.stringify(m.subject))} ${c.dim(`→ ${m.file}`)}`);
  lines.push(c.bold("Events"));
  for (const e of s.events.slice(-6)) lines.push(`  ${c.dim(clock(e.at))} ${e.text}`);
  return lines.map((l) => truncate(l, width));
}

/** Cuts a line to the terminal width (colour codes do not count). */
function truncate(line: string, width: number): string {
  if (visibleWidth(line) <= width) return line;
  // Strip colour rather than cut through an escape sequence.
  // eslint-disable-next-line no-control-regex
  const plain = line.replace(/\x1b\[[0-9;]*m/g, "");
  return plain.slice(0, Math.max(0, width - 1)) + "…";
}

/** One status line for non-TTY output. */
export function renderStatusLine(s: DemoViewState): string {
  const up = s.instances.filter((i) => i.state === "up").length;
  return `[${(s.elapsedMs / 1000).toFixed(1).padStart(5)}s] calls ${s.calls} ok, ${s.failed} failed, ${Math.round(s.rate)}/s, p50 ${ms(s.p50)}, p99 ${ms(s.p99)}; instances up ${up}/${s.instances.length}; alerts ${s.alerts.length}; mails ${s.mails.length}`;
}

/** Writes frames: in place on a TTY (cursor up + clear), otherwise nothing (events go out as lines). */
export class LiveView {
  private drawn = 0;
  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly colors: Colors,
  ) {}

  /** Redraws the frame (TTY only). */
  draw(state: DemoViewState): void {
    if (!this.stream.isTTY) return;
    const lines = renderFrame(state, this.colors, Math.max(40, (this.stream.columns ?? 100) - 1));
    const up = this.drawn > 0 ? `\x1b[${this.drawn}F` : "";
    this.stream.write(`${up}\x1b[J${lines.join("\n")}\n`);
    this.drawn = lines.length;
  }

  /** Leaves the last frame on screen and forgets it, so following output starts below. */
  release(): void {
    this.drawn = 0;
  }
}
