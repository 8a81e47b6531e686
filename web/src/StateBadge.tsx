/** An instance state or alert status as a coloured badge with its name in text (colour is never the only cue). */
export function StateBadge({ state }: { state: string }) {
  return <span class={`badge s-${/^[a-z]+$/.test(state) ? state : "other"}`}>{state}</span>;
}
