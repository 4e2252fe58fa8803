/**
 * Per-frame gaze scoring shared by `analyze` (`analysis/gaze_alignment.ts`) and dataset mode
 * (`inspector/dataset_run.ts`): a layer frame's channel map, gaze points as grid pixels, the
 * scoring grid, a set of frames whose blurred fixation maps are made once, and mergeable sums
 * (sum, sum of squares, count) of the metrics per layer.
 *
 * @module
 */

import {
  type Fixation,
  fixationMap,
  type PreparedMap,
  prepareMap,
  type SaliencyScores,
  upsampleBilinear,
} from "./saliency.ts";

/** Longest side of dataset mode's scoring grid (frames larger than this are scored smaller). */
export const DATASET_GAZE_SIDE = 128;

/** The metrics summed in dataset mode. */
export const GAZE_SUM_METRICS: readonly (keyof SaliencyScores)[] = ["nss", "auc", "cc", "sim"];

/** Geometry of a layer frame `(C, D, H, W)` as the scorer needs it. */
export interface GazeMapShape {
  /** Channels. */
  channels: number;
  /** Depth folded into each map (averaged). */
  depth: number;
  /** Map height. */
  height: number;
  /** Map width. */
  width: number;
}

/**
 * The channel map of one frame `(C, D, H, W)`: the mean over `channels` (all when null) and depth
 * of the finite values; positions without any get the map's finite mean (0 if none).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { channelMap } from "./gaze_frames.ts";
 * const m = channelMap(new Float32Array([1, 2, 3, 6]), { channels: 2, depth: 1, height: 1, width: 2 }, null);
 * assert.deepEqual([...m], [2, 4]);
 * ```
 */
export function channelMap(
  frame: Float32Array,
  shape: GazeMapShape,
  channels: readonly number[] | null,
): Float32Array {
  const { depth: D, height: H, width: W } = shape;
  const hw = H * W, row = D * hw;
  const sum = new Float64Array(hw), cnt = new Float64Array(hw);
  const list = channels ?? Array.from({ length: shape.channels }, (_, c) => c);
  for (const c of list) {
    for (let d = 0; d < D; d++) {
      const off = c * row + d * hw;
      for (let p = 0; p < hw; p++) {
        const v = frame[off + p];
        if (Number.isFinite(v)) {
          sum[p] += v;
          cnt[p]++;
        }
      }
    }
  }
  const out = new Float32Array(hw);
  let s = 0, n = 0;
  for (let p = 0; p < hw; p++) {
    if (cnt[p]) {
      out[p] = sum[p] / cnt[p];
      s += out[p];
      n++;
    }
  }
  const fill = n ? s / n : 0;
  for (let p = 0; p < hw; p++) if (!cnt[p]) out[p] = fill;
  return out;
}

/**
 * Gaze points in [0, 1] frame fractions as pixels of a `width x height` grid; points off the frame
 * are dropped.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { gazePixels } from "./gaze_frames.ts";
 * assert.deepEqual(gazePixels([{ x: 1, y: 0.5 }, { x: 2, y: 0 }], 4, 4), [{ x: 3, y: 2 }]);
 * ```
 */
export function gazePixels(
  gaze: readonly { x: number; y: number }[],
  width: number,
  height: number,
): Fixation[] {
  return gaze.filter((g) => g.x >= 0 && g.x <= 1 && g.y >= 0 && g.y <= 1).map((g) => ({
    x: Math.min(width - 1, Math.floor(g.x * width)),
    y: Math.min(height - 1, Math.floor(g.y * height)),
  }));
}

/** A scoring grid: its size and the fixation blur on it. */
export interface ScoringGrid {
  /** Grid width. */
  width: number;
  /** Grid height. */
  height: number;
  /** Gaussian sigma of the fixation map, frame pixels. */
  sigma: number;
  /** The same on the grid. */
  sigma_grid: number;
}

/**
 * The grid a `width x height` frame is scored on: scaled down to `maxSide` on the longer side
 * (never up); sigma in frame pixels (default the frame width / 16, rounded, at least 1).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { scoringGrid } from "./gaze_frames.ts";
 * assert.deepEqual(scoringGrid({ width: 256, height: 128 }, { maxSide: 128 }), {
 *   width: 128, height: 64, sigma: 16, sigma_grid: 8,
 * });
 * ```
 */
export function scoringGrid(
  frame: { width: number; height: number },
  options: { maxSide: number; sigma?: number },
): ScoringGrid {
  const sigma = options.sigma ?? Math.max(1, Math.round(frame.width / 16));
  const scale = Math.min(1, options.maxSide / Math.max(frame.width, frame.height));
  const width = Math.max(1, Math.round(frame.width * scale));
  const height = Math.max(1, Math.round(frame.height * scale));
  return { width, height, sigma, sigma_grid: sigma * width / frame.width };
}

/** One frame's fixations on the grid and their blurred, prepared fixation map. */
export interface PreparedGaze {
  /** Fixated grid pixels. */
  fixations: Fixation[];
  /** The blurred fixation map, prepared. */
  density: PreparedMap;
}

/**
 * A frame's gaze prepared for scoring on `grid` (null when no point is inside the frame).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { prepareGaze } from "./gaze_frames.ts";
 * const grid = { width: 4, height: 4, sigma: 1, sigma_grid: 1 };
 * assert.equal(prepareGaze([], grid), null);
 * assert.equal(prepareGaze([{ x: 0.5, y: 0.5 }], grid)!.fixations.length, 1);
 * ```
 */
export function prepareGaze(
  gaze: readonly { x: number; y: number }[],
  grid: ScoringGrid,
): PreparedGaze | null {
  const { width, height } = grid;
  const fixations = gazePixels(gaze, width, height);
  if (!fixations.length) return null;
  const density = prepareMap(
    fixationMap(width, height, fixations, { sigma: grid.sigma_grid }),
    { width, height },
  );
  return { fixations, density };
}

/**
 * A layer frame's map (`(h, w)` values) upsampled bilinearly to `grid` and prepared: score it
 * against several gaze sets with {@linkcode saliencyScores}.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { gridMap } from "./gaze_frames.ts";
 * const m = gridMap(new Float32Array([0, 1]), { h: 1, w: 2 }, { width: 4, height: 1, sigma: 1, sigma_grid: 1 });
 * assert.equal(m.values.length, 4);
 * ```
 */
export function gridMap(
  native: Float32Array,
  from: { h: number; w: number },
  grid: ScoringGrid,
): PreparedMap {
  const size = { width: grid.width, height: grid.height };
  return prepareMap(upsampleBilinear(native, from, size), size);
}

/** Sum, sum of squares and count of one metric's defined values. */
export interface MetricSums {
  /** Sum. */
  sum: number;
  /** Sum of squares. */
  sq: number;
  /** Values summed. */
  n: number;
}

/** Mergeable gaze sums of one layer: per metric, of the scored and the shuffled-gaze values. */
export interface GazeSums {
  /** Frames scored. */
  frames: number;
  /** Per metric, the frame's own gaze. */
  scored: Record<keyof SaliencyScores, MetricSums>;
  /** Per metric, another frame's gaze (the baseline). */
  shuffled: Record<keyof SaliencyScores, MetricSums>;
}

const emptyMetrics = (): Record<keyof SaliencyScores, MetricSums> => ({
  nss: { sum: 0, sq: 0, n: 0 },
  auc: { sum: 0, sq: 0, n: 0 },
  cc: { sum: 0, sq: 0, n: 0 },
  sim: { sum: 0, sq: 0, n: 0 },
});

/**
 * Empty sums.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyGazeSums } from "./gaze_frames.ts";
 * assert.equal(emptyGazeSums().scored.nss.n, 0);
 * ```
 */
export function emptyGazeSums(): GazeSums {
  return { frames: 0, scored: emptyMetrics(), shuffled: emptyMetrics() };
}

/**
 * Add one frame's scores (and its shuffled baseline's, when any) to `sums`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { addGazeScores, emptyGazeSums } from "./gaze_frames.ts";
 * const s = emptyGazeSums();
 * addGazeScores(s, { nss: 2, auc: 1, cc: null, sim: 0.5 }, null);
 * assert.deepEqual([s.frames, s.scored.nss.sq, s.scored.cc.n], [1, 4, 0]);
 * ```
 */
export function addGazeScores(
  sums: GazeSums,
  own: SaliencyScores,
  shuffled: SaliencyScores | null,
): void {
  sums.frames++;
  for (const m of GAZE_SUM_METRICS) {
    const v = own[m];
    if (v !== null && Number.isFinite(v)) {
      sums.scored[m].sum += v;
      sums.scored[m].sq += v * v;
      sums.scored[m].n++;
    }
    const w = shuffled?.[m] ?? null;
    if (w !== null && Number.isFinite(w)) {
      sums.shuffled[m].sum += w;
      sums.shuffled[m].sq += w * w;
      sums.shuffled[m].n++;
    }
  }
}

/**
 * Add `b`'s sums to `a` (a batch's to the running total: the same order in a sharded and an
 * unsharded run gives the same bits).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { addGazeScores, addGazeSums, emptyGazeSums } from "./gaze_frames.ts";
 * const a = emptyGazeSums(), b = emptyGazeSums();
 * addGazeScores(b, { nss: 1, auc: 1, cc: 1, sim: 1 }, null);
 * addGazeSums(a, b);
 * assert.equal(a.scored.auc.sum, 1);
 * ```
 */
export function addGazeSums(a: GazeSums, b: GazeSums): void {
  a.frames += b.frames;
  for (const m of GAZE_SUM_METRICS) {
    for (const k of ["scored", "shuffled"] as const) {
      a[k][m].sum += b[k][m].sum;
      a[k][m].sq += b[k][m].sq;
      a[k][m].n += b[k][m].n;
    }
  }
}

/** A metric's mean and population std over frames (null when none defined). */
export interface GazeMetricStats {
  /** Mean over the frames where it is defined. */
  mean: number | null;
  /** Population standard deviation. */
  std: number | null;
  /** Frames where it is defined. */
  n: number;
  /** Mean of the shuffled-gaze baseline. */
  shuffled_mean: number | null;
  /** Its population standard deviation. */
  shuffled_std: number | null;
  /** Frames of the baseline. */
  shuffled_n: number;
}

const meanStd = (s: MetricSums): [number | null, number | null] => {
  if (!s.n) return [null, null];
  const m = s.sum / s.n;
  return [m, Math.sqrt(Math.max(0, s.sq / s.n - m * m))];
};

/**
 * Per metric, mean ± std of the scored and shuffled values.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { addGazeScores, emptyGazeSums, gazeSumsStats } from "./gaze_frames.ts";
 * const s = emptyGazeSums();
 * addGazeScores(s, { nss: 1, auc: 1, cc: 1, sim: 1 }, { nss: 0, auc: 0.5, cc: 0, sim: 0 });
 * addGazeScores(s, { nss: 3, auc: 1, cc: 1, sim: 1 }, null);
 * const r = gazeSumsStats(s);
 * assert.deepEqual([r.nss.mean, r.nss.std, r.nss.shuffled_mean, r.nss.shuffled_n], [2, 1, 0, 1]);
 * ```
 */
export function gazeSumsStats(
  sums: GazeSums,
): Record<keyof SaliencyScores, GazeMetricStats> {
  const out = {} as Record<keyof SaliencyScores, GazeMetricStats>;
  for (const m of GAZE_SUM_METRICS) {
    const [mean, std] = meanStd(sums.scored[m]);
    const [smean, sstd] = meanStd(sums.shuffled[m]);
    out[m] = {
      mean,
      std,
      n: sums.scored[m].n,
      shuffled_mean: smean,
      shuffled_std: sstd,
      shuffled_n: sums.shuffled[m].n,
    };
  }
  return out;
}
