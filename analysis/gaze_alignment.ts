/**
 * Gaze alignment per layer: how well a layer's spatial activation map predicts where the viewer
 * looked, scored per saved frame with the saliency benchmark's metrics (`stats/saliency.ts`:
 * NSS, AUC-Judd, CC, SIM) and beside a shuffled-gaze chance baseline.
 *
 * Per layer and saved frame with gaze, two maps are scored:
 * - `mean`: the mean over channels (and depth, for a `(C, D, H, W)` field);
 * - `topk`: the mean of the {@linkcode GAZE_TOPK} channels with the highest mean activation over
 *   the saved frames (the layer's strongest channels, as in `<layer>_spatial_patterns.png`).
 *
 * Each map is upsampled bilinearly (pixel centres aligned) to the frame size, capped at
 * {@linkcode MAX_SCORE_SIDE} pixels on the longer side (frame, gaze and sigma scaled alike). The
 * fixation map of CC and SIM blurs the frame's gaze points with a Gaussian of `gazeSigma` frame
 * pixels (default: the frame width / 16, rounded). The shuffled baseline scores frame `i`'s map
 * against the gaze of other frames `j != i` (all others when at most
 * {@linkcode MAX_SHUFFLE_DONORS}, else that many at evenly spaced offsets: deterministic) and
 * averages; it is null with a single gaze frame.
 *
 * @module
 */

import { InspectorError } from "../core/errors.ts";
import {
  type Fixation,
  fixationMap,
  type PreparedMap,
  prepareMap,
  type SaliencyScores,
  saliencyScores,
  upsampleBilinear,
} from "../stats/saliency.ts";
import { channelMap, gazePixels, scoringGrid } from "../stats/gaze_frames.ts";

/** Channels averaged into the `topk` map (the strongest by mean activation). */
export const GAZE_TOPK = 4;
/** Longest side of the grid the maps are scored on (frames larger than this are scaled down). */
export const MAX_SCORE_SIDE = 256;
/** At most this many saved frames are scored (evenly spaced, first and last included). */
export const MAX_GAZE_FRAMES = 256;
/** At most this many other frames' gaze per frame in the shuffled baseline. */
export const MAX_SHUFFLE_DONORS = 16;
/** A saliency metric: NSS, AUC-Judd, CC or SIM. */
export type GazeMetric = "nss" | "auc" | "cc" | "sim";
/** The metrics, in report order. */
export const GAZE_METRICS: readonly GazeMetric[] = ["nss", "auc", "cc", "sim"];
/** A map scored per layer: the channel mean, or the mean of the top-k channels. */
export type GazeMapKind = "mean" | "topk";
/** The maps scored per layer. */
export const GAZE_MAP_KINDS: readonly GazeMapKind[] = ["mean", "topk"];

/** A gaze point in [0, 1] frame coordinates. */
export interface GazePoint {
  /** Horizontal, 0 = left edge. */
  x: number;
  /** Vertical, 0 = top edge. */
  y: number;
}

/** A saved frame and its gaze. */
export interface GazeFrame {
  /** Record index in the `.npy`. */
  record: number;
  /** Batch label. */
  b: number;
  /** Timestep label. */
  t: number;
  /** Gaze points. */
  gaze: GazePoint[];
}

/** Where and how the maps are scored. */
export interface GazeGrid {
  /** Frame width in pixels. */
  frame_width: number;
  /** Frame height in pixels. */
  frame_height: number;
  /** Where the frame size came from. */
  frame_size_source: string;
  /** Width of the scoring grid. */
  width: number;
  /** Height of the scoring grid. */
  height: number;
  /** Gaussian sigma of the fixation map, frame pixels. */
  sigma: number;
  /** The same on the scoring grid. */
  sigma_grid: number;
  /** `options.gazeSigma`, or the default rule. */
  sigma_source: string;
}

/** A metric of one map kind: the mean over frames, and the shuffled-gaze baseline. */
export interface GazeMetricValue {
  /** Mean over the frames where it is defined, or null. */
  value: number | null;
  /** Mean of the shuffled-gaze scores, or null (one gaze frame only). */
  shuffled: number | null;
}

/** The four metrics of one map kind of one layer. */
export type GazeKindScores = Record<GazeMetric, GazeMetricValue>;

/** One saved frame's scores. */
export interface GazeFrameScores {
  /** Batch label. */
  b: number;
  /** Timestep label. */
  t: number;
  /** Scores of the mean map. */
  mean: SaliencyScores;
  /** Scores of the top-k map. */
  topk: SaliencyScores;
}

/** One layer's gaze alignment. */
export interface LayerGazeAlignment {
  /** Layer name. */
  layer: string;
  /** Map size (before upsampling). */
  map: { height: number; width: number };
  /** The channels of the `topk` map. */
  topk_channels: number[];
  /** Per map kind, the metrics. */
  kinds: Record<GazeMapKind, GazeKindScores>;
  /** The kind with the higher NSS. */
  best_kind: GazeMapKind;
  /** Frames of the best kind with the highest and lowest NSS. */
  best_frame: { b: number; t: number; nss: number | null } | null;
  /** See `best_frame`. */
  worst_frame: { b: number; t: number; nss: number | null } | null;
  /** Per saved frame with gaze. */
  per_frame: GazeFrameScores[];
}

/** The gaze alignment section of `summary.json`. */
export interface GazeAlignment {
  /** Scoring grid and blur. */
  grid: GazeGrid;
  /** Saved frames scored (with gaze inside the frame; at most {@linkcode MAX_GAZE_FRAMES}). */
  frames: number;
  /** Saved frames with gaze inside the frame. */
  frames_with_gaze: number;
  /** Channels in the `topk` map. */
  topk: number;
  /** How the shuffled baseline was drawn. */
  shuffle: string;
  /** Definitions used. */
  method: string;
  /** Per layer, in network order. */
  layers: LayerGazeAlignment[];
  /** The layer and map kind with the highest NSS, or null if none is defined. */
  best: { layer: string; kind: GazeMapKind; nss: number } | null;
  /** Files written. */
  files: string[];
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const posInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v > 0;

/**
 * The frame size of a run from its manifest's `data`: `preprocessing.frame_size` (`[h, w]`),
 * `size` (a number or `"HxW"`), or the last two of `input_shape`; null when none is there.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { frameSizeOf } from "./gaze_alignment.ts";
 * assert.deepEqual(frameSizeOf({ data: { size: "96x128" } }), { width: 128, height: 96, source: "data.size" });
 * assert.equal(frameSizeOf({}), null);
 * ```
 */
export function frameSizeOf(
  manifest: unknown,
): { width: number; height: number; source: string } | null {
  if (!isObj(manifest) || !isObj(manifest.data)) return null;
  const d = manifest.data;
  const fs = isObj(d.preprocessing) ? d.preprocessing.frame_size : undefined;
  if (Array.isArray(fs) && fs.length === 2 && posInt(fs[0]) && posInt(fs[1])) {
    return { width: fs[1], height: fs[0], source: "data.preprocessing.frame_size" };
  }
  if (posInt(d.size)) return { width: d.size, height: d.size, source: "data.size" };
  if (typeof d.size === "string") {
    const m = /^(\d+)x(\d+)$/.exec(d.size);
    if (m && +m[1] > 0 && +m[2] > 0) return { width: +m[2], height: +m[1], source: "data.size" };
  }
  const s = d.input_shape;
  if (Array.isArray(s) && s.length >= 2 && posInt(s[s.length - 1]) && posInt(s[s.length - 2])) {
    return { width: s[s.length - 1], height: s[s.length - 2], source: "data.input_shape" };
  }
  return null;
}

/**
 * The scoring grid of a frame size and `options.gazeSigma` (frame pixels; default the frame width
 * / 16, rounded, at least 1).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { gazeGrid } from "./gaze_alignment.ts";
 * const g = gazeGrid({ width: 512, height: 384, source: "data.size" });
 * assert.deepEqual([g.width, g.height, g.sigma, g.sigma_grid], [256, 192, 32, 16]);
 * assert.throws(() => gazeGrid({ width: 8, height: 8, source: "" }, { gazeSigma: -1 }), /options\.gazeSigma/);
 * ```
 */
export function gazeGrid(
  frame: { width: number; height: number; source: string },
  options: { gazeSigma?: number } = {},
): GazeGrid {
  const s = options.gazeSigma;
  if (s !== undefined && !(typeof s === "number" && Number.isFinite(s) && s > 0)) {
    throw new InspectorError(
      `options.gazeSigma ${s}: use a positive number of frame pixels (default: frame width / 16)`,
    );
  }
  const { width, height, sigma, sigma_grid } = scoringGrid(frame, {
    maxSide: MAX_SCORE_SIDE,
    sigma: s,
  });
  return {
    frame_width: frame.width,
    frame_height: frame.height,
    frame_size_source: frame.source,
    width,
    height,
    sigma,
    sigma_grid,
    sigma_source: s === undefined ? "default: frame width / 16, rounded" : "options.gazeSigma",
  };
}

const toPixels = gazePixels;

/** Layer geometry as the scorer needs it. */
export interface GazeLayerShape {
  /** Channels. */
  channels: number;
  /** Depth folded into each map (averaged). */
  depth: number;
  /** Map height. */
  height: number;
  /** Map width. */
  width: number;
}

/** {@linkcode channelMap} of `stats/gaze_frames.ts` (shared with dataset mode). */
export { channelMap };

const mean = (xs: (number | null)[]): number | null => {
  let s = 0, n = 0;
  for (const x of xs) {
    if (x !== null && Number.isFinite(x)) {
      s += x;
      n++;
    }
  }
  return n ? s / n : null;
};

/** One frame's fixations on the scoring grid and their blurred fixation map. */
interface PreparedGaze {
  frame: GazeFrame;
  fixations: Fixation[];
  density: PreparedMap;
}

/**
 * Scores layers against the gaze of the saved frames. Made once per run: it blurs every frame's
 * fixation map once and reuses it for every layer and the shuffled baseline.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { GazeScorer, gazeGrid } from "./gaze_alignment.ts";
 * const grid = gazeGrid({ width: 8, height: 8, source: "test" }, { gazeSigma: 1 });
 * const frames = [0, 1].map((r) => ({ record: r, b: 0, t: r, gaze: [{ x: 0.1 + 0.8 * r, y: 0.5 }] }));
 * const scorer = new GazeScorer(frames, grid);
 * const shape = { channels: 1, depth: 1, height: 2, width: 2 };
 * const maps = [new Float32Array([1, 0, 1, 0]), new Float32Array([0, 1, 0, 1])];
 * const { summary } = await scorer.scoreLayer({ name: "l", shape, strongest: [0] }, (r) => maps[r]);
 * assert.ok(summary.kinds.mean.nss.value! > 0.5 && summary.kinds.mean.nss.shuffled! < -0.5);
 * ```
 */
export class GazeScorer {
  readonly grid: GazeGrid;
  readonly #frames: PreparedGaze[];
  readonly #donors: number[];
  /** Saved frames with gaze inside the frame, before sampling. */
  readonly withGaze: number;

  /**
   * `frames`: the saved frames (those without gaze inside the frame are left out; of more than
   * {@linkcode MAX_GAZE_FRAMES}, that many evenly spaced ones are scored).
   */
  constructor(frames: readonly GazeFrame[], grid: GazeGrid) {
    this.grid = grid;
    const { width, height, sigma_grid } = grid;
    this.#frames = [];
    const usable = frames.filter((f) => toPixels(f.gaze, width, height).length);
    this.withGaze = usable.length;
    const picked = usable.length <= MAX_GAZE_FRAMES ? usable : Array.from(
      { length: MAX_GAZE_FRAMES },
      (_, i) => usable[Math.round(i * (usable.length - 1) / (MAX_GAZE_FRAMES - 1))],
    );
    for (const frame of picked) {
      const fixations = toPixels(frame.gaze, width, height);
      const density = prepareMap(fixationMap(width, height, fixations, { sigma: sigma_grid }), {
        width,
        height,
      });
      this.#frames.push({ frame, fixations, density });
    }
    const m = this.#frames.length;
    const k = Math.min(m - 1, MAX_SHUFFLE_DONORS);
    this.#donors = Array.from(
      { length: Math.max(0, k) },
      (_, i) => 1 + Math.floor(i * (m - 1) / k),
    );
  }

  /** Saved frames scored. */
  get frames(): number {
    return this.#frames.length;
  }

  /** How the shuffled baseline is drawn, in words. */
  get shuffle(): string {
    const m = this.#frames.length, k = this.#donors.length;
    if (!k) return "none: a single frame with gaze";
    const of = this.withGaze > m
      ? `; ${m} evenly spaced of the ${this.withGaze} frames with gaze scored`
      : "";
    return (k === m - 1
      ? `each frame's map against the gaze of every other frame (${k}), averaged`
      : `each frame's map against the gaze of ${k} other frames at evenly spaced offsets ` +
        `(frame i + ${this.#donors.slice(0, 3).join(", ")}, … mod ${m}), averaged`) + of;
  }

  /**
   * Score a layer: `read(record)` gives one saved frame's `(C, D, H, W)` values; `layer.strongest`
   * lists channels by descending mean activation (the first {@linkcode GAZE_TOPK} make the `topk` map).
   * Also returns the records of the best and worst frame (of the better kind) for an overlay.
   */
  async scoreLayer(
    layer: { name: string; shape: GazeLayerShape; strongest: readonly number[] },
    read: (record: number) => Promise<Float32Array> | Float32Array,
  ): Promise<
    { summary: LayerGazeAlignment; frames: { best: GazeFrame; worst: GazeFrame } | null }
  > {
    const { name, shape, strongest } = layer;
    const topk = strongest.slice(0, GAZE_TOPK);
    const { width, height } = this.grid;
    const size = { width, height };
    const from = { w: shape.width, h: shape.height };
    const own: Record<GazeMapKind, SaliencyScores[]> = { mean: [], topk: [] };
    const shuf: Record<GazeMapKind, SaliencyScores[]> = { mean: [], topk: [] };
    const m = this.#frames.length;
    for (let i = 0; i < m; i++) {
      const g = this.#frames[i];
      const data = await read(g.frame.record);
      for (const kind of GAZE_MAP_KINDS) {
        const native = channelMap(data, shape, kind === "mean" ? null : topk);
        const map = prepareMap(upsampleBilinear(native, from, size), size);
        own[kind].push(saliencyScores(map, g.fixations, g.density));
        const others = this.#donors.map((o) => {
          const d = this.#frames[(i + o) % m];
          return saliencyScores(map, d.fixations, d.density);
        });
        shuf[kind].push({
          nss: mean(others.map((s) => s.nss)),
          auc: mean(others.map((s) => s.auc)),
          cc: mean(others.map((s) => s.cc)),
          sim: mean(others.map((s) => s.sim)),
        });
      }
    }
    const kinds = Object.fromEntries(GAZE_MAP_KINDS.map((kind) => [
      kind,
      Object.fromEntries(GAZE_METRICS.map((metric) => [metric, {
        value: mean(own[kind].map((s) => s[metric])),
        shuffled: this.#donors.length ? mean(shuf[kind].map((s) => s[metric])) : null,
      }])) as GazeKindScores,
    ])) as Record<GazeMapKind, GazeKindScores>;
    const best_kind: GazeMapKind = (kinds.topk.nss.value ?? -Infinity) >
        (kinds.mean.nss.value ?? -Infinity)
      ? "topk"
      : "mean";
    let bi = -1, wi = -1;
    own[best_kind].forEach((s, i) => {
      if (s.nss === null) return;
      if (bi < 0 || s.nss > own[best_kind][bi].nss!) bi = i;
      if (wi < 0 || s.nss < own[best_kind][wi].nss!) wi = i;
    });
    const label = (i: number) =>
      i < 0 ? null : {
        b: this.#frames[i].frame.b,
        t: this.#frames[i].frame.t,
        nss: own[best_kind][i].nss,
      };
    return {
      summary: {
        layer: name,
        map: { height: shape.height, width: shape.width },
        topk_channels: topk,
        kinds,
        best_kind,
        best_frame: label(bi),
        worst_frame: label(wi),
        per_frame: this.#frames.map((g, i) => ({
          b: g.frame.b,
          t: g.frame.t,
          mean: own.mean[i],
          topk: own.topk[i],
        })),
      },
      frames: bi < 0 ? null : { best: this.#frames[bi].frame, worst: this.#frames[wi].frame },
    };
  }
}

/**
 * The layer and map kind with the highest mean NSS, or null when no NSS is defined.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { bestAligned } from "./gaze_alignment.ts";
 * assert.equal(bestAligned([]), null);
 * ```
 */
export function bestAligned(
  layers: readonly LayerGazeAlignment[],
): { layer: string; kind: GazeMapKind; nss: number } | null {
  let best: { layer: string; kind: GazeMapKind; nss: number } | null = null;
  for (const l of layers) {
    for (const kind of GAZE_MAP_KINDS) {
      const v = l.kinds[kind].nss.value;
      if (v !== null && (!best || v > best.nss)) best = { layer: l.layer, kind, nss: v };
    }
  }
  return best;
}

/** A CSV field, quoted when it holds a comma, quote or line break. */
const csvField = (s: string): string => /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
const csvNum = (v: number | null): string => (v === null ? "" : String(v));

/**
 * `gaze_alignment.csv`: one row per layer, map kind and metric, with the shuffled baseline (empty
 * when undefined).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { gazeAlignmentCsv } from "./gaze_alignment.ts";
 * assert.equal(gazeAlignmentCsv([]), "layer,map,metric,value,shuffled\n");
 * ```
 */
export function gazeAlignmentCsv(layers: readonly LayerGazeAlignment[]): string {
  const rows = ["layer,map,metric,value,shuffled"];
  for (const l of layers) {
    for (const kind of GAZE_MAP_KINDS) {
      for (const metric of GAZE_METRICS) {
        const v = l.kinds[kind][metric];
        rows.push(
          [csvField(l.layer), kind, metric, csvNum(v.value), csvNum(v.shuffled)].join(","),
        );
      }
    }
  }
  return rows.join("\n") + "\n";
}

/** The definitions, for `summary.json`. */
export const GAZE_METHOD: string =
  "MIT/Tuebingen saliency benchmark definitions (Bylinskii et al.): NSS = mean of the " +
  "z-scored map (population std) at the fixated pixels; AUC-Judd = thresholds at the map values " +
  "of the fixated pixels, TPR over fixated and FPR over the other pixels, trapezoid; CC = Pearson " +
  "correlation with the Gaussian-blurred fixation map; SIM = sum of the pixelwise minimum of " +
  "both maps shifted to min 0 and scaled to sum 1. Maps upsampled bilinearly (pixel centres " +
  "aligned) to the scoring grid; fixated pixels counted once for NSS/AUC, by samples in the " +
  "blurred map (truncated at 3 sigma)";
