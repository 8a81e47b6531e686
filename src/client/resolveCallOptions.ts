/**
 * Option resolution of one call: the client's defaults overlaid with the call's options, validated.
 * Pure; throws `TypeError`/`RangeError` on invalid input, which the executor reports as
 * `BadRequestError` without sending anything.
 */
import { checkZone, compileSelector, type CompiledSelector } from "../protocol/index.js";
import { CodecSet, type Codec } from "../protocol/codecs/index.js";
import type { Selection } from "./InstanceRouter.js";
import { RetryPolicy, type BackoffOptions } from "./RetryPolicy.js";
import { isStrategyName, type RandomSource, type StrategyName } from "./strategies/index.js";
import type { CallOptions } from "./types.js";

/** Defaults every call starts from. */
export interface CallDefaults {
  strategy: StrategyName;
  timeoutMs: number;
  deadlineMs: number;
  maxAttempts: number;
  backoff: Required<BackoffOptions>;
  /** The caller's zone: instances of this zone are preferred (none: no preference). */
  zone?: string | undefined;
  /** In-flight requests at which a local-zone instance counts as overloaded (spill-over to other zones). */
  zoneSpillInFlight?: number | undefined;
}

/** A call's effective settings. */
export interface ResolvedCallOptions {
  strategy: StrategyName;
  timeoutMs: number;
  deadlineMs: number;
  policy: RetryPolicy;
  key: string | undefined;
  idempotent: boolean;
  headers: CallOptions["headers"];
  /** Selectors and zone preference of the call (undefined: any instance). */
  selection: Selection | undefined;
  /** The traffic-policy subset the call goes to, counted when it succeeds (undefined: no policy). */
  servedBy?: PolicyCounter | undefined;
  /** The call's own codec; undefined: the endpoint's announced one. */
  codec: Codec | undefined;
}

/** Calls served through one subset of one revision of a service's traffic policy. */
export interface PolicyCounter {
  readonly service: string;
  /** KV revision of the policy. */
  readonly revision: number;
  readonly subset: string;
  /** Chosen by a header override rather than by weight. */
  readonly override: boolean;
  /** Calls that succeeded through it. */
  calls: number;
}

/** Compiled selectors by their text, so a call with a version range does not parse it every time. */
export class SelectorCache {
  private readonly compiled = new Map<string, CompiledSelector | undefined>();
  constructor(private readonly max = 256) {}

  /** The compiled selector of a call's `version`/`tags` (throws InvalidSelectorError, a TypeError). */
  get(version: string | undefined, tags: readonly string[] | undefined): CompiledSelector | undefined {
    if (version === undefined && tags === undefined) return undefined;
    const text = `${typeof version === "string" ? version : "\u0000"}\u0001${Array.isArray(tags) ? tags.join("\u0001") : "\u0000"}`;
    if (this.compiled.has(text)) return this.compiled.get(text);
    const sel = compileSelector({ version, tags }, { zone: false });
    if (this.compiled.size >= this.max) this.compiled.clear();
    this.compiled.set(text, sel);
    return sel;
  }
}

/** The zone-preference part of a selection, shared by every call that uses the client's defaults. */
export function defaultSelection(defaults: CallDefaults): Selection | undefined {
  return defaults.zone === undefined ? undefined : { zone: defaults.zone, zoneSpillInFlight: defaults.zoneSpillInFlight };
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`${name} must be a positive number of milliseconds, got ${String(value)}`);
  }
  return value;
}

/**
 * The settings of a call with options `opts`. `defaultPolicy` is shared by every call that does not
 * change the attempts or the backoff (no allocation on the common path).
 */
export function resolveCallOptions(
  defaults: CallDefaults,
  defaultPolicy: RetryPolicy,
  random: RandomSource,
  opts: CallOptions | undefined,
  selectors: SelectorCache = new SelectorCache(),
  codecs: CodecSet = new CodecSet(),
): ResolvedCallOptions {
  if (opts === undefined) {
    return {
      strategy: defaults.strategy,
      timeoutMs: defaults.timeoutMs,
      deadlineMs: defaults.deadlineMs,
      policy: defaultPolicy,
      key: undefined,
      idempotent: false,
      headers: undefined,
      selection: defaultSelection(defaults),
      codec: undefined,
    };
  }
  let strategy = defaults.strategy;
  if (opts.strategy !== undefined) {
    if (!isStrategyName(opts.strategy)) throw new TypeError(`unknown strategy ${JSON.stringify(opts.strategy)}`);
    strategy = opts.strategy;
  }
  const timeoutMs = positive("timeoutMs", opts.timeoutMs, defaults.timeoutMs);
  const deadlineMs = positive("deadlineMs", opts.deadlineMs, defaults.deadlineMs);
  let policy = defaultPolicy;
  if (opts.maxAttempts !== undefined || opts.backoff !== undefined) {
    policy = new RetryPolicy(
      {
        maxAttempts: opts.maxAttempts ?? defaults.maxAttempts,
        baseMs: opts.backoff?.baseMs ?? defaults.backoff.baseMs,
        capMs: opts.backoff?.capMs ?? defaults.backoff.capMs,
      },
      random,
    );
  }
  let selection = defaultSelection(defaults);
  const selector = selectors.get(opts.version, opts.tags);
  if (selector !== undefined || opts.zone !== undefined) {
    const zone = opts.zone === undefined ? defaults.zone : checkZone(opts.zone);
    selection = { filters: selector ? [selector] : undefined, zone, zoneSpillInFlight: defaults.zoneSpillInFlight };
  }
  return {
    strategy,
    timeoutMs,
    deadlineMs,
    policy,
    key: opts.key !== undefined && opts.key !== null ? String(opts.key) : undefined,
    idempotent: opts.idempotent === true,
    headers: opts.headers,
    selection,
    codec: opts.codec === undefined ? undefined : codecs.resolve(opts.codec),
  };
}
