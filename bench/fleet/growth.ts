/** Fitted growth of a measured quantity with fleet size: the exponent of a power law y = a · n^k. */

/** A least-squares fit of log y = log a + k log n over the points with n > 0 and y > 0. */
export interface PowerLawFit {
  /** The exponent: 1 is linear growth, 2 quadratic. */
  exponent: number;
  /** The factor a. */
  factor: number;
  /** Points the fit used. */
  points: number;
}

/** Fits y = a · n^k; undefined with fewer than two usable points or no spread in n. */
export function fitPowerLaw(points: ReadonlyArray<{ n: number; y: number }>): PowerLawFit | undefined {
  const usable = points.filter((p) => p.n > 0 && p.y > 0 && Number.isFinite(p.n) && Number.isFinite(p.y));
  if (usable.length < 2) return undefined;
  const xs = usable.map((p) => Math.log(p.n));
  const ys = usable.map((p) => Math.log(p.y));
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < xs.length; i++) {
    sxx += (xs[i]! - mx) ** 2;
    sxy += (xs[i]! - mx) * (ys[i]! - my);
  }
  if (sxx === 0) return undefined;
  const exponent = sxy / sxx;
  return { exponent, factor: Math.exp(my - exponent * mx), points: usable.length };
}

/** "linear", "quadratic"… for an exponent, to the nearest half. */
export function describeGrowth(exponent: number): string {
  const r = Math.round(exponent * 2) / 2;
  if (r <= 0) return "flat";
  if (r === 0.5) return "square-root";
  if (r === 1) return "linear";
  if (r === 1.5) return "n^1.5";
  if (r === 2) return "quadratic";
  return `n^${r}`;
}
