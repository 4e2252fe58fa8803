/**
 * The `compare` report as a function: two runs in (two checkpoints, two timesteps, two backends),
 * per-layer and per-frame similarity out, with the first layer where they diverge.
 *
 * ```ts ignore
 * import { compareFeatures } from "./compare/mod.ts";
 *
 * const cmp = await compareFeatures("runs/a/features.npy", "runs/b/features.npy", { write: false });
 * console.log(cmp.first_divergent);
 * ```
 *
 * @module
 */

export { compareFeatures, parseFrameRef } from "./compare.ts";
export { compareSeries, runNpyPath } from "./compare_series.ts";
export type { SeriesComparison, SeriesOptions } from "./compare_series.ts";
export { ckaMatrix, ckaMatrixCsv, seriesCsv, seriesDrift } from "./cka_matrix.ts";
export type { CkaMatrix, CkaOptions, SeriesDrift, SeriesRow } from "./cka_matrix.ts";
export type {
  Comparability,
  CompareOptions,
  Comparison,
  FramePair,
  FrameRef,
  FrameSide,
  LayerComparison,
  PerFrameMetrics,
  RunInfo,
} from "./compare.ts";
