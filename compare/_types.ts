/**
 * The types of a comparison (`comparison.json`) and of the mean maps drawn per layer, shared by
 * `compare.ts` (which computes them) and `compare_charts.ts` (which draws them).
 *
 * @module
 */

import type { CkaMatrix } from "./cka_matrix.ts";

/** A frame of a run: sample `batch` at `timestep`. */
export interface FrameRef {
  /** Batch index (a saved `batch_idx` value when the run has a manifest, else a grid row). */
  batch: number;
  /** Timestep (a saved `timestep` value when the run has a manifest, else a grid column). */
  timestep: number;
}

/** What is known about one run. */
export interface RunInfo {
  /** Path of the `.npy`. */
  path: string;
  /** Display name used in titles. */
  name: string;
  /** Path of the manifest read beside it, or null. */
  manifest: string | null;
  /** Model path from the manifest. */
  model: string | null;
  /** Model sha256 from the manifest. */
  sha256: string | null;
  /** Execution provider from the manifest. */
  ep: string | null;
  /** Record grid `(n_batch_idx, n_timestep)`. */
  grid: [number, number];
  /** Saved batch indices (grid rows when there is no manifest). */
  batch_idx: number[];
  /** Saved timesteps (grid columns when there is no manifest). */
  timestep: number[];
  /** Layers in network order. */
  layers: string[];
}

/** One side of a frame pair. */
export interface FrameSide {
  /** Record index in the `.npy` (`b * n_timestep + t`). */
  record: number;
  /** Batch index (manifest value, else grid row). */
  batch_idx: number;
  /** Timestep (manifest value, else grid column). */
  timestep: number;
}

/** A pair of frames compared with each other. */
export interface FramePair {
  /** Frame of A. */
  a: FrameSide;
  /** Frame of B. */
  b: FrameSide;
}

/** Per-frame metric arrays, aligned with {@linkcode Comparison.frames}. */
export interface PerFrameMetrics {
  /** rel_l2 per frame pair. */
  rel_l2: (number | null)[];
  /** Cosine per frame pair. */
  cosine: (number | null)[];
  /** Pearson per frame pair. */
  pearson: (number | null)[];
  /** Linear CKA per frame pair. */
  cka: (number | null)[];
  /** Max absolute difference per frame pair. */
  max_abs_diff: (number | null)[];
  /** Mean absolute difference per frame pair. */
  mean_abs_diff: (number | null)[];
}

/** How much of a layer could be compared. */
export type Comparability = "full" | "cka_only" | "none";

/** The comparison of one layer. */
export interface LayerComparison {
  /** Position in network order (0-based). */
  index: number;
  /** Per-frame shape in A. */
  shape_a: number[];
  /** Per-frame shape in B. */
  shape_b: number[];
  /** Stored dtype in A (e.g. `f4`). */
  dtype_a: string;
  /** Stored dtype in B. */
  dtype_b: string;
  /** `full` (same shape), `cka_only` (same positions, other channel count) or `none`. */
  comparable: Comparability;
  /** `||A-B|| / ||A||` over all paired frames. */
  rel_l2: number | null;
  /** Cosine similarity over all paired frames. */
  cosine: number | null;
  /** Pearson correlation over all paired frames. */
  pearson: number | null;
  /** Mean of the per-frame linear CKA values. */
  cka: number | null;
  /** Largest absolute difference over all paired frames. */
  max_abs_diff: number | null;
  /** Mean absolute difference over all paired frames. */
  mean_abs_diff: number | null;
  /** `||A||` over all paired frames. */
  norm_a: number | null;
  /** `||B||` over all paired frames. */
  norm_b: number | null;
  /** NaN/Inf values in A's paired frames. */
  nonfinite_a: number;
  /** NaN/Inf values in B's paired frames. */
  nonfinite_b: number;
  /** Values finite on one side only. */
  nonfinite_mismatch: number;
  /** Whether the layer counts as divergent (null when it cannot be judged). */
  exceeds_tolerance: boolean | null;
  /** Notes: undefined metrics, shape mismatch, non-finite values. */
  notes: string[];
  /** Metrics of every frame pair. */
  per_frame: PerFrameMetrics;
  /** File name of the layer's picture (null when not drawn). */
  image: string | null;
}

/** The whole comparison, as written to `comparison.json`. */
export interface Comparison {
  /** Run A. */
  a: RunInfo;
  /** Run B. */
  b: RunInfo;
  /** Tolerance on `rel_l2`. */
  tolerance: number;
  /**
   * How frames were paired: `records` (same grid), `targets` (shared batch/timestep values),
   * `explicit` (`aFrame`/`bFrame`), `sweep` (one file, `aFrame` only: that frame against every
   * timestep of its sample).
   */
  pairing: "records" | "targets" | "explicit" | "sweep";
  /** The frame pairs, in order. */
  frames: FramePair[];
  /** Common layers in network order. */
  layer_order: string[];
  /** Per common layer. */
  layers: Record<string, LayerComparison>;
  /** Layers only run A holds. */
  only_in_a: string[];
  /** Layers only run B holds. */
  only_in_b: string[];
  /** First layer in network order whose difference exceeds the tolerance, or null. */
  first_divergent: string | null;
  /** Notes on the whole comparison (pairing, dtypes, ...). */
  notes: string[];
  /** Files written (names inside the save folder). */
  files: string[];
  /**
   * With `matrix`: linear CKA of every layer of A against every layer of B over the examples
   * axis (saved frames), also in `cka_matrix.csv` and `cka_matrix.png`.
   */
  cka_matrix?: CkaMatrix;
}

/** Mean maps of one layer, for its picture. */
export interface LayerMaps {
  /** The layer. */
  layer: string;
  /** Map height. */
  height: number;
  /** Map width. */
  width: number;
  /** Mean over channels (and paired frames) of A. */
  a: Float32Array;
  /** Same for B (null when B's spatial size differs). */
  b: Float32Array | null;
  /** Mean over channels and frames of |A-B| (same shape), or |mean A - mean B| (other channel count). */
  diff: Float32Array | null;
  /** What `diff` is. */
  diffKind: "mean_abs_diff" | "abs_diff_of_means" | null;
  /** B's map when its spatial size differs from A's. */
  bOwn: { height: number; width: number; map: Float32Array } | null;
}
