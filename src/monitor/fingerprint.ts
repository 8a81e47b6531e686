/** Stable alert identity: the same rule and labels give the same fingerprint in every collector, in every run. */
import { createHash } from "node:crypto";

/**
 * Hash of an alert's labels (which include `alertname`, i.e. the rule name, and the identifying
 * labels `service`, `severity`, `instance`, `endpoint` and the rule's own labels), as 16 hex digits.
 * Label order does not matter.
 */
export function alertFingerprint(labels: Readonly<Record<string, string>>): string {
  const h = createHash("sha256");
  for (const key of Object.keys(labels).sort()) {
    // NUL separators: no label name or value can make two different sets hash the same.
    h.update(key).update("\u0000").update(labels[key]!).update("\u0000");
  }
  return h.digest("hex").slice(0, 16);
}
