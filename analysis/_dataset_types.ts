/**
 * Types of the dataset report (`dataset_report.ts`, `dataset_report_html.ts`).
 *
 * @module
 */

import type { HealthFlag } from "../stats/health.ts";
import type { LayerDatasetStats } from "../stats/dataset_statistics.ts";
import type { ChannelSortKey } from "./charts_layer.ts";

/** The per-clip metrics of `clips.jsonl`. */
export type ClipMetric = "mean" | "max" | "sparsity";

/** Options of {@linkcode analyzeDataset}. */
export interface DatasetReportOptions {
  /** Output folder (default `feature_analysis`). */
  saveDir?: string;
  /** Replace a report of another run in `saveDir` (default: refuse, naming it). */
  overwrite?: boolean;
  /** Layers to report (default: every layer of the run), in this order. */
  layers?: readonly string[];
  /** Logarithmic histogram counts. */
  logCounts?: boolean;
  /** Channel order of the channel charts (default `index`). */
  sortChannels?: ChannelSortKey;
  /** The clip summary the outliers are found on (default `mean`). */
  outlierMetric?: ClipMetric;
  /** Flag clips with `|z|` above this (default 3.5). */
  threshold?: number;
  /** Clips listed per layer, largest `|z|` first (default 5). */
  top?: number;
  /** Report the saved frames (`frames/features.npy`) too, when present (default true). */
  frames?: boolean;
  /** Progress messages. */
  onProgress?: (message: string) => void;
}

/** One clip's robust z in one layer. */
export interface ClipOutlier {
  /** Clip id. */
  clip: string;
  /** The clip's file or folder (as the run listed it). */
  file: string;
  /** Its 0-based index in the run's clip order. */
  index: number;
  /** Its layer summary value (`metric`). */
  value: number;
  /** Robust z. */
  z: number;
  /** `|z| > threshold`. */
  flagged: boolean;
}

/** A layer's entry of `dataset_summary.json`. */
export interface DatasetLayerSummary {
  /** Channels. */
  channels: number;
  /** Frames seen. */
  frames: number;
  /** Finite values seen. */
  values: number;
  /** Over every value of the dataset. */
  summary: LayerDatasetStats["summary"];
  /** Channels never above zero over the whole dataset. */
  dead_channels: number[];
  /** Their count. */
  dead_count: number;
  /** NaN / Inf seen. */
  nonfinite: number;
  /** Health flags. */
  flags: HealthFlag[];
  /** The histogram as drawn: the bars' counts add up to `values`. */
  histogram: { label: string; lo: number | null; hi: number | null; count: number }[];
  /** Robust-z parameters of the clips' `metric` values. */
  outliers: { median: number; mad: number; scale: number; flagged: number; top: ClipOutlier[] };
  /** Figures of the layer. */
  files: string[];
}

/** `dataset_summary.json`. */
export interface DatasetSummary {
  /** `feature-inspector/dataset-analysis v1`. */
  format: string;
  /** The run folder. */
  source: string;
  /** Clips in the run. */
  clips: number;
  /** The clip metric of the outliers, the threshold and the z formula. */
  method: { metric: ClipMetric; threshold: number; z: string; dead: string };
  /** Per layer. */
  layers: Record<string, DatasetLayerSummary>;
  /** Every flag, with its layer. */
  flags: (HealthFlag & { layer: string })[];
  /** Flagged (clip, layer) pairs, largest `|z|` first. */
  outliers: (ClipOutlier & { layer: string })[];
  /** Gaze alignment over every clip with gaze (dataset mode), or null when none was scored. */
  gaze: DatasetGazeSummary | null;
  /** The saved frames' report (`frames/index.html`), when written. */
  frames: { npy: string; report: string } | null;
  /** Files written. */
  files: string[];
  /** PNG sizes (2x pixels). */
  figures: Record<string, { width: number; height: number; scale: number }>;
}

/** A metric's dataset mean ± std over the scored frames and the shuffled baseline's. */
export interface DatasetGazeMetric {
  /** Mean over the frames where it is defined. */
  mean: number | null;
  /** Population std. */
  std: number | null;
  /** Frames where it is defined. */
  n: number;
  /** Mean of the shuffled-gaze baseline. */
  shuffled_mean: number | null;
  /** Its population std. */
  shuffled_std: number | null;
  /** Frames of the baseline. */
  shuffled_n: number;
}

/** The gaze section of `dataset_summary.json`. */
export interface DatasetGazeSummary {
  /** The map scored (`mean`: the channel mean). */
  map: string;
  /** Frame size of the pass, scoring grid and blur sigma (frame and grid pixels). */
  frame: { width: number; height: number };
  /** See `frame`. */
  grid: { width: number; height: number; sigma: number; sigma_grid: number };
  /** How the shuffled baseline was drawn. */
  shuffle: string;
  /** Metric definitions. */
  method: string;
  /** Per scored layer, in network order: frames scored and per metric. */
  layers: Record<string, { frames: number; metrics: Record<string, DatasetGazeMetric> }>;
  /** The layer with the highest mean NSS, or null. */
  best: { layer: string; nss: number } | null;
  /** The chart (`gaze_alignment.png`). */
  file: string;
}
