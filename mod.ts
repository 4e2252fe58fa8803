/**
 * feature-inspector: see what each layer of a trained video CNN (exported to ONNX) has learned.
 *
 * The workflow of the original PyTorch forward-hook toolkit, on an ONNX model, with every
 * requested frame from one forward pass:
 *
 * ```ts ignore
 * import { FeatureMapInspector, loadClips } from "./mod.ts";
 *
 * await using inspector = await FeatureMapInspector.create("fixtures/resnet18_video.onnx", {
 *   layers: ["conv1", "layer1", "layer4"],
 *   saveDir: "out",
 * });
 * const batch = await loadClips("fixture", { batchSize: 2, maxLen: 8, size: 112 });
 * inspector.setTarget({ batchIdx: 0, timestep: "0-7" });
 * const features = await inspector.extractFeatures({ data: batch.data, dims: [...batch.shape] });
 * for (const layer of features.layers) {
 *   console.log(layer.name, layer.layout.label, layer.stats.summary.mean);
 * }
 * await inspector.saveFeatures();
 * await inspector.visualizeFeatureMaps("layer1", { numChannels: 16 });
 * ```
 *
 * Building blocks for custom analyses: {@linkcode readFeatures}, {@linkcode analyzeFeatures},
 * {@linkcode compareFeatures}, {@linkcode loadClips}, the metrics ({@linkcode linearCka} ...),
 * the reductions ({@linkcode createReducer}) and the runtimes ({@linkcode createSession}).
 *
 * @module
 */

// Extraction
export {
  DEFAULT_LAYERS,
  FeatureMapInspector,
  parseLayoutFlags,
  safeFileName,
} from "./inspector/inspector.ts";
export type {
  BatchInput,
  Extraction,
  InspectorOptions,
  LayerFeatures,
  LayerStats,
  SaveMetadata,
  TargetSpec,
} from "./inspector/inspector.ts";
export { DEFAULT_MODEL, listLayers, runInspect } from "./inspector/inspect.ts";
export type { InspectOptions, InspectResult, LayerListing } from "./inspector/inspect.ts";

// Models, layers and layouts
export {
  extendModel,
  loadOnnxModel,
  parseOnnxModel,
  scopeToModulePath,
  tapAdditions,
  tapModel,
  tensorNames,
  withExtendedModel,
} from "./inspector/onnx_model.ts";
export type {
  Dim,
  GraphAdditions,
  GraphNode,
  OnnxGraph,
  TensorSpec,
} from "./inspector/onnx_model.ts";
export {
  buildStatsModel,
  MIN_STATS_OPSET,
  readInGraphTap,
  SELECT_INPUTS,
  selectionFeeds,
} from "./inspector/graph_stats.ts";
export type {
  InGraphResult,
  InGraphTap,
  ReadTapOptions,
  StatsModel,
  StatsModelOptions,
} from "./inspector/graph_stats.ts";
export { closestNames, listModules, resolveLayers } from "./inspector/layers.ts";
export type { ModuleInfo, ResolvedLayer, UnresolvedLayer } from "./inspector/layers.ts";
export {
  detectLayout,
  extractFrame,
  LAYOUT_LABELS,
  parseIndexSpec,
  parseLayoutOverride,
  rowLayout,
  tensorFrameOf,
  timeChannelSwaps,
} from "./inspector/layout.ts";
export type { LayoutKind, TimeLayout } from "./inspector/layout.ts";

// Runtimes
export { createSession, probeGpu } from "./inspector/runtime.ts";
export type {
  BackendInfo,
  CreateSessionOptions,
  EpChoice,
  FeedTensor,
  ModelSession,
  OutputTensor,
} from "./inspector/runtime.ts";

// Data
export { decodeClips, loadClips, planClips, startDecodeWorkers } from "./inspector/clips.ts";
export type {
  ClipBatch,
  ClipPlan,
  DecodeWorkers,
  GazePoint,
  LoadClipsOptions,
  LoadedClip,
} from "./inspector/clips.ts";
export { resolveDataset } from "./inspector/datasets.ts";
export type { DatasetInfo } from "./inspector/datasets.ts";
export { decodeImage, encodePng } from "./inspector/image_io.ts";

// Files
export {
  decodePlainNpy,
  encodePlainNpy,
  readPlainNpy,
  StructuredNpyReader,
  StructuredNpyWriter,
} from "./inspector/npy.ts";
export type { NpyField, NpyHeader, PlainArray } from "./inspector/npy.ts";
export { MANIFEST_FORMAT_VERSION, readManifest } from "./inspector/manifest.ts";
export type { Manifest, ManifestLayer, ManifestSummary } from "./inspector/manifest.ts";
export { readFeatures } from "./inspector/features_file.ts";
export type { FeaturesFile, SavedLayer } from "./inspector/features_file.ts";
export { describeError, InspectorError } from "./inspector/errors.ts";

// Statistics and kernels
export { channelStatsOf, mergeMoments, reduceRows, summarizeFrames } from "./analysis/stats.ts";
export type { ChannelStats, RowMoments, SummaryStats } from "./analysis/stats.ts";
export { createReducer, tensorInput } from "./analysis/reduce.ts";
export type { GpuMode, Reducer, ReducerInfo, ReducerOptions } from "./analysis/reduce.ts";
export { histogram, histogramEdges } from "./analysis/histogram.ts";
export { spatialMaps } from "./analysis/spatial.ts";
export { colormap, renderChannelTile } from "./analysis/colormap.ts";

// Reports
export { analyzeFeatures } from "./analysis/analyze.ts";
export type { AnalysisSummary, AnalyzeOptions, LayerSummary } from "./analysis/analyze.ts";
export { healthFlags } from "./analysis/health.ts";
export type { HealthFlag } from "./analysis/health.ts";
export { compareFeatures } from "./analysis/compare.ts";
export type { CompareOptions, Comparison, LayerComparison } from "./analysis/compare.ts";
export {
  cosineSimilarity,
  linearCka,
  maxAbsDiff,
  pearsonCorrelation,
  relL2,
} from "./analysis/compare_metrics.ts";
export { renderFeatureGrid } from "./analysis/feature_grid.ts";
export type { FeatureGridOptions } from "./analysis/feature_grid.ts";
export { renderSvgPng, renderVegaPng } from "./analysis/render.ts";

// Types referenced by the API above
export type { OutputSet } from "./inspector/atomic.ts";
export type { ManifestChannels } from "./inspector/manifest.ts";
export type { NpyScalar, NumericArray } from "./inspector/npy.ts";
export type { RowIndex } from "./analysis/stats.ts";
export type { GpuProbe, RunOptions, SessionStats } from "./inspector/runtime.ts";
export type { DecodeOptions, RgbaImage } from "./inspector/image_io.ts";
export type { ResolveDatasetOptions } from "./inspector/datasets.ts";
export type { ReducerInput, ReducerUsage, TensorLike } from "./analysis/reduce.ts";
export type { BinScale, Histogram } from "./analysis/histogram.ts";
export type { SpatialMaps } from "./analysis/spatial.ts";
export type { ColorizeOptions, ColormapName } from "./analysis/colormap.ts";
export type { RowReducer } from "./analysis/analyze.ts";
export type { ChannelSortKey } from "./analysis/charts_layer.ts";
export type { TemporalHeatmap, TemporalPoint } from "./analysis/charts_overview.ts";
export type { GpuTensor } from "./analysis/reduce.ts";
export { DEFAULT_THRESHOLDS } from "./analysis/health.ts";
export type { HealthInput, HealthThresholds } from "./analysis/health.ts";
export type {
  Comparability,
  FramePair,
  FrameRef,
  FrameSide,
  PerFrameMetrics,
  RunInfo,
} from "./analysis/compare.ts";
export { parseFrameRef } from "./analysis/compare.ts";
export {
  linearCkaDetailed,
  meanAbsDiff,
  mergePairMoments,
  pairMetrics,
  pairMoments,
} from "./analysis/compare_metrics.ts";
export type { CkaResult, PairMetrics, PairMoments } from "./analysis/compare_metrics.ts";
export { featureGridLayout } from "./analysis/feature_grid.ts";
export type { FeatureGridLayout } from "./analysis/feature_grid.ts";
export { loadRenderAssets, setRenderAssets } from "./analysis/render.ts";
export type { RenderAssets, RenderOptions, VegaSpec } from "./analysis/render.ts";
