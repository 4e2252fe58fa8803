/**
 * Extraction: load an ONNX video model, tap its layers, run whole sequences in one forward pass,
 * and keep the statistics and the saved frames (the original toolkit's workflow, plus the
 * `inspect` command as a function). Loads onnxruntime, not vega.
 *
 * ```ts ignore
 * import { FeatureMapInspector, loadClips } from "./inspector/mod.ts";
 *
 * await using inspector = await FeatureMapInspector.create("fixtures/resnet18_video.onnx", {
 *   layers: ["conv1", "layer1"],
 * });
 * const batch = await loadClips("fixture", { batchSize: 2, maxLen: 8, size: 112 });
 * const { layers } = await inspector.extractFeatures({ data: batch.data, dims: [...batch.shape] });
 * console.log(layers.map((l) => [l.name, l.stats.summary.mean]));
 * ```
 *
 * @module
 */

export { DEFAULT_LAYERS, FeatureMapInspector } from "./feature_map_inspector.ts";
export type {
  BatchInput,
  Extraction,
  ExtractOptions,
  InspectorOptions,
  LayerFeatures,
  LayerStats,
  SaveMetadata,
  TargetSpec,
} from "./feature_map_inspector.ts";
export { DEFAULT_MODEL, listLayers, runInspect } from "./run_inspect.ts";
export type { InspectOptions, InspectResult, LayerListing } from "./run_inspect.ts";
export { loadClips } from "./clips.ts";
export type { ClipBatch, GazePoint, LoadClipsOptions, LoadedClip } from "./clips.ts";
export type { FrameLocator, FrameSource } from "./frame_source.ts";
export { resolveDataset } from "./datasets.ts";
export type { DatasetInfo, ResolveDatasetOptions } from "./datasets.ts";
export { createSession, probeGpu } from "./runtime.ts";
export type {
  BackendInfo,
  BackendName,
  CreateSessionOptions,
  EpChoice,
  FeedTensor,
  GpuProbe,
  ModelSession,
  OutputTensor,
  RunOptions,
  SessionStats,
} from "./runtime.ts";
export type { LayoutKind, TimeLayout } from "./layout.ts";
export type { ResolvedLayer, UnresolvedLayer } from "./layers.ts";
export type { Dim, GraphNode, OnnxGraph, TensorSpec } from "./onnx_model.ts";
export type { DecodeWorkers } from "./clips.ts";
export type { FramePipeline, FrameSize, ResizeSpec } from "./preprocess.ts";

// Types of lower layers that the API above refers to.
export type {
  FileChecksum,
  Manifest,
  ManifestChannels,
  ManifestLayer,
  ManifestSummary,
  OutputSet,
  RgbaImage,
} from "../core/mod.ts";
export type { ChannelStats, SummaryStats } from "../stats/mod.ts";
export type { GpuMode } from "../shaders/reduce.ts";
