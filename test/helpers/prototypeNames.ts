/**
 * Names that are keys of `Object.prototype` (`constructor`, `toString`, `__proto__`, …): the oracle for
 * "external names never index plain objects". Computed from the runtime, not from the code under test,
 * so a new prototype key in a future Node is covered too. Every one of them is a valid subject token
 * and a valid Prometheus metric and label name, so the protocol lets them through.
 */
import { TOKEN_PATTERN } from "../../src/protocol/index.js";

/** Every own property name of `Object.prototype`. */
export const PROTOTYPE_NAMES: readonly string[] = Object.getOwnPropertyNames(Object.prototype);

/** Those usable as a service, instance or endpoint name (all of them, on Node 20). */
export const PROTOTYPE_TOKENS: readonly string[] = PROTOTYPE_NAMES.filter((n) => TOKEN_PATTERN.test(n));
