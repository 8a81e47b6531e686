/**
 * Arithmetic on cumulative bucket histograms (Prometheus's representation): differences over a
 * window, sums across instances, and quantiles interpolated the way `histogram_quantile` does.
 */

/** Cumulative counts: `counts[i]` observations were ≤ `bounds[i]`; `count` is the total (+Inf). */
export interface CumulativeHistogram {
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/**
 * True when the histogram is internally consistent: same lengths, strictly increasing finite
 * bounds, non-decreasing counts not above the total. Schemas cannot express this.
 */
export function isWellFormedHistogram(h: CumulativeHistogram): boolean {
  if (h.bounds.length !== h.counts.length || h.bounds.length === 0) return false;
  for (let i = 0; i < h.bounds.length; i++) {
    if (!Number.isFinite(h.bounds[i]!)) return false;
    if (i > 0 && (h.bounds[i]! <= h.bounds[i - 1]! || h.counts[i]! < h.counts[i - 1]!)) return false;
  }
  return h.counts[h.counts.length - 1]! <= h.count && Number.isFinite(h.sum);
}

/** Same bucket layout (so counts can be added). */
function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * `later − earlier`, bucket by bucket. `earlier` undefined means zero (the instance just started).
 * A decrease (a reset) is treated as a restart: the later value is the whole difference.
 */
export function histogramDelta(later: CumulativeHistogram, earlier: CumulativeHistogram | undefined): CumulativeHistogram {
  if (!earlier || !sameBounds(later.bounds, earlier.bounds) || later.count < earlier.count) return later;
  return {
    bounds: later.bounds,
    counts: later.counts.map((c, i) => Math.max(0, c - earlier.counts[i]!)),
    sum: later.sum - earlier.sum,
    count: later.count - earlier.count,
  };
}

/** Accumulates histograms of one layout; histograms of another layout than the first are skipped and counted. */
export class HistogramSum {
  private bounds: readonly number[] | undefined;
  private counts: number[] = [];
  private sum = 0;
  private count = 0;
  /** Histograms skipped because their buckets differ from the first one added. */
  skipped = 0;

  add(h: CumulativeHistogram): void {
    if (!this.bounds) {
      this.bounds = h.bounds;
      this.counts = h.counts.slice();
    } else if (!sameBounds(this.bounds, h.bounds)) {
      this.skipped++;
      return;
    } else {
      for (let i = 0; i < h.counts.length; i++) this.counts[i]! += h.counts[i]!;
    }
    this.sum += h.sum;
    this.count += h.count;
  }

  /** The sum so far, or undefined when nothing was added. */
  result(): CumulativeHistogram | undefined {
    return this.bounds ? { bounds: this.bounds, counts: this.counts, sum: this.sum, count: this.count } : undefined;
  }
}

/**
 * The q-quantile (0 < q ≤ 1), by linear interpolation inside the bucket that holds the rank, as
 * Prometheus's `histogram_quantile`: the lowest bucket interpolates from 0, and a rank in the +Inf
 * bucket returns the highest finite bound. Undefined without observations.
 */
export function histogramQuantile(q: number, h: CumulativeHistogram | undefined): number | undefined {
  if (!h || h.count <= 0 || !(q > 0) || q > 1) return undefined;
  const rank = q * h.count;
  for (let i = 0; i < h.bounds.length; i++) {
    const cum = h.counts[i]!;
    if (cum >= rank) {
      const upper = h.bounds[i]!;
      const prevCum = i === 0 ? 0 : h.counts[i - 1]!;
      const lower = i === 0 ? Math.min(0, upper) : h.bounds[i - 1]!;
      if (i === 0 && upper <= 0) return upper;
      const inBucket = cum - prevCum;
      if (inBucket <= 0) return upper;
      return lower + ((upper - lower) * (rank - prevCum)) / inBucket;
    }
  }
  return h.bounds[h.bounds.length - 1];
}
