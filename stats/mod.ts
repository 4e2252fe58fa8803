/**
 * The statistics as pure functions over typed arrays (no I/O, no GPU): the CPU references of the
 * GPU kernels, the health flags, and the similarity metrics `compare` reports. Loads no model
 * runtime and no chart library.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { linearCka, relL2 } from "./mod.ts";
 *
 * const a = new Float32Array([1, 2, 3, 4, 5, 6]);
 * assert.equal(relL2(a, a), 0);
 * assert.ok(Math.abs(linearCka(a, a, { positions: 3 })! - 1) < 1e-12);
 * ```
 *
 * @module
 */

export {
  cosineSimilarity,
  linearCka,
  linearCkaDetailed,
  maxAbsDiff,
  meanAbsDiff,
  mergePairMoments,
  pairMetrics,
  pairMoments,
  pearsonCorrelation,
  relL2,
} from "./similarity.ts";
export type { CkaResult, PairMetrics, PairMoments } from "./similarity.ts";
export { channelStatsOf, mergeMoments, reduceRows, summarizeFrames } from "./moments.ts";
export type { ChannelStats, RowIndex, RowMoments, SummaryStats } from "./moments.ts";
export { reduceRowsHistogram } from "./row_kernel.ts";
export type { RowHistogramOptions } from "./row_kernel.ts";
export { histogram, histogramEdges } from "./histogram.ts";
export type { BinScale, Histogram } from "./histogram.ts";
export { spatialMaps } from "./spatial.ts";
export type { SpatialMaps } from "./spatial.ts";
export { DEFAULT_THRESHOLDS, healthFlags } from "./health.ts";
export type { HealthFlag, HealthInput, HealthThresholds } from "./health.ts";
export {
  aucJudd,
  cc,
  fixationMap,
  fixationPixels,
  nss,
  prepareMap,
  saliencyScores,
  sim,
  upsampleBilinear,
} from "./saliency.ts";
export type { Fixation, PreparedMap, SaliencyScores } from "./saliency.ts";
