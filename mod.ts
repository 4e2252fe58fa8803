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
} from "./inspector/feature_map_inspector.ts";
export type {
  BatchInput,
  Extraction,
  InspectorOptions,
  LayerFeatures,
  LayerStats,
  SaveMetadata,
  TargetSpec,
} from "./inspector/feature_map_inspector.ts";
export { DEFAULT_MODEL, listLayers, runInspect } from "./inspector/run_inspect.ts";
export type { InspectOptions, InspectResult, LayerListing } from "./inspector/run_inspect.ts";

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
  BackendName,
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
export type { FrameLocator, FrameSource } from "./inspector/frame_source.ts";
export { resolveDataset } from "./inspector/datasets.ts";
export type { DatasetInfo } from "./inspector/datasets.ts";
export { decodeImage } from "./inspector/image_io.ts";
export { encodePng } from "./render/png.ts";
export type { PngOptions } from "./render/png.ts";

// Files
export {
  decodePlainNpy,
  encodePlainNpy,
  readPlainNpy,
  StructuredNpyReader,
  StructuredNpyWriter,
} from "./core/npy.ts";
export type { NpyField, NpyHeader, PlainArray } from "./core/npy.ts";
export { MANIFEST_FORMAT_VERSION, readManifest } from "./core/manifest.ts";
export type { Manifest, ManifestLayer, ManifestSummary } from "./core/manifest.ts";
export { readFeatures } from "./core/run_folder.ts";
export type { FeaturesFile, SavedLayer } from "./core/run_folder.ts";
export { describeError, InspectorError } from "./core/errors.ts";

// Statistics and kernels
export { channelStatsOf, mergeMoments, reduceRows, summarizeFrames } from "./stats/moments.ts";
export type { ChannelStats, RowMoments, SummaryStats } from "./stats/moments.ts";
export { createReducer, tensorInput } from "./shaders/reduce.ts";
export type { GpuMode, Reducer, ReducerInfo, ReducerOptions } from "./shaders/reduce.ts";
export { histogram, histogramEdges } from "./stats/histogram.ts";
export { spatialMaps } from "./stats/spatial.ts";
export { colormap, renderChannelTile } from "./render/colormap.ts";

// Reports
export { analyzeFeatures } from "./analysis/analyze.ts";
export type { AnalysisSummary, AnalyzeOptions, LayerSummary } from "./analysis/analyze.ts";
export { healthFlags } from "./stats/health.ts";
export type { HealthFlag } from "./stats/health.ts";
export { compareFeatures } from "./compare/compare.ts";
export type { CompareOptions, Comparison, LayerComparison } from "./compare/compare.ts";
export {
  cosineSimilarity,
  linearCka,
  maxAbsDiff,
  pearsonCorrelation,
  relL2,
} from "./stats/similarity.ts";
export { renderFeatureGrid } from "./render/feature_grid.ts";
export type { FeatureGridOptions } from "./render/feature_grid.ts";
export { renderSvgPng, renderVegaPng } from "./render/vega_png.ts";

// Types referenced by the API above
export type { OutputSet } from "./core/atomic.ts";
export type { ManifestChannels, ReadManifestOptions } from "./core/manifest.ts";
export type { ReadFeaturesOptions } from "./core/run_folder.ts";
export type { NpyScalar, NumericArray } from "./core/npy.ts";
export type { RowIndex } from "./stats/moments.ts";
export type { GpuProbe, RunOptions, SessionStats } from "./inspector/runtime.ts";
export type { DecodeOptions, RgbaImage } from "./inspector/image_io.ts";
export type { ResolveDatasetOptions } from "./inspector/datasets.ts";
export type { ReducerInput, ReducerUsage, TensorLike } from "./shaders/reduce.ts";
export type { BinScale, Histogram } from "./stats/histogram.ts";
export type { SpatialMaps } from "./stats/spatial.ts";
export type { ColorizeOptions, ColormapName } from "./render/colormap.ts";
export type { RowReducer } from "./analysis/analyze.ts";
export type { ChannelSortKey } from "./analysis/charts_layer.ts";
export type { TemporalHeatmap, TemporalPoint } from "./analysis/charts_overview.ts";
export type { GpuTensor } from "./shaders/reduce.ts";
export { DEFAULT_THRESHOLDS } from "./stats/health.ts";
export type { HealthInput, HealthThresholds } from "./stats/health.ts";
export type {
  Comparability,
  FramePair,
  FrameRef,
  FrameSide,
  PerFrameMetrics,
  RunInfo,
} from "./compare/compare.ts";
export { parseFrameRef } from "./compare/compare.ts";
export {
  linearCkaDetailed,
  meanAbsDiff,
  mergePairMoments,
  pairMetrics,
  pairMoments,
} from "./stats/similarity.ts";
export type { CkaResult, PairMetrics, PairMoments } from "./stats/similarity.ts";
export { featureGridLayout } from "./render/feature_grid.ts";
export type { FeatureGridLayout } from "./render/feature_grid.ts";
export { loadRenderAssets, setRenderAssets } from "./render/vega_png.ts";
export type { RenderAssets, RenderOptions, VegaSpec } from "./render/vega_png.ts";
