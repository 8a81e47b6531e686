/** A uPlot time-series chart of the last minutes (one point per metrics step). */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";

interface Props {
  /** Seconds since the epoch of each point. */
  times: number[];
  series: Array<{ label: string; values: Array<number | null>; unit: string }>;
  title: string;
  height?: number;
}

export function Chart({ times, series, title, height = 160 }: Props) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const key = series.map((s) => s.label).join("\u0000");

  useEffect(() => {
    const host = el.current;
    if (!host) return;
    const width = Math.max(240, host.clientWidth);
    const colors = ["#2f6fdf", "#d9822b", "#b83280", "#2f9e44"];
    plot.current = new uPlot(
      {
        width,
        height,
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true } },
        axes: [{ stroke: "currentColor" }, { stroke: "currentColor", size: 56 }],
        series: [{}, ...series.map((s, i) => ({ label: `${s.label} (${s.unit})`, stroke: colors[i % colors.length], width: 1.5, spanGaps: false }))],
      },
      [times, ...series.map((s) => s.values)] as uPlot.AlignedData,
      host,
    );
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(240, host.clientWidth), height }));
    ro.observe(host);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [key, height]);

  useEffect(() => {
    plot.current?.setData([times, ...series.map((s) => s.values)] as uPlot.AlignedData);
  });

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={el} role="img" aria-label={title} />
    </figure>
  );
}
