/** A tiny inline SVG line of the last minutes (one per table row; uPlot is kept for the detail charts). */
interface Props {
  values: ReadonlyArray<number | null>;
  label: string;
  width?: number;
  height?: number;
}

export function Sparkline({ values, label, width = 96, height = 22 }: Props) {
  const nums = values.filter((v): v is number => v !== null);
  const max = Math.max(1e-9, ...nums);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  let d = "";
  let pen = false;
  values.forEach((v, i) => {
    if (v === null) {
      pen = false;
      return;
    }
    const x = (i * step).toFixed(1);
    const y = (height - 2 - (v / max) * (height - 4)).toFixed(1);
    d += `${pen ? "L" : "M"}${x} ${y}`;
    pen = true;
  });
  return (
    <svg class="spark" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
      {d ? <path d={d} fill="none" stroke="currentColor" stroke-width="1.5" /> : null}
    </svg>
  );
}
