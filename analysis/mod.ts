/**
 * The `analyze` report as a function: a saved run (`features.npy` and its manifest) in,
 * distribution / channel / spatial PNGs, `summary.json` and `index.html` out.
 *
 * ```ts ignore
 * import { analyzeFeatures } from "./analysis/mod.ts";
 *
 * const summary = await analyzeFeatures("out/features.npy", { saveDir: "feature_analysis" });
 * console.log(Object.keys(summary.layers), summary.flags.length);
 * ```
 *
 * @module
 */

export { analyzeFeatures } from "./analyze.ts";
export type { AnalysisSummary, AnalyzeOptions, LayerSummary, RowReducer } from "./analyze.ts";
export type { ChannelSortKey } from "./charts_layer.ts";
export type { TemporalHeatmap, TemporalPoint } from "./charts_overview.ts";
export type {
  GazeAlignment,
  GazeFrameScores,
  GazeGrid,
  GazeKindScores,
  GazeMapKind,
  GazeMetric,
  GazeMetricValue,
  LayerGazeAlignment,
} from "./gaze_alignment.ts";

// Types of lower layers that the API above refers to.
export type { ManifestChannels, ManifestSummary } from "../core/mod.ts";
export type { HealthFlag, RowMoments, SaliencyScores } from "../stats/mod.ts";
