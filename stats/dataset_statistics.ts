/**
 * Dataset-wide statistics of one layer, streamed batch by batch and merged exactly.
 *
 * Each batch gives a {@linkcode BatchPartial} per channel (count, mean and m2 in float64, by two
 * passes over the batch's values). Partials fold into a {@linkcode LayerAccumulator} in batch
 * order with the moment merge of Chan et al.; min, max, zero counts and the fixed-edge histogram
 * are order-free sums. Folding the same partials in the same order gives the same bits, so a
 * resumed run, and shards merged in shard order (`mergeShards`), give exactly the numbers of one
 * uninterrupted run.
 *
 * The histogram edges are fixed, not taken from the data, so that any two runs merge: one bin
 * for exact zeros and, on each side, half-octave bins of |x| from 2^-20 to 2^24 (`HIST_EDGES`),
 * with the values beyond in the outermost bins.
 *
 * @module
 */

import { InspectorError } from "../core/errors.ts";
import type { RowIndex, RowMoments } from "./moments.ts";
import { addGazeSums, emptyGazeSums, type GazeSums } from "./gaze_frames.ts";

/** Half-octave bins of |x| per side: 2^(k/2) for k in [-40, 48]. */
const LOW = -40, HIGH = 48;

/**
 * The histogram's bin edges on the positive side (2^-20 ... 2^24); bins are mirrored for
 * negative values and exact zeros have their own bin. Bin order: negative (large to small),
 * zero, positive (small to large), {@linkcode HIST_BINS} in all.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { HIST_BINS, HIST_EDGES } from "./dataset_statistics.ts";
 * assert.equal(HIST_EDGES[0], 2 ** -20);
 * assert.equal(HIST_BINS, 2 * (HIST_EDGES.length + 1) + 1);
 * ```
 */
export const HIST_EDGES: readonly number[] = Array.from(
  { length: HIGH - LOW + 1 },
  (_, k) => 2 ** ((LOW + k) / 2),
);

/** Number of histogram bins. */
export const HIST_BINS: number = 2 * (HIST_EDGES.length + 1) + 1;

const SIDE = HIST_EDGES.length + 1;

/**
 * The histogram bin of a finite value (see {@linkcode HIST_EDGES}).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { HIST_BINS, histBin } from "./dataset_statistics.ts";
 * const zero = (HIST_BINS - 1) / 2;
 * assert.equal(histBin(0), zero);
 * assert.equal(histBin(1), zero + 42); // [2^0, 2^0.5)
 * assert.equal(histBin(-1), zero - 42);
 * ```
 */
export function histBin(x: number): number {
  if (x === 0) return SIDE;
  F32[0] = x;
  const bits = U32[0];
  // |x| = 2^e * 1.m: the half-octave is 2e, plus one when 1.m >= sqrt(2) (float32 exact).
  const e = ((bits >>> 23) & 255) - 127;
  const h = 2 * e + ((bits & 0x7fffff) >= SQRT2_MANTISSA ? 1 : 0);
  const k = h < LOW ? 0 : h >= HIGH ? SIDE - 1 : h - LOW + 1;
  return bits >>> 31 ? SIDE - 1 - k : SIDE + 1 + k;
}

/**
 * The histogram of `max(x, 0)` from the histogram of finite values `x`: positive bins stay,
 * every value at or below zero lands in the zero bin (a ReLU keeps a positive float32 as it is).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { HIST_BINS, histBin, positiveHistogram } from "./dataset_statistics.ts";
 * const h = new Array(HIST_BINS).fill(0);
 * for (const x of [-3, -0.5, 0, 0.25, 2]) h[histBin(x)]++;
 * const p = positiveHistogram(h);
 * assert.equal(p[histBin(0)], 3);
 * assert.equal(p[histBin(2)], 1);
 * assert.equal(p[histBin(-3)], 0);
 * ```
 */
export function positiveHistogram(histogram: readonly number[]): number[] {
  const out = new Array<number>(HIST_BINS).fill(0);
  for (let b = 0; b < HIST_BINS; b++) out[Math.max(b, SIDE)] += histogram[b];
  return out;
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
/** Mantissa bits of sqrt(2) in float32, rounded up: 1.m >= sqrt(2) exactly when m >= this. */
const SQRT2_MANTISSA = 0x3504f3;

/** One batch's moments of one layer, per channel. */
export interface BatchPartial {
  /** Finite values per channel. */
  count: number[];
  /** Mean of the finite values per channel. */
  mean: number[];
  /** Sum of squared deviations from that mean per channel. */
  m2: number[];
  /** Largest finite value per channel (-Infinity when none); not needed for the merge. */
  max?: number[];
  /** Exact zeros per channel; not needed for the merge. */
  zeros?: number[];
  /** Gaze-alignment sums of the batch (dataset mode, spatial layers of clips with gaze). */
  gaze?: GazeSums;
}

/** A layer's dataset statistics so far (JSON-safe: plain arrays of float64 numbers). */
export interface LayerAccumulator {
  /** Layer name. */
  name: string;
  /** Channels C. */
  channels: number;
  /** Values per channel per frame (H*W, or 1). */
  spatial: number;
  /** Frames (clip x tensor time index) seen. */
  frames: number;
  /** Finite values per channel. */
  count: number[];
  /** Mean per channel. */
  mean: number[];
  /** Squared deviations per channel. */
  m2: number[];
  /** Minimum per channel (null before any finite value). */
  min: (number | null)[];
  /** Maximum per channel (null before any finite value). */
  max: (number | null)[];
  /** Exact zeros per channel. */
  zeros: number[];
  /** NaN and +-Inf per channel. */
  nonfinite: number[];
  /** Counts per histogram bin, over all channels. */
  histogram: number[];
  /** Gaze-alignment sums so far (folded from the batch partials; absent when none scored). */
  gaze?: GazeSums;
}

/**
 * An empty accumulator for a layer of `channels` channels of `spatial` values each.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyLayerAccumulator } from "./dataset_statistics.ts";
 * const a = emptyLayerAccumulator("layer1", { channels: 4, spatial: 9 });
 * assert.deepEqual(a.count, [0, 0, 0, 0]);
 * ```
 */
export function emptyLayerAccumulator(
  name: string,
  options: { channels: number; spatial: number },
): LayerAccumulator {
  const c = options.channels;
  const zeros = (): number[] => new Array(c).fill(0);
  return {
    name,
    channels: c,
    spatial: options.spatial,
    frames: 0,
    count: zeros(),
    mean: zeros(),
    m2: zeros(),
    min: new Array(c).fill(null),
    max: new Array(c).fill(null),
    zeros: zeros(),
    nonfinite: zeros(),
    histogram: new Array(HIST_BINS).fill(0),
  };
}

/**
 * Add one batch of frames (each `C * spatial` values, channel-major) to `acc`: the order-free
 * counts (min, max, zeros, histogram) go in at once; the returned partial is then folded with
 * {@linkcode foldPartial} (by the caller, so that shards can keep it for an exact merge).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { addFrames, emptyLayerAccumulator, foldPartial } from "./dataset_statistics.ts";
 * const acc = emptyLayerAccumulator("x", { channels: 2, spatial: 2 });
 * const p = addFrames(acc, [new Float32Array([1, 3, 0, 0]), new Float32Array([5, 7, 0, 2])]);
 * foldPartial(acc, p);
 * assert.deepEqual(acc.mean, [4, 0.5]);
 * assert.deepEqual(acc.max, [7, 2]);
 * assert.deepEqual(acc.zeros, [0, 3]);
 * ```
 */
export function addFrames(
  acc: LayerAccumulator,
  frames: readonly Float32Array[],
): Required<Omit<BatchPartial, "gaze">> {
  const C = acc.channels, S = acc.spatial;
  const part: Required<Omit<BatchPartial, "gaze">> = {
    count: new Array(C).fill(0),
    mean: new Array(C).fill(0),
    m2: new Array(C).fill(0),
    max: new Array(C).fill(-Infinity),
    zeros: new Array(C).fill(0),
  };
  for (const f of frames) {
    if (f.length !== C * S) {
      throw new InspectorError(
        `layer ${acc.name}: a frame of ${f.length} values, expected ${C}x${S}; ` +
          `keep options.size and the model the same for the whole dataset`,
      );
    }
  }
  for (let c = 0; c < C; c++) {
    let n = 0, sum = 0, zeros = 0, bad = 0;
    let lo = Infinity, hi = -Infinity;
    for (const f of frames) {
      for (let i = c * S, end = i + S; i < end; i++) {
        const v = f[i];
        if (!Number.isFinite(v)) {
          bad++;
          continue;
        }
        n++;
        sum += v;
        if (v === 0) zeros++;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    const mean = n > 0 ? sum / n : 0;
    let m2 = 0;
    for (const f of frames) {
      for (let i = c * S, end = i + S; i < end; i++) {
        const v = f[i];
        if (Number.isFinite(v)) m2 += (v - mean) * (v - mean);
      }
    }
    storeChannel(acc, part, c, { n, mean, m2, lo, hi, zeros, bad });
  }
  addHistogram(acc, frames);
  acc.frames += frames.length;
  return part;
}

/** One channel's batch figures into the partial and the order-free parts of `acc`. */
function storeChannel(
  acc: LayerAccumulator,
  part: Required<Omit<BatchPartial, "gaze">>,
  c: number,
  v: { n: number; mean: number; m2: number; lo: number; hi: number; zeros: number; bad: number },
): void {
  part.count[c] = v.n;
  part.mean[c] = v.mean;
  part.m2[c] = v.m2;
  part.max[c] = v.hi;
  part.zeros[c] = v.zeros;
  acc.zeros[c] += v.zeros;
  acc.nonfinite[c] += v.bad;
  if (v.n > 0) {
    if (acc.min[c] === null || v.lo < acc.min[c]!) acc.min[c] = v.lo;
    if (acc.max[c] === null || v.hi > acc.max[c]!) acc.max[c] = v.hi;
  }
}

/** Bin of each float32 bit pattern's top 16 bits (sign, exponent, 7 mantissa bits), or -1. */
/** The table's mark for a value it cannot place. */
const SLOW = 255;

/**
 * The bin of every float32 whose top 16 bits decide it ({@linkcode SLOW} otherwise), for
 * {@linkcode addHistogram}.
 */
const BIN_OF_TOP16: Uint8Array = (() => {
  const lut = new Uint8Array(1 << 16);
  const u = new Uint32Array(1), f = new Float32Array(u.buffer);
  for (let top = 0; top < lut.length; top++) {
    const e = (top >>> 7) & 255;
    if (e === 0) {
      // Zero or denormal (below 2^-20: the innermost bin). The top 16 bits of +-0 are also those
      // of the denormals below 2^-133: counted as zeros here, and moved by addHistogram.
      lut[top] = (top & 0x7fff) === 0 ? SIDE : top >>> 15 ? SIDE - 1 : SIDE + 1;
      continue;
    }
    // Inf/NaN, and the 1/128 of an octave holding the sqrt(2) edge (mantissa 0x3504f3), are
    // decided value by value.
    if (e === 255) {
      lut[top] = SLOW;
      continue;
    }
    u[0] = top << 16;
    const lo = histBin(f[0]);
    u[0] = (top << 16) | 0xffff;
    lut[top] = histBin(f[0]) === lo ? lo : SLOW;
  }
  return lut;
})();

/**
 * Add every finite value of `frames` to `acc`'s fixed-edge histogram (the one histogram
 * implementation: {@linkcode addFrames} and {@linkcode addRowMoments}' callers use it). Bins come
 * from a byte table of the top 16 bits of each float32, one read per value, counted in four
 * tables in turn (so that a run of zeros does not wait on its own increments): about 2 ns per
 * value here, against 3.7 with one table and a branch per zero. Only Inf/NaN and the 1/128 of an
 * octave next to each sqrt(2) edge go through {@linkcode histBin}.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { addHistogram, emptyLayerAccumulator, HIST_BINS, histBin } from "./dataset_statistics.ts";
 * const acc = emptyLayerAccumulator("x", { channels: 1, spatial: 4 });
 * addHistogram(acc, [new Float32Array([0, 1, -1, 1.5]), new Float32Array([NaN, 0, 1.4, 1e-30])]);
 * assert.equal(acc.histogram[histBin(0)], 2);
 * assert.equal(acc.histogram[histBin(1)], 2); // 1 and 1.4 in [2^0, 2^0.5)
 * assert.equal(acc.histogram[histBin(1.5)], 1);
 * assert.equal(acc.histogram.reduce((a, b) => a + b, 0), 7); // NaN left out
 * assert.equal(acc.histogram.length, HIST_BINS);
 * ```
 */
export function addHistogram(acc: LayerAccumulator, frames: readonly Float32Array[]): void {
  const lut = BIN_OF_TOP16;
  // Four count tables taken in turn, SLOW being their last slot; 32-bit counts (a frame holds
  // under 2^31 values), added up per frame.
  const h0 = new Uint32Array(SLOW + 1), h1 = new Uint32Array(SLOW + 1);
  const h2 = new Uint32Array(SLOW + 1), h3 = new Uint32Array(SLOW + 1);
  const total = acc.histogram;
  for (const f of frames) {
    const bits = new Uint32Array(f.buffer, f.byteOffset, f.length);
    const n = bits.length, n4 = n - (n % 4);
    // Low bits of the values whose top 16 bits are those of +-0: non-zero when a denormal below
    // 2^-133 was counted as a zero (branch-free: the mask is -1 when the top bits are zero).
    let tiny = 0;
    for (let i = 0; i < n4; i += 4) {
      const a = bits[i], b = bits[i + 1], c = bits[i + 2], d = bits[i + 3];
      const ka = lut[a >>> 16], kb = lut[b >>> 16], kc = lut[c >>> 16], kd = lut[d >>> 16];
      h0[ka]++;
      h1[kb]++;
      h2[kc]++;
      h3[kd]++;
      // A SLOW value (about 1 in 128, counted in the unused last slot) is placed now: bit 8 of
      // k + 1 is set for SLOW only, so one rarely taken branch per four values.
      if (((ka + 1) | (kb + 1) | (kc + 1) | (kd + 1)) & 256) {
        if (ka === SLOW) addSlow(total, a, f[i]);
        if (kb === SLOW) addSlow(total, b, f[i + 1]);
        if (kc === SLOW) addSlow(total, c, f[i + 2]);
        if (kd === SLOW) addSlow(total, d, f[i + 3]);
      }
      tiny |= (a & 0xffff & -(((a & 0x7fff0000) - 1) >>> 31)) |
        (b & 0xffff & -(((b & 0x7fff0000) - 1) >>> 31)) |
        (c & 0xffff & -(((c & 0x7fff0000) - 1) >>> 31)) |
        (d & 0xffff & -(((d & 0x7fff0000) - 1) >>> 31));
    }
    for (let i = n4; i < n; i++) {
      const a = bits[i], k = lut[a >>> 16];
      if (k === SLOW) addSlow(total, a, f[i]);
      else h0[k]++;
      tiny |= a & 0xffff & -(((a & 0x7fff0000) - 1) >>> 31);
    }
    for (let k = 0; k < HIST_BINS; k++) total[k] += h0[k] + h1[k] + h2[k] + h3[k];
    // Denormals below 2^-133 were counted as zeros: one more look at this frame, only then.
    if (tiny !== 0) moveTinyDenormals(total, bits);
    for (const h of [h0, h1, h2, h3]) h.fill(0);
  }
}

/** A value {@linkcode addHistogram}'s table cannot place: by {@linkcode histBin}; Inf/NaN nowhere. */
function addSlow(total: number[], w: number, x: number): void {
  if ((w & 0x7f800000) !== 0x7f800000) total[histBin(x)]++;
}

/** Move the denormals whose top 16 bits are zero from the zero bin to their side's innermost. */
function moveTinyDenormals(total: number[], bits: Uint32Array): void {
  for (let i = 0; i < bits.length; i++) {
    const w = bits[i];
    if ((w & 0x7fff0000) === 0 && (w & 0xffff) !== 0) {
      total[SIDE]--;
      total[w >>> 31 ? SIDE - 1 : SIDE + 1]++;
    }
  }
}

/**
 * Like {@linkcode addFrames}, from per-(frame, channel) row moments (`stats/moments.ts`, as the
 * tapped forward computes them, e.g. inside the ONNX graph) instead of the values: the counts,
 * moments, min, max, zeros and non-finite counts of the given tensor frames go into `acc` and the
 * returned partial (rows merged in frame order by Chan et al.'s merge). The histogram is not
 * touched: add the frames' values with {@linkcode addHistogram}.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { addRowMoments, emptyLayerAccumulator } from "./dataset_statistics.ts";
 * import { reduceRows } from "./moments.ts";
 * // Two frames of 2 channels x 2 values, frame-major rows (frame f, channel c) = f * 2 + c.
 * const m = reduceRows(new Float32Array([1, 3, 0, 0, 5, 7, 0, 2]), 4, 2);
 * const acc = emptyLayerAccumulator("x", { channels: 2, spatial: 2 });
 * const p = addRowMoments(acc, m, {
 *   index: { frames: 2, channels: 2, rowOf: (f, c) => f * 2 + c },
 *   frames: [0, 1],
 * });
 * assert.deepEqual(p.mean, [4, 0.5]);
 * assert.deepEqual(p.m2, [20, 3]);
 * assert.deepEqual(acc.max, [7, 2]);
 * assert.deepEqual(acc.zeros, [0, 3]);
 * ```
 */
export function addRowMoments(
  acc: LayerAccumulator,
  moments: RowMoments,
  options: { index: RowIndex; frames: readonly number[] },
): Required<Omit<BatchPartial, "gaze">> {
  const C = acc.channels, S = acc.spatial;
  if (options.index.channels !== C || moments.width !== S) {
    throw new InspectorError(
      `layer ${acc.name}: rows of ${options.index.channels}x${moments.width} values, expected ` +
        `${C}x${S}; keep options.size and the model the same for the whole dataset`,
    );
  }
  const part: Required<Omit<BatchPartial, "gaze">> = {
    count: new Array(C).fill(0),
    mean: new Array(C).fill(0),
    m2: new Array(C).fill(0),
    max: new Array(C).fill(-Infinity),
    zeros: new Array(C).fill(0),
  };
  for (let c = 0; c < C; c++) {
    let n = 0, mean = 0, m2 = 0, zeros = 0, bad = 0;
    let lo = Infinity, hi = -Infinity;
    for (const f of options.frames) {
      const r = options.index.rowOf(f, c);
      const nb = S - moments.nonfinite[r];
      zeros += moments.zeros[r];
      bad += moments.nonfinite[r];
      if (nb <= 0) continue;
      const mb = moments.sum[r] / nb;
      if (n === 0) {
        n = nb;
        mean = mb;
        m2 = moments.m2[r];
      } else {
        const t = n + nb, d = mb - mean;
        mean += d * (nb / t);
        m2 += moments.m2[r] + d * d * (n * nb / t);
        n = t;
      }
      if (moments.min[r] < lo) lo = moments.min[r];
      if (moments.max[r] > hi) hi = moments.max[r];
    }
    storeChannel(acc, part, c, { n, mean, m2, lo, hi, zeros, bad });
  }
  acc.frames += options.frames.length;
  return part;
}

/**
 * Fold a batch partial into `acc` (its gaze sums added, when any; Chan et al.'s merge; an empty side is copied, not computed,
 * so the fold of one partial is that partial's bits).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyLayerAccumulator, foldPartial } from "./dataset_statistics.ts";
 * const acc = emptyLayerAccumulator("x", { channels: 1, spatial: 1 });
 * foldPartial(acc, { count: [2], mean: [1], m2: [2] }); // values 0, 2
 * foldPartial(acc, { count: [2], mean: [5], m2: [2] }); // values 4, 6
 * assert.deepEqual([acc.count[0], acc.mean[0], acc.m2[0]], [4, 3, 20]);
 * ```
 */
export function foldPartial(acc: LayerAccumulator, part: BatchPartial): void {
  if (part.gaze) addGazeSums(acc.gaze ??= emptyGazeSums(), part.gaze);
  for (let c = 0; c < acc.channels; c++) {
    const nb = part.count[c];
    if (nb === 0) continue;
    const na = acc.count[c];
    if (na === 0) {
      acc.count[c] = nb;
      acc.mean[c] = part.mean[c];
      acc.m2[c] = part.m2[c];
      continue;
    }
    const n = na + nb;
    const delta = part.mean[c] - acc.mean[c];
    acc.mean[c] += delta * (nb / n);
    acc.m2[c] += part.m2[c] + delta * delta * (na * nb / n);
    acc.count[c] = n;
  }
}

/**
 * Fold partials, in order, into one (the moments only): a batch's partial from its clips'.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { mergePartials } from "./dataset_statistics.ts";
 * const p = mergePartials([{ count: [2], mean: [1], m2: [2] }, { count: [2], mean: [5], m2: [2] }]);
 * assert.deepEqual(p, { count: [4], mean: [3], m2: [20] });
 * ```
 */
export function mergePartials(parts: readonly BatchPartial[]): BatchPartial {
  const C = parts[0]?.count.length ?? 0;
  const acc = emptyLayerAccumulator("", { channels: C, spatial: 1 });
  for (const p of parts) foldPartial(acc, p);
  return { count: acc.count, mean: acc.mean, m2: acc.m2 };
}

/**
 * Add the order-free parts of `b` (frames, min, max, zeros, non-finite counts, histogram) to `a`;
 * the moments are merged by folding `b`'s partials (see {@linkcode foldPartial}).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { addCounts, emptyLayerAccumulator } from "./dataset_statistics.ts";
 * const a = emptyLayerAccumulator("x", { channels: 1, spatial: 1 });
 * const b = { ...emptyLayerAccumulator("x", { channels: 1, spatial: 1 }), min: [-2], max: [3] };
 * addCounts(a, b);
 * assert.deepEqual([a.min[0], a.max[0]], [-2, 3]);
 * ```
 */
export function addCounts(a: LayerAccumulator, b: LayerAccumulator): void {
  if (a.channels !== b.channels || a.spatial !== b.spatial) {
    throw new InspectorError(
      `layer ${a.name}: ${a.channels}x${a.spatial} and ${b.channels}x${b.spatial} differ; ` +
        `merge only runs of the same model, layers and options.size`,
    );
  }
  a.frames += b.frames;
  for (let c = 0; c < a.channels; c++) {
    a.zeros[c] += b.zeros[c];
    a.nonfinite[c] += b.nonfinite[c];
    const lo = b.min[c], hi = b.max[c];
    if (lo !== null && (a.min[c] === null || lo < a.min[c]!)) a.min[c] = lo;
    if (hi !== null && (a.max[c] === null || hi > a.max[c]!)) a.max[c] = hi;
  }
  for (let k = 0; k < a.histogram.length; k++) a.histogram[k] += b.histogram[k];
}

/** A layer's dataset statistics as people read them. */
export interface LayerDatasetStats {
  /** Layer name. */
  name: string;
  /** Channels. */
  channels: number;
  /** Frames seen. */
  frames: number;
  /** Finite values seen. */
  values: number;
  /** Over all channels: mean, population std, min, max, fraction of exact zeros. */
  summary: { mean: number; std: number; min: number | null; max: number | null; sparsity: number };
  /** Per channel. */
  per_channel: {
    mean: number[];
    std: number[];
    min: (number | null)[];
    max: (number | null)[];
    sparsity: number[];
  };
  /** Channels never above zero over the whole dataset (dead ReLU channels). */
  dead_channels: number[];
  /** Non-finite values seen. */
  nonfinite: number;
  /** The fixed-edge histogram: positive edges (mirrored), and counts in bin order. */
  histogram: { edges: readonly number[]; counts: number[] };
}

/**
 * The readable statistics of an accumulator.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { addFrames, emptyLayerAccumulator, foldPartial, layerDatasetStats } from "./dataset_statistics.ts";
 * const acc = emptyLayerAccumulator("x", { channels: 2, spatial: 2 });
 * foldPartial(acc, addFrames(acc, [new Float32Array([1, 3, 0, 0])]));
 * const s = layerDatasetStats(acc);
 * assert.deepEqual(s.per_channel.std, [1, 0]);
 * assert.deepEqual(s.dead_channels, [1]);
 * assert.equal(s.summary.mean, 1);
 * ```
 */
export function layerDatasetStats(acc: LayerAccumulator): LayerDatasetStats {
  const C = acc.channels;
  // Over channels: the same moment merge, in channel order.
  let n = 0, mean = 0, m2 = 0, zeros = 0, bad = 0;
  let lo: number | null = null, hi: number | null = null;
  for (let c = 0; c < C; c++) {
    const nb = acc.count[c];
    zeros += acc.zeros[c];
    bad += acc.nonfinite[c];
    if (nb === 0) continue;
    if (n === 0) {
      n = nb;
      mean = acc.mean[c];
      m2 = acc.m2[c];
    } else {
      const t = n + nb, d = acc.mean[c] - mean;
      mean += d * (nb / t);
      m2 += acc.m2[c] + d * d * (n * nb / t);
      n = t;
    }
    if (lo === null || acc.min[c]! < lo) lo = acc.min[c];
    if (hi === null || acc.max[c]! > hi) hi = acc.max[c];
  }
  const dead: number[] = [];
  for (let c = 0; c < C; c++) if (acc.count[c] > 0 && acc.max[c]! <= 0) dead.push(c);
  return {
    name: acc.name,
    channels: C,
    frames: acc.frames,
    values: n,
    summary: {
      mean,
      std: n > 0 ? Math.sqrt(m2 / n) : 0,
      min: lo,
      max: hi,
      sparsity: n > 0 ? zeros / n : 0,
    },
    per_channel: {
      mean: [...acc.mean],
      std: acc.m2.map((m, c) => (acc.count[c] > 0 ? Math.sqrt(m / acc.count[c]) : 0)),
      min: [...acc.min],
      max: [...acc.max],
      sparsity: acc.zeros.map((z, c) => (acc.count[c] > 0 ? z / acc.count[c] : 0)),
    },
    dead_channels: dead,
    nonfinite: bad,
    histogram: { edges: HIST_EDGES, counts: [...acc.histogram] },
  };
}
