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

import { sortFloat32 } from "./_sort_f32.ts";
import { prng } from "./prng.ts";
import {
  type ChannelStats,
  channelStatsOf,
  copyRun,
  emptyMoments,
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
  /** When the map was block-averaged: the block side (cells of `block x block` positions). */
  block?: number;
  /** Height of the layer's map before block-averaging (with `block`). */
  mapHeight?: number;
  /** Width of the layer's map before block-averaging (with `block`). */
  mapWidth?: number;
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
  /**
   * Display limits of the value axes when a few extreme values would squash the rest (see
   * {@linkcode axisClipOf}), with the histogram over those limits; null when the full range is shown.
   */
  axisClip: AxisClip | null;
  /** How the quantiles were computed: exactly, or from a sample of the finite values. */
  quantileMethod: { exact: boolean; sample: number; of: number };
}

/** Clipped display limits of a layer's value axes. */
export interface AxisClip {
  /** Lower display limit (p0.1, or the low whisker when lower). */
  low: number;
  /** Upper display limit (p99.9, or the high whisker when higher). */
  high: number;
  /** Finite values below `low`. */
  below: number;
  /** Finite values above `high`. */
  above: number;
  /** Histogram over `[low, high]` (same bin count). */
  histogram: Histogram;
  /** One-line note for the chart, e.g. `axis clipped at p0.1..p99.9; min -1e7`. */
  note: string;
}

/** Options of {@linkcode computeLayerStatistics}. */
export interface LayerStatisticsOptions {
  /** Histogram bins (default 60). */
  bins?: number;
  /** How many strongest channels to map (default 6). */
  strongest?: number;
  /** Points of the cumulative distribution (default 201). */
  cdfPoints?: number;
  /** Largest number of finite values whose quantiles are exact (default {@linkcode EXACT_QUANTILE_LIMIT}). */
  exactLimit?: number;
  /** Sample size for approximate quantiles above `exactLimit` (default {@linkcode QUANTILE_SAMPLE}). */
  sampleSize?: number;
  /** Longest side of the spatial maps; larger maps are block-averaged (default {@linkcode MAX_MAP_SIDE}). */
  maxMapSide?: number;
}

/** Up to this many finite values, quantiles are exact (a sorted copy: 64 MiB at most). */
export const EXACT_QUANTILE_LIMIT = 1 << 24;
/** Above {@linkcode EXACT_QUANTILE_LIMIT}, quantiles come from a seeded uniform sample of this many values. */
export const QUANTILE_SAMPLE = 1 << 20;
/** Spatial maps longer than this on a side are block-averaged down to at most this size. */
export const MAX_MAP_SIDE = 256;
/** The value axes are clipped when the full range is this many times the p0.1..p99.9 range. */
export const AXIS_CLIP_RATIO = 10;

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
 * Display limits for a layer's value axes: `[min(p0.1, whiskerLow), max(p99.9, whiskerHigh)]` when
 * the full finite range is more than {@linkcode AXIS_CLIP_RATIO} times as wide, else null.
 *
 * @example Usage
 * ```ts
 * import { axisClipOf } from "./layer_statistics.ts";
 * console.log(axisClipOf({ min: -1e7, max: 1, p001: -1, p999: 1, whiskerLow: -1, whiskerHigh: 1 }));
 * // [-1, 1]
 * console.log(axisClipOf({ min: -3, max: 3, p001: -2, p999: 2, whiskerLow: -2, whiskerHigh: 2 })); // null
 * ```
 */
export function axisClipOf(
  r: {
    min: number;
    max: number;
    p001: number;
    p999: number;
    whiskerLow: number;
    whiskerHigh: number;
  },
): [number, number] | null {
  if (![r.min, r.max, r.p001, r.p999].every(Number.isFinite)) return null;
  const low = Math.min(r.p001, Number.isFinite(r.whiskerLow) ? r.whiskerLow : r.p001);
  const high = Math.max(r.p999, Number.isFinite(r.whiskerHigh) ? r.whiskerHigh : r.p999);
  const full = r.max - r.min, shown = high - low;
  if (!(full > 0)) return null;
  if (shown > 0 ? full <= AXIS_CLIP_RATIO * shown : false) return null;
  if (shown === 0 && low === r.min && high === r.max) return null;
  return [low, high];
}

/** What pass 1 leaves for pass 2. */
interface FirstPass {
  summary: SummaryStats;
  channels: ChannelStats;
  sorted: Float32Array;
  quantiles: Quantiles;
  p001: number;
  p999: number;
  lowFence: number;
  highFence: number;
  mean: number[];
  strongest: number[];
  strongSum: Float64Array[];
  strongCnt: Float64Array[];
  clip: [number, number] | null;
}

/**
 * Builds a layer's {@linkcode LayerStatistics} from its saved frames in two passes over chunks of
 * whole frames, holding only one chunk, the row moments and bounded accumulators at a time:
 * pass 1 (`addFirst`) takes each chunk with its row moments; pass 2 (`addSecond`) the same chunks
 * again, in the same order. Quantiles are exact up to `exactLimit` finite values (a sorted copy),
 * else from a seeded uniform sample (reservoir) of `sampleSize` values; counts, moments, histogram,
 * box-plot whiskers and outlier counts are always exact. Maps longer than `maxMapSide` are
 * block-averaged.
 *
 * @example Usage
 * ```ts
 * import { LayerStatisticsBuilder } from "./layer_statistics.ts";
 * import { reduceRows } from "./moments.ts";
 * const f0 = new Float32Array([0, 1, 2, 3]), f1 = new Float32Array([4, 5, 6, 7]); // shape (1, 2, 2)
 * const b = new LayerStatisticsBuilder({ frames: 2, shape: [1, 2, 2] });
 * b.addFirst(f0, 0, reduceRows(f0, 1, 4));
 * b.addFirst(f1, 1, reduceRows(f1, 1, 4));
 * b.addSecond(f0, 0);
 * b.addSecond(f1, 1);
 * console.log(b.finish().quantiles.p50); // 3.5
 * ```
 */
export class LayerStatisticsBuilder {
  readonly #geometry: LayerGeometry;
  readonly #frames: number;
  readonly #shape: number[];
  readonly #options: LayerStatisticsOptions;
  readonly #moments: RowMoments;
  readonly #exact: boolean;
  readonly #values: Float32Array;
  #kept = 0;
  #seen = 0;
  readonly #rand = prng(0x5eed);
  // Spatial accumulators over (possibly block-averaged) cells.
  readonly #factor: number;
  readonly #mh: number;
  readonly #mw: number;
  readonly #sum: Float64Array;
  readonly #cnt: Float64Array;
  readonly #max: Float64Array;
  readonly #sq: Float64Array;
  #first: FirstPass | null = null;
  readonly #hist: Histogram;
  #clipHist: Histogram | null = null;
  #below = 0;
  #above = 0;
  // Exact box numbers (approximate mode only).
  #outLow = 0;
  #outHigh = 0;
  #whiskerLow = Infinity;
  #whiskerHigh = -Infinity;
  #nextFirst = 0;
  #nextSecond = 0;

  /** Start a layer of `layer.frames` saved frames of per-frame shape `layer.shape`. */
  constructor(
    layer: { frames: number; shape: readonly number[] },
    options: LayerStatisticsOptions = {},
  ) {
    this.#geometry = layerGeometry(layer.shape);
    this.#frames = layer.frames;
    this.#shape = [...layer.shape];
    this.#options = options;
    const { channels: C, rowWidth, height: H, width: W } = this.#geometry;
    this.#moments = emptyMoments(layer.frames * C, rowWidth);
    const n = layer.frames * C * rowWidth;
    this.#exact = n <= (options.exactLimit ?? EXACT_QUANTILE_LIMIT);
    this.#values = new Float32Array(
      this.#exact ? n : Math.min(n, options.sampleSize ?? QUANTILE_SAMPLE),
    );
    const side = options.maxMapSide ?? MAX_MAP_SIDE;
    this.#factor = Math.max(1, Math.ceil(Math.max(H, W) / side));
    this.#mh = Math.ceil(H / this.#factor);
    this.#mw = Math.ceil(W / this.#factor);
    const cells = this.#mh * this.#mw;
    this.#sum = new Float64Array(cells);
    this.#cnt = new Float64Array(cells);
    this.#max = new Float64Array(cells).fill(-Infinity);
    this.#sq = new Float64Array(cells);
    this.#hist = { edges: [], counts: [] };
  }

  /** Visit every finite value of a chunk of whole frames as (cell, value), channels `only` or all. */
  #visit(
    data: Float32Array,
    frames: number,
    fn: (cell: number, v: number) => void,
    only?: number,
  ): void {
    const { channels: C, depth: D, height: H, width: W, rowWidth } = this.#geometry;
    const HW = H * W, f = this.#factor, mw = this.#mw;
    for (let fr = 0; fr < frames; fr++) {
      for (let c = only ?? 0; c < (only === undefined ? C : only + 1); c++) {
        const base = (fr * C + c) * rowWidth;
        for (let d = 0; d < D; d++) {
          const off = base + d * HW;
          if (f === 1) {
            for (let p = 0; p < HW; p++) {
              const v = data[off + p];
              if (Number.isFinite(v)) fn(p, v);
            }
          } else {
            for (let y = 0; y < H; y++) {
              const row = off + y * W, crow = Math.floor(y / f) * mw;
              for (let x = 0; x < W; x++) {
                const v = data[row + x];
                if (Number.isFinite(v)) fn(crow + Math.floor(x / f), v);
              }
            }
          }
        }
      }
    }
  }

  #framesOf(data: Float32Array): number {
    const per = this.#geometry.channels * this.#geometry.rowWidth;
    const k = per ? Math.floor(data.length / per) : 0;
    if (k * per !== data.length && per) {
      throw new RangeError(`a chunk of ${data.length} values is not whole frames of ${per}`);
    }
    return k;
  }

  /** Pass 1: the chunk of whole frames starting at frame `first`, and its row moments. */
  addFirst(data: Float32Array, first: number, moments: RowMoments): void {
    const C = this.#geometry.channels;
    const frames = this.#framesOf(data);
    if (first !== this.#nextFirst || moments.rows !== frames * C) {
      throw new RangeError(
        `pass 1 chunk at frame ${first} (${frames} frames, ${moments.rows} rows) is out of order`,
      );
    }
    this.#nextFirst += frames;
    for (let r = 0; r < moments.rows; r++) copyRun(moments, r, this.#moments, first * C + r);
    // Values for quantiles: all finite values (exact), or a reservoir sample.
    const vals = this.#values;
    if (this.#exact) {
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        if (Number.isFinite(v)) vals[this.#kept++] = v;
      }
    } else {
      const cap = vals.length;
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        if (!Number.isFinite(v)) continue;
        const seen = this.#seen++;
        if (seen < cap) vals[this.#kept++] = v;
        else {
          const j = Math.floor(this.#rand() * (seen + 1));
          if (j < cap) vals[j] = v;
        }
      }
    }
    const sum = this.#sum, cnt = this.#cnt, max = this.#max;
    this.#visit(data, frames, (p, v) => {
      sum[p] += v;
      cnt[p]++;
      if (v > max[p]) max[p] = v;
    });
  }

  #finishFirst(): FirstPass {
    if (this.#first) return this.#first;
    const { channels: C } = this.#geometry;
    const R = this.#frames;
    if (this.#nextFirst !== R) {
      throw new RangeError(`pass 1 saw ${this.#nextFirst} of ${R} frames`);
    }
    const m = this.#moments;
    const index: RowIndex = { frames: R, channels: C, rowOf: (f, c) => f * C + c };
    const allFrames = Array.from({ length: R }, (_, i) => i);
    const summary = mergeMoments(m, Array.from({ length: R * C }, (_, i) => i));
    const channels = channelStatsOf(m, index, allFrames);
    const sorted = this.#values.subarray(0, this.#kept);
    sortFloat32(sorted); // = sorted.sort(), by a linear-time radix sort
    const q = (p: number): number => quantileSorted(sorted, p);
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
    const mean = Array.from(this.#sum, (s, p) => (this.#cnt[p] ? s / this.#cnt[p] : NaN));
    const strongest = Array.from({ length: C }, (_, c) => c)
      .filter((c) => Number.isFinite(channels.mean[c]))
      .sort((a, b) => channels.mean[b] - channels.mean[a] || a - b)
      .slice(0, this.#options.strongest ?? 6);
    const cells = this.#sum.length;
    // Nearest ranks, rounded inwards: with under 1000 values the single most extreme one is still
    // excluded.
    const last = sorted.length - 1;
    const p001 = last >= 0 ? sorted[Math.ceil(0.001 * last)] : NaN;
    const p999 = last >= 0 ? sorted[Math.floor(0.999 * last)] : NaN;
    // Whiskers for the clip decision: from the sorted values (exact or sampled).
    const lo = lowerBound(sorted, lowFence), hi = upperBound(sorted, highFence);
    const clip = axisClipOf({
      min: summary.min,
      max: summary.max,
      p001,
      p999,
      whiskerLow: sorted.length ? sorted[Math.min(lo, sorted.length - 1)] : NaN,
      whiskerHigh: sorted.length ? sorted[Math.max(hi - 1, 0)] : NaN,
    });
    const bins = this.#options.bins ?? 60;
    const h = histogram(new Float32Array(0), bins, [summary.min, summary.max]);
    this.#hist.edges = h.edges;
    this.#hist.counts = h.counts;
    if (clip) this.#clipHist = histogram(new Float32Array(0), bins, clip);
    this.#first = {
      summary,
      channels,
      sorted,
      quantiles,
      p001,
      p999,
      lowFence,
      highFence,
      mean,
      strongest,
      strongSum: strongest.map(() => new Float64Array(cells)),
      strongCnt: strongest.map(() => new Float64Array(cells)),
      clip,
    };
    return this.#first;
  }

  /** Pass 2: the same chunks again, in the same order. */
  addSecond(data: Float32Array, first: number): void {
    const st = this.#finishFirst();
    const frames = this.#framesOf(data);
    if (first !== this.#nextSecond) {
      throw new RangeError(`pass 2 chunk at frame ${first} is out of order`);
    }
    this.#nextSecond += frames;
    const { summary } = st;
    addCounts(this.#hist, histogram(data, this.#hist.counts.length, [summary.min, summary.max]));
    if (st.clip && this.#clipHist) {
      addCounts(this.#clipHist, histogram(data, this.#clipHist.counts.length, st.clip));
      const [lo, hi] = st.clip;
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        if (v < lo) this.#below++;
        else if (v > hi) this.#above++;
      }
    }
    if (!this.#exact) {
      const { lowFence, highFence } = st;
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        if (!Number.isFinite(v)) continue;
        if (v < lowFence) this.#outLow++;
        else if (v > highFence) this.#outHigh++;
        if (v >= lowFence && v < this.#whiskerLow) this.#whiskerLow = v;
        if (v <= highFence && v > this.#whiskerHigh) this.#whiskerHigh = v;
      }
    }
    const mean = st.mean, sq = this.#sq;
    this.#visit(data, frames, (p, v) => {
      const d = v - mean[p];
      sq[p] += d * d;
    });
    st.strongest.forEach((c, k) => {
      const s = st.strongSum[k], n = st.strongCnt[k];
      this.#visit(data, frames, (p, v) => {
        s[p] += v;
        n[p]++;
      }, c);
    });
  }

  /** The statistics, after both passes saw every frame. */
  finish(): LayerStatistics {
    const st = this.#finishFirst();
    if (this.#nextSecond !== this.#frames) {
      throw new RangeError(`pass 2 saw ${this.#nextSecond} of ${this.#frames} frames`);
    }
    const { channels: C } = this.#geometry;
    const R = this.#frames;
    const m = this.#moments;
    const { summary, channels, sorted, quantiles } = st;
    const deadChannels: number[] = [];
    channels.sparsity.forEach((s, c) => {
      if (s === 1) deadChannels.push(c);
    });
    const allFrames = Array.from({ length: R }, (_, i) => i);
    const perFrame = allFrames.map((f) =>
      mergeMoments(m, Array.from({ length: C }, (_, c) => f * C + c))
    );
    const frameChannelMeans = allFrames.map((f) =>
      Array.from({ length: C }, (_, c) => {
        const r = f * C + c;
        const n = m.width - m.nonfinite[r];
        return n ? m.sum[r] / n : NaN;
      })
    );
    const lowEnd = lowerBound(sorted, st.lowFence); // values [0, lowEnd) are low outliers
    const highStart = upperBound(sorted, st.highFence); // values [highStart, n) are high outliers
    const sample = (from: number, to: number): number[] => {
      const k = to - from;
      if (k <= 0) return [];
      const mm = Math.min(k, 80);
      const out: number[] = [];
      for (let i = 0; i < mm; i++) {
        out.push(sorted[from + Math.round(i * (k - 1) / Math.max(1, mm - 1))]);
      }
      return [...new Set(out)];
    };
    const outlierSample = [...sample(0, lowEnd), ...sample(highStart, sorted.length)];
    const box: BoxStats = this.#exact
      ? {
        q1: quantiles.p25,
        median: quantiles.p50,
        q3: quantiles.p75,
        whiskerLow: sorted.length ? sorted[Math.min(lowEnd, sorted.length - 1)] : NaN,
        whiskerHigh: sorted.length ? sorted[Math.max(highStart - 1, 0)] : NaN,
        outliersLow: lowEnd,
        outliersHigh: sorted.length - highStart,
        outlierSample,
      }
      : {
        q1: quantiles.p25,
        median: quantiles.p50,
        q3: quantiles.p75,
        whiskerLow: Number.isFinite(this.#whiskerLow) ? this.#whiskerLow : NaN,
        whiskerHigh: Number.isFinite(this.#whiskerHigh) ? this.#whiskerHigh : NaN,
        outliersLow: this.#outLow,
        outliersHigh: this.#outHigh,
        outlierSample,
      };
    const points = this.#options.cdfPoints ?? 201;
    const fraction = Array.from({ length: points }, (_, i) => i / (points - 1));
    const cdf = { fraction, value: fraction.map((p) => quantileSorted(sorted, p)) };
    const cnt = this.#cnt;
    const std = Array.from(this.#sq, (s, p) => (cnt[p] ? Math.sqrt(s / cnt[p]) : NaN));
    const spatial: SpatialMaps = {
      height: this.#mh,
      width: this.#mw,
      mean: st.mean,
      max: Array.from(this.#max, (x) => (Number.isFinite(x) ? x : NaN)),
      std,
      strongest: st.strongest.map((c, k) => ({
        channel: c,
        mean: channels.mean[c],
        map: Array.from(
          st.strongSum[k],
          (x, p) => (st.strongCnt[k][p] ? x / st.strongCnt[k][p] : NaN),
        ),
      })),
      ...(this.#factor > 1
        ? { block: this.#factor, mapHeight: this.#geometry.height, mapWidth: this.#geometry.width }
        : {}),
    };
    let axisClip: AxisClip | null = null;
    if (st.clip && this.#clipHist) {
      const [low, high] = st.clip;
      const ends = [
        summary.min < low ? `min ${fmtShort(summary.min)}` : "",
        summary.max > high ? `max ${fmtShort(summary.max)}` : "",
      ].filter(Boolean).join(", ");
      axisClip = {
        low,
        high,
        below: this.#below,
        above: this.#above,
        histogram: this.#clipHist,
        note: `axis clipped at p0.1..p99.9; ${ends}`,
      };
    }
    return {
      shape: [...this.#shape],
      geometry: this.#geometry,
      frames: R,
      summary,
      quantiles,
      histogram: this.#hist,
      box,
      cdf,
      channels,
      deadChannels,
      perFrame,
      frameChannelMeans,
      spatial,
      axisClip,
      quantileMethod: { exact: this.#exact, sample: sorted.length, of: summary.count },
    };
  }
}

function addCounts(into: Histogram, h: Histogram): void {
  for (let i = 0; i < h.counts.length; i++) into.counts[i] += h.counts[i];
}

/** 3 significant digits, exponent for huge or tiny values (as in the chart notes). */
function fmtShort(v: number): string {
  const a = Math.abs(v);
  if (v !== 0 && (a >= 1e5 || a < 1e-3)) {
    return v.toExponential(2).replace("e+", "e").replace(/\.?0+e/, "e");
  }
  return String(Number(v.toPrecision(3)));
}

/**
 * Compute every statistic of one layer held in memory (the one-chunk case of
 * {@linkcode LayerStatisticsBuilder}).
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
  const b = new LayerStatisticsBuilder(layer, options);
  const all = data.subarray(0, R * C * rowWidth);
  b.addFirst(all, 0, moments);
  b.addSecond(all, 0);
  return b.finish();
}
