/**
 * Routing of alerts to recipients by severity and service, pure. Routes are tried in order; the
 * first that matches takes the alert, unless it says `continue`, in which case later routes may
 * take it too. An alert no route takes goes to the default recipients, if any.
 */
import type { AlertEvent } from "../protocol/index.js";
import type { RouteConfig } from "./types.js";

/** A route with its matchers normalised and its name settled. */
export interface ResolvedRoute {
  /** Unique, KV-key-safe name (`default` for the default recipients). */
  readonly name: string;
  readonly to: readonly string[];
  readonly severity: ReadonlySet<string> | undefined;
  readonly service: ReadonlySet<string> | undefined;
  readonly continue: boolean;
  readonly groupBy: readonly string[] | undefined;
  readonly groupWaitMs: number | undefined;
  readonly groupIntervalMs: number | undefined;
  readonly repeatIntervalMs: number | undefined;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const ADDRESS = /^[^\s@<>,;"\\]+@[^\s@<>,;"\\]+$/;

function list(v: string | readonly string[] | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const items = (typeof v === "string" ? v.split(",") : [...v]).map((s) => s.trim()).filter(Boolean);
  return items;
}

function matcher(v: string | readonly string[] | undefined): ReadonlySet<string> | undefined {
  const items = list(v);
  if (!items || items.length === 0 || items.includes("*")) return undefined;
  return new Set(items);
}

/** Checks recipients: plain `local@domain` addresses, no display names, no separators (they would reach headers). */
export function parseRecipients(v: string | readonly string[] | undefined, what: string): string[] {
  const items = list(v) ?? [];
  for (const a of items) if (!ADDRESS.test(a)) throw new Error(`${what}: ${JSON.stringify(a)} is not an e-mail address`);
  return items;
}

/** Routes alerts to recipients; see the module comment. */
export class AlertRouter {
  readonly routes: readonly ResolvedRoute[];
  private readonly fallback: ResolvedRoute | undefined;

  constructor(routes: readonly RouteConfig[], defaultTo: string | readonly string[] | undefined) {
    const names = new Set<string>();
    this.routes = routes.map((r, i) => {
      const name = r.name ?? `route${i + 1}`;
      if (!NAME.test(name)) throw new Error(`routes[${i}].name ${JSON.stringify(name)}: use letters, digits, _ and -`);
      if (names.has(name) || name === "default") throw new Error(`routes[${i}].name ${JSON.stringify(name)} is used twice (or reserved)`);
      names.add(name);
      const to = parseRecipients(r.to, `routes[${i}].to`);
      if (to.length === 0) throw new Error(`routes[${i}] has no recipients`);
      return {
        name,
        to,
        severity: matcher(r.severity),
        service: matcher(r.service),
        continue: r.continue ?? false,
        groupBy: r.groupBy,
        groupWaitMs: r.groupWaitMs,
        groupIntervalMs: r.groupIntervalMs,
        repeatIntervalMs: r.repeatIntervalMs,
      };
    });
    const to = parseRecipients(defaultTo, "default recipients");
    this.fallback =
      to.length > 0
        ? { name: "default", to, severity: undefined, service: undefined, continue: false, groupBy: undefined, groupWaitMs: undefined, groupIntervalMs: undefined, repeatIntervalMs: undefined }
        : undefined;
    if (this.routes.length === 0 && !this.fallback) throw new Error("no recipients: configure routes or default recipients (SMTP_TO)");
  }

  /** The routes that take `alert` (empty when none does and there are no default recipients). */
  match(alert: Pick<AlertEvent, "severity" | "service">): ResolvedRoute[] {
    const out: ResolvedRoute[] = [];
    for (const r of this.routes) {
      if (r.severity && !r.severity.has(alert.severity)) continue;
      if (r.service && !r.service.has(alert.service)) continue;
      out.push(r);
      if (!r.continue) break;
    }
    if (out.length === 0 && this.fallback) out.push(this.fallback);
    return out;
  }

  /** A route by name (for restored state). */
  byName(name: string): ResolvedRoute | undefined {
    return name === "default" ? this.fallback : this.routes.find((r) => r.name === name);
  }
}
