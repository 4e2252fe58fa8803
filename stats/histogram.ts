/**
 * Fixed-edge histograms: the CPU reference of `shaders/histogram.wgsl`.
 *
 * Edges are shared, so that layers and runs are comparable: build them once with
 * {@linkcode histogramEdges} (linear or log spaced) and count any tensor into them with
 * {@linkcode histogram}. Edges are f32 values and every comparison is done against them, so the
 * GPU kernel and this reference agree exactly, including values that sit on an edge.
 *
 * Bin i holds `edges[i] <= v < edges[i + 1]`; the last bin also holds `v == edges[nb]` (NumPy's
 * convention). Values below the first edge, above the last, and non-finite values are counted
 * separately.
 *
 * @module
 */

/** Counts of a fixed-edge histogram. */
export interface Histogram {
  /** The nb + 1 bin edges (f32). */
  edges: Float32Array;
  /** nb bin counts. */
  counts: Float64Array;
  /** Values below `edges[0]` (for log bins: zeros and negatives too). */
  below: number;
  /** Values above `edges[nb]`. */
  above: number;
  /** NaN and +-Inf values. */
  nonfinite: number;
}

/** Largest number of bins the GPU kernel accepts. */
export const MAX_BINS = 1024;

/** How {@linkcode histogramEdges} spaces the edges. */
export type BinScale = "linear" | "log";

/**
 * Fixed bin edges from `min` to `max`: `bins` equal bins, linear or log spaced (log needs
 * 0 < min < max). Rounded to f32 and strictly increasing.
 *
 * @example Usage
 * ```ts
 * import { histogramEdges } from "./histogram.ts";
 * console.log(Array.from(histogramEdges(0, 1, { bins: 4 }))); // [0, 0.25, 0.5, 0.75, 1]
 * console.log(Array.from(histogramEdges(1, 100, { bins: 2, scale: "log" }))); // [1, 10, 100]
 * ```
 */
export function histogramEdges(
  min: number,
  max: number,
  options: { bins?: number; scale?: BinScale } = {},
): Float32Array {
  const bins = options.bins ?? 64;
  const scale = options.scale ?? "linear";
  if (!Number.isInteger(bins) || bins < 1 || bins > MAX_BINS) {
    throw new RangeError(`histogram bins must be an integer in 1..${MAX_BINS}, got ${bins}`);
  }
  if (!(Number.isFinite(min) && Number.isFinite(max) && max > min)) {
    throw new RangeError(`histogram range needs finite min < max, got ${min}..${max}`);
  }
  if (scale === "log" && !(min > 0)) {
    throw new RangeError(`log-spaced bins need min > 0, got ${min}`);
  }
  const edges = new Float32Array(bins + 1);
  const l0 = Math.log(min), l1 = Math.log(max);
  for (let i = 0; i <= bins; i++) {
    const f = i / bins;
    edges[i] = i === bins
      ? max
      : scale === "log"
      ? Math.exp(l0 + (l1 - l0) * f)
      : min + (max - min) * f;
  }
  edges[0] = min;
  for (let i = 1; i <= bins; i++) {
    if (!(edges[i] > edges[i - 1])) {
      throw new RangeError(`histogram range ${min}..${max} is too narrow for ${bins} f32 bins`);
    }
  }
  return edges;
}

/**
 * Count `data` into the bins of `edges` (the CPU reference of the histogram kernel).
 *
 * @example Usage
 * ```ts
 * import { histogram, histogramEdges } from "./histogram.ts";
 * const h = histogram(new Float32Array([0, 0.5, 1, 2, NaN]), histogramEdges(0, 1, { bins: 2 }));
 * console.log(Array.from(h.counts), h.above, h.nonfinite); // [1, 2] 1 1
 * ```
 */
export function histogram(data: Float32Array, edges: Float32Array): Histogram {
  const nb = edges.length - 1;
  if (nb < 1 || nb > MAX_BINS) {
    throw new RangeError(`histogram needs 2..${MAX_BINS + 1} edges, got ${edges.length}`);
  }
  const counts = new Float64Array(nb);
  let below = 0, above = 0, nonfinite = 0;
  const lo = edges[0], hi = edges[nb];
  for (let k = 0; k < data.length; k++) {
    const v = data[k];
    if (!Number.isFinite(v)) nonfinite++;
    else if (v < lo) below++;
    else if (v > hi) above++;
    else {
      let a = 0, b = nb - 1;
      while (a < b) {
        const m = (a + b + 1) >> 1;
        if (edges[m] <= v) a = m;
        else b = m - 1;
      }
      counts[a]++;
    }
  }
  return { edges, counts, below, above, nonfinite };
}
