/**
 * Everything `analyze` computes for one layer from its saved frames: summary moments, exact
 * quantiles, histogram, box-plot numbers, cumulative distribution, per-channel and per-frame
 * statistics, and spatial maps (mean/max/std over channels, strongest channels).
 *
 * The moments come from the shared reduction (`reduceRows` semantics: one row = one
 * (frame, channel) map); the rest is computed here on the one layer held in memory.
 * Conventions follow `moments.ts`: statistics over finite values, `sparsity` = fraction of exact
 * zeros among all values, `nonfinite` = count of NaN and +-Inf.
 *
 * @module
 */

import {
  type ChannelStats,
  channelStatsOf,
  mergeMoments,
  type RowIndex,
  type RowMoments,
  type SummaryStats,
} from "./moments.ts";

/** How a per-frame field shape maps onto channels and spatial maps. */
export interface LayerGeometry {
  /** Channels (`shape[0]`; 1 for a scalar field). */
  channels: number;
  /** Extra leading spatial/time depth folded into each map (product of `shape[1..-2]`). */
  depth: number;
  /** Map height (`shape[-2]`, or 1). */
  height: number;
  /** Map width (`shape[-1]`, or 1). */
  width: number;
  /** Values per channel (`depth * height * width`). */
  rowWidth: number;
}

/**
 * Interpret a per-frame field shape: `(C, H, W)`, `(C, D, H, W)`, `(C, L)` or `(C,)`.
 *
 * @example Usage
 * ```ts
 * import { layerGeometry } from "./layer_statistics.ts";
 * console.log(layerGeometry([64, 28, 28]).rowWidth); // 784
 * console.log(layerGeometry([512]).height); // 1
 * ```
 */
export function layerGeometry(shape: readonly number[]): LayerGeometry {
  const channels = shape.length ? shape[0] : 1;
  const height = shape.length >= 3 ? shape[shape.length - 2] : 1;
  const width = shape.length >= 2 ? shape[shape.length - 1] : 1;
  let depth = 1;
  for (let i = 1; i < shape.length - 2; i++) depth *= shape[i];
  return { channels, depth, height, width, rowWidth: depth * height * width };
}

/** Fixed-edge histogram (NumPy `np.histogram` semantics: last bin closed). */
export interface Histogram {
  /** `bins + 1` edges from the finite min to the finite max. */
  edges: number[];
  /** Count per bin. */
  counts: number[];
}

/** Numbers of a Tukey box plot. */
export interface BoxStats {
  /** 25th percentile. */
  q1: number;
  /** Median. */
  median: number;
  /** 75th percentile. */
  q3: number;
  /** Lowest value >= q1 - 1.5 IQR. */
  whiskerLow: number;
  /** Highest value <= q3 + 1.5 IQR. */
  whiskerHigh: number;
  /** Count of values below the low whisker. */
  outliersLow: number;
  /** Count of values above the high whisker. */
  outliersHigh: number;
  /** Up to 80 outliers per side, evenly spaced in rank, extremes included (for drawing). */
  outlierSample: number[];
}

/** Quantiles of the finite values, computed exactly (NumPy's default linear interpolation). */
export interface Quantiles {
  /** 1st percentile. */
  p1: number;
  /** 5th percentile. */
  p5: number;
  /** 25th percentile. */
  p25: number;
  /** Median. */
  p50: number;
  /** 75th percentile. */
  p75: number;
  /** 95th percentile. */
  p95: number;
  /** 99th percentile. */
  p99: number;
}

/** Spatial maps over channels (and saved frames). */
export interface SpatialMaps {
  /** Map height. */
  height: number;
  /** Map width. */
  width: number;
  /** Mean over frames, channels (and depth) per position, row-major. */
  mean: number[];
  /** Max per position. */
  max: number[];
  /** Population std per position. */
  std: number[];
  /** The channels with the highest mean activation, with their mean map over frames. */
  strongest: { channel: number; mean: number; map: number[] }[];
}

/** All statistics of one layer. */
export interface LayerStatistics {
  /** Per-frame field shape. */
  shape: number[];
  /** Geometry derived from the shape. */
  geometry: LayerGeometry;
  /** Number of saved frames (records). */
  frames: number;
  /** Summary over all saved frames. */
  summary: SummaryStats;
  /** Exact quantiles of the finite values. */
  quantiles: Quantiles;
  /** Histogram of the finite values. */
  histogram: Histogram;
  /** Box-plot numbers. */
  box: BoxStats;
  /** Cumulative distribution: `value[i]` is the `fraction[i]` quantile. */
  cdf: { value: number[]; fraction: number[] };
  /** Per-channel statistics over all saved frames. */
  channels: ChannelStats;
  /** Channels whose every saved value is exactly zero. */
  deadChannels: number[];
  /** Summary of each saved frame (record order). */
  perFrame: SummaryStats[];
  /** Mean of each channel in each saved frame, `[frame][channel]`. */
  frameChannelMeans: number[][];
  /** Spatial maps. */
  spatial: SpatialMaps;
}

/** Options of {@linkcode computeLayerStatistics}. */
export interface LayerStatisticsOptions {
  /** Histogram bins (default 60). */
  bins?: number;
  /** How many strongest channels to map (default 6). */
  strongest?: number;
  /** Points of the cumulative distribution (default 201). */
  cdfPoints?: number;
}

/**
 * Quantile `q` in [0, 1] of sorted values, NumPy's default ("linear") method.
 *
 * @example Usage
 * ```ts
 * import { quantileSorted } from "./layer_statistics.ts";
 * console.log(quantileSorted(new Float32Array([1, 2, 3, 4]), 0.5)); // 2.5
 * ```
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  const frac = pos - lo;
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

/** First index with sorted[i] >= v. */
function lowerBound(sorted: Float32Array, v: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index with sorted[i] > v. */
function upperBound(sorted: Float32Array, v: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Histogram of finite values over `[min, max]` with `bins` equal bins (last bin closed), like
 * `np.histogram(a[np.isfinite(a)], bins, range=(min, max))`.
 *
 * @example Usage
 * ```ts
 * import { histogram } from "./layer_statistics.ts";
 * console.log(histogram(new Float32Array([0, 0, 1, 2]), 2, [0, 2]).counts); // [2, 2]
 * ```
 */
export function histogram(
  data: Float32Array,
  bins: number,
  range: readonly [number, number],
): Histogram {
  let [lo, hi] = range;
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) {
    return { edges: [], counts: [] };
  }
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  // Edges exactly as np.linspace makes them: i * step + lo, last edge = hi.
  const step = (hi - lo) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : i * step + lo));
  const counts = new Array<number>(bins).fill(0);
  const norm = bins / (hi - lo);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!(v >= lo && v <= hi)) continue;
    let k = Math.floor((v - lo) * norm);
    if (k >= bins) k = bins - 1;
    // Correct float rounding against the exact edges, as NumPy does.
    if (v < edges[k]) k--;
    else if (k + 1 < bins && v >= edges[k + 1]) k++;
    counts[k]++;
  }
  return { edges, counts };
}

/**
 * Compute every statistic of one layer.
 *
 * @param data the layer's values for all saved frames, `frames x rowWidth*channels`, frame-major
 * @param moments the reduction of `data` as `frames * channels` rows of `rowWidth` values
 *   (from `reduceRows` or the GPU reducer)
 *
 * @example Usage
 * ```ts
 * import { computeLayerStatistics } from "./layer_statistics.ts";
 * import { reduceRows } from "./moments.ts";
 * const data = new Float32Array([0, 1, 2, 3, 0, 0, 0, 0]); // 1 frame, shape (2, 2, 2)
 * const s = computeLayerStatistics(data, reduceRows(data, 2, 4), { frames: 1, shape: [2, 2, 2] });
 * console.log(s.summary.mean, s.deadChannels); // 0.75 [1]
 * ```
 */
export function computeLayerStatistics(
  data: Float32Array,
  moments: RowMoments,
  layer: { frames: number; shape: readonly number[] },
  options: LayerStatisticsOptions = {},
): LayerStatistics {
  const geometry = layerGeometry(layer.shape);
  const { channels: C, rowWidth } = geometry;
  const R = layer.frames;
  if (data.length < R * C * rowWidth || moments.rows !== R * C) {
    throw new RangeError(
      `layer data of ${data.length} values / ${moments.rows} rows does not match ` +
        `${R} frames of shape (${layer.shape.join(", ")})`,
    );
  }
  const index: RowIndex = { frames: R, channels: C, rowOf: (f, c) => f * C + c };
  const allFrames = Array.from({ length: R }, (_, i) => i);
  const summary = mergeMoments(moments, Array.from({ length: R * C }, (_, i) => i));
  const channels = channelStatsOf(moments, index, allFrames);
  const deadChannels: number[] = [];
  channels.sparsity.forEach((s, c) => {
    if (s === 1) deadChannels.push(c);
  });
  const perFrame = allFrames.map((f) =>
    mergeMoments(moments, Array.from({ length: C }, (_, c) => f * C + c))
  );
  const frameChannelMeans = allFrames.map((f) =>
    Array.from({ length: C }, (_, c) => {
      const r = f * C + c;
      const n = moments.width - moments.nonfinite[r];
      return n ? moments.sum[r] / n : NaN;
    })
  );

  // Exact quantiles on a sorted copy of the finite values.
  const n = R * C * rowWidth;
  const finite = summary.nonfinite ? data.subarray(0, n).filter(Number.isFinite) : data.slice(0, n);
  finite.sort();
  const q = (p: number): number => quantileSorted(finite, p);
  const quantiles: Quantiles = {
    p1: q(0.01),
    p5: q(0.05),
    p25: q(0.25),
    p50: q(0.5),
    p75: q(0.75),
    p95: q(0.95),
    p99: q(0.99),
  };
  const iqr = quantiles.p75 - quantiles.p25;
  const lowFence = quantiles.p25 - 1.5 * iqr, highFence = quantiles.p75 + 1.5 * iqr;
  const lowEnd = lowerBound(finite, lowFence); // values [0, lowEnd) are low outliers
  const highStart = upperBound(finite, highFence); // values [highStart, n) are high outliers
  const sample = (from: number, to: number): number[] => {
    const k = to - from;
    if (k <= 0) return [];
    const m = Math.min(k, 80);
    const out: number[] = [];
    for (let i = 0; i < m; i++) {
      out.push(finite[from + Math.round(i * (k - 1) / Math.max(1, m - 1))]);
    }
    return [...new Set(out)];
  };
  const box: BoxStats = {
    q1: quantiles.p25,
    median: quantiles.p50,
    q3: quantiles.p75,
    whiskerLow: finite.length ? finite[Math.min(lowEnd, finite.length - 1)] : NaN,
    whiskerHigh: finite.length ? finite[Math.max(highStart - 1, 0)] : NaN,
    outliersLow: lowEnd,
    outliersHigh: finite.length - highStart,
    outlierSample: [...sample(0, lowEnd), ...sample(highStart, finite.length)],
  };
  const points = options.cdfPoints ?? 201;
  const fraction = Array.from({ length: points }, (_, i) => i / (points - 1));
  const cdf = { fraction, value: fraction.map(q) };
  const hist = histogram(finite, options.bins ?? 60, [summary.min, summary.max]);

  return {
    shape: [...layer.shape],
    geometry,
    frames: R,
    summary,
    quantiles,
    histogram: hist,
    box,
    cdf,
    channels,
    deadChannels,
    perFrame,
    frameChannelMeans,
    spatial: spatialMaps(data, R, geometry, channels.mean, options.strongest ?? 6),
  };
}

function spatialMaps(
  data: Float32Array,
  frames: number,
  g: LayerGeometry,
  channelMeans: number[],
  strongestCount: number,
): SpatialMaps {
  const { channels: C, depth: D, height: H, width: W, rowWidth } = g;
  const HW = H * W;
  const sum = new Float64Array(HW), cnt = new Float64Array(HW);
  const max = new Float64Array(HW).fill(-Infinity);
  const forEach = (fn: (pos: number, v: number) => void, channelsOf: number[]): void => {
    for (let f = 0; f < frames; f++) {
      for (const c of channelsOf) {
        const base = (f * C + c) * rowWidth;
        for (let d = 0; d < D; d++) {
          const off = base + d * HW;
          for (let p = 0; p < HW; p++) {
            const v = data[off + p];
            if (Number.isFinite(v)) fn(p, v);
          }
        }
      }
    }
  };
  const allChannels = Array.from({ length: C }, (_, c) => c);
  forEach((p, v) => {
    sum[p] += v;
    cnt[p]++;
    if (v > max[p]) max[p] = v;
  }, allChannels);
  const mean = Array.from(sum, (s, p) => (cnt[p] ? s / cnt[p] : NaN));
  const sq = new Float64Array(HW);
  forEach((p, v) => {
    const d = v - mean[p];
    sq[p] += d * d;
  }, allChannels);
  const std = Array.from(sq, (s, p) => (cnt[p] ? Math.sqrt(s / cnt[p]) : NaN));
  const order = allChannels
    .filter((c) => Number.isFinite(channelMeans[c]))
    .sort((a, b) => channelMeans[b] - channelMeans[a] || a - b)
    .slice(0, strongestCount);
  const strongest = order.map((c) => {
    const s = new Float64Array(HW), k = new Float64Array(HW);
    forEach((p, v) => {
      s[p] += v;
      k[p]++;
    }, [c]);
    return {
      channel: c,
      mean: channelMeans[c],
      map: Array.from(s, (x, p) => (k[p] ? x / k[p] : NaN)),
    };
  });
  return {
    height: H,
    width: W,
    mean,
    max: Array.from(max, (m) => (Number.isFinite(m) ? m : NaN)),
    std,
    strongest,
  };
}
