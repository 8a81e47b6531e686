/**
 * Request headers built cheaply. Every attempt carries `Sb-Deadline` (absolute epoch ms); building
 * it through nats.js's generic `headers().set()` costs key canonicalisation, validation and string
 * assembly per call. {@link deadlineHeaders} returns a real MsgHdrs (nats.js's own class, so every
 * method works) that writes its wire bytes directly while it holds only the deadline.
 */
import { headers, type MsgHdrs } from "@nats-io/transport-node";
import { DEADLINE_HEADER } from "../protocol/index.js";

type EncodableHeaders = MsgHdrs & { encode?(): Uint8Array };
const Base = (headers() as object).constructor as new () => EncodableHeaders;
/** Whether nats.js serialises headers through `encode()` (true for nats.js v3); otherwise use the generic path. */
const FAST = typeof (Base.prototype as EncodableHeaders).encode === "function";

const HEAD = new TextEncoder().encode(`NATS/1.0\r\n${DEADLINE_HEADER}: `);

/** MsgHdrs holding only the deadline until something reads or changes it. */
class DeadlineHeaders extends Base {
  private deadline: string | undefined;

  constructor(deadline: string) {
    super();
    this.deadline = deadline;
  }

  /** Moves the deadline into the generic header map before any generic operation. */
  private materialize(): void {
    if (this.deadline === undefined) return;
    const d = this.deadline;
    this.deadline = undefined;
    super.set(DEADLINE_HEADER, d);
  }

  override encode(): Uint8Array {
    const d = this.deadline;
    if (d === undefined) return super.encode!();
    const out = new Uint8Array(HEAD.length + d.length + 4);
    out.set(HEAD, 0);
    let i = HEAD.length;
    for (let k = 0; k < d.length; k++) out[i++] = d.charCodeAt(k);
    out[i++] = 13;
    out[i++] = 10;
    out[i++] = 13;
    out[i] = 10;
    return out;
  }
  override get(k: string, match?: Parameters<MsgHdrs["get"]>[1]): string {
    this.materialize();
    return super.get(k, match);
  }
  override set(k: string, v: string, match?: Parameters<MsgHdrs["set"]>[2]): void {
    this.materialize();
    super.set(k, v, match);
  }
  override append(k: string, v: string, match?: Parameters<MsgHdrs["append"]>[2]): void {
    this.materialize();
    super.append(k, v, match);
  }
  override has(k: string, match?: Parameters<MsgHdrs["has"]>[1]): boolean {
    this.materialize();
    return super.has(k, match);
  }
  override keys(): string[] {
    this.materialize();
    return super.keys();
  }
  override values(k: string, match?: Parameters<MsgHdrs["values"]>[1]): string[] {
    this.materialize();
    return super.values(k, match);
  }
  override delete(k: string, match?: Parameters<MsgHdrs["delete"]>[1]): void {
    this.materialize();
    super.delete(k, match);
  }
  override last(k: string, match?: Parameters<MsgHdrs["last"]>[1]): string {
    this.materialize();
    return super.last(k, match);
  }
  override [Symbol.iterator](): Iterator<[string, string[]]> {
    this.materialize();
    return super[Symbol.iterator]();
  }
  override toString(): string {
    this.materialize();
    return super.toString();
  }
}

/** Integer epoch ms as header text (a deadline is never in the past by more than a few ms here). */
function deadlineText(deadline: number): string {
  return String(Math.ceil(deadline));
}

/**
 * Headers of one attempt: the deadline, plus `extra` (copied, never mutated, so one object can be
 * passed to many calls). The deadline always wins over an `Sb-Deadline` in `extra`.
 */
export function deadlineHeaders(deadline: number, extra?: MsgHdrs | Record<string, string>): MsgHdrs {
  const text = deadlineText(deadline);
  if (extra === undefined && FAST) return new DeadlineHeaders(text);
  const h = headers();
  if (extra !== undefined) {
    if (isMsgHdrs(extra)) {
      for (const [k, values] of extra) for (const v of values) h.append(k, v);
    } else {
      for (const [k, v] of Object.entries(extra)) h.append(k, String(v));
    }
  }
  h.set(DEADLINE_HEADER, text);
  return h;
}

function isMsgHdrs(x: MsgHdrs | Record<string, string>): x is MsgHdrs {
  return typeof (x as MsgHdrs).get === "function" && typeof (x as MsgHdrs).keys === "function";
}
