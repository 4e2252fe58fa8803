/**
 * The types of an analysis: its options and the content of `summary.json`, shared by
 * `analyze.ts` (which computes them) and `report_html.ts` (which shows them).
 *
 * @module
 */

import type { ManifestChannels, ManifestSummary } from "../core/manifest.ts";
import type { RowMoments } from "../stats/moments.ts";
import type { HealthFlag } from "../stats/health.ts";
import type { ChannelSortKey } from "./charts_layer.ts";
import type { TemporalHeatmap, TemporalPoint } from "./charts_overview.ts";
import type { GazeAlignment } from "./gaze_alignment.ts";

/** Something that reduces rows like `reduceRows` (the CPU reference or a GPU reducer). */
export interface RowReducer {
  /** Moments of `rows` runs of `width` values. */
  reduceRows(data: Float32Array, rows: number, width: number): Promise<RowMoments> | RowMoments;
  /** Where it runs, for the summary (e.g. `"cpu"`, `"webgpu (llvmpipe)"`). */
  where?: string;
}

/** Options of {@linkcode analyzeFeatures}. */
export interface AnalyzeOptions {
  /** Output folder (default `feature_analysis`). */
  saveDir?: string;
  /**
   * Replace a report of another `.npy` in `saveDir` (default: refuse, naming it; a report of the
   * same file is replaced).
   */
  overwrite?: boolean;
  /** Layers to analyse (default: every field of the file), in this order. */
  layers?: readonly string[];
  /** Logarithmic histogram counts. */
  logCounts?: boolean;
  /** Order of channels in the channel-statistics chart (default `index`). */
  sortChannels?: ChannelSortKey;
  /** Histogram bins (default 60). */
  bins?: number;
  /** Reduction on the GPU: `auto` (when an adapter exists), `on` or `off` (default auto). */
  gpu?: "auto" | "on" | "off";
  /** Reduction backend (overrides `gpu`; default: the CPU reference `reduceRows`). */
  reducer?: RowReducer;
  /**
   * Gaussian sigma of the fixation map in gaze alignment, in frame pixels (default: the frame
   * width / 16, rounded). Used only when the manifest has gaze points.
   */
  gazeSigma?: number;
  /**
   * Worker threads that rasterise the charts while the next layer is read (default: one per CPU
   * core but one, at most 4, and 0 on one or two cores; 0: all on the calling thread, the least
   * memory). Each worker holds its own resvg WASM instance, about 100-150 MB at the report's
   * chart sizes.
   */
  chartWorkers?: number;
  /** Progress messages (one line each). */
  onProgress?: (message: string) => void;
}

/**
 * Summary statistics as written to `summary.json` (non-finite numbers as `null`): the manifest's
 * mean, std, min, max, sparsity and nonfinite, and more.
 */
export interface LayerSummary extends ManifestSummary {
  /** Per-frame field shape, e.g. `[64, 28, 28]`. */
  shape: number[];
  /** Number of saved frames the statistics cover. */
  frames: number;
  /** `spatial` maps, or a `vector` / `sequence` (values chart instead of spatial maps). */
  tensor_kind?: "spatial" | "vector" | "sequence";
  /** Number of values. */
  count: number;
  /** Exact quantiles of the finite values. */
  quantiles: Record<"p1" | "p5" | "p25" | "p50" | "p75" | "p95" | "p99", number | null>;
  /** Per-channel statistics over the saved frames (the manifest's, and the minimum). */
  channels: ManifestChannels & {
    /** Minimum per channel. */
    min: (number | null)[];
  };
  /** Channels that are all zero in every saved frame. */
  dead_channels: number[];
  /** Health flags. */
  flags: HealthFlag[];
  /** Everything else the plots draw. */
  plots: Record<string, unknown>;
  /** How the quantiles were approximated, when the layer had too many values for exact ones. */
  quantile_method?: string;
  /** Manifest notes (layout, tensor, folded BN), when a manifest was found. */
  manifest?: Record<string, unknown>;
  /** The PNG files of this layer. */
  files: string[];
}

/** The content of `summary.json`. */
export interface AnalysisSummary {
  /** The analysed `.npy`. */
  source: string;
  /** The manifest used, or null. */
  manifest: string | null;
  /** Tool and format. */
  format: string;
  /** ISO time of the analysis. */
  created: string;
  /** Saved frames: array shape and the batch/time labels of its axes. */
  records: { shape: number[]; batch_idx: number[]; timestep: number[] };
  /** How statistics were computed. */
  method: { reduction: string; quantiles: string; histogram: string; std: string };
  /** Per layer, in analysis order. */
  layers: Record<string, LayerSummary>;
  /** All flags, with their layer. */
  flags: (HealthFlag & { layer: string })[];
  /** Whole-sequence / saved-frame statistics over time, when drawn. */
  temporal: { source: string; points: TemporalPoint[]; heatmaps: TemporalHeatmap[] } | null;
  /**
   * Gaze alignment of every spatial layer (NSS, AUC-Judd, CC, SIM with a shuffled baseline), or
   * null when the run has no gaze points.
   */
  gaze_alignment: GazeAlignment | null;
  /** Files written, relative to the output folder. */
  files: string[];
  /** Pixel size of every PNG and its density (2 = drawn at 2x). */
  figures: Record<string, { width: number; height: number; scale: number }>;
}
