/** Annotation templates: `{{ $value }}`, `{{ $threshold }}` and `{{ $labels.<name> }}`, as in Prometheus rules. */

const PLACEHOLDER = /\{\{\s*\$(value|threshold|labels\.([A-Za-z_][A-Za-z0-9_]*))\s*\}\}/g;

/** Formats a metric value for people: at most 4 significant decimals, `no data` when undefined. */
export function formatValue(value: number | undefined | null): string {
  if (value === undefined || value === null || !Number.isFinite(value)) return "no data";
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(4)));
}

/** Replaces the placeholders; unknown labels become empty strings. The result is plain text (mail escapes it). */
export function renderTemplate(template: string, vars: { value: number | undefined; threshold: number; labels: Readonly<Record<string, string>> }): string {
  return template.replace(PLACEHOLDER, (_m, what: string, label: string | undefined) => {
    if (what === "value") return formatValue(vars.value);
    if (what === "threshold") return formatValue(vars.threshold);
    // Own labels only: `{{ $labels.constructor }}` is an unknown label, not Object.prototype's.
    return Object.hasOwn(vars.labels, label!) ? (vars.labels[label!] ?? "") : "";
  });
}
