/**
 * Vega specs of the gaze alignment figures of `analyze`: `gaze_alignment.png` (each metric by
 * layer in network order, the mean and top-k maps as solid lines, their shuffled-gaze baselines
 * dashed and grey-toned, chance levels as thin rules) and `gaze_alignment_frames.png` (the best
 * and the worst frame of the best-aligned layer: its map with the frame's gaze rings).
 *
 * @module
 */

import { COLORS, figure, fmt, panel, type VegaObject } from "../render/charts_common.ts";
import type { VegaSpec } from "../render/vega_png.ts";
import { mapPanelOf } from "./charts_layer.ts";
import {
  GAZE_MAP_KINDS,
  GAZE_METRICS,
  GAZE_TOPK,
  type GazeAlignment,
  type GazeMapKind,
  type GazeMetric,
  type GazePoint,
} from "./gaze_alignment.ts";
import type { SaliencyScores } from "../stats/saliency.ts";

const METRIC_TITLES: Record<GazeMetric, [string, string]> = {
  nss: ["NSS", "mean z-score at the gaze (chance 0)"],
  auc: ["AUC-Judd", "gaze pixels ranked among all (chance 0.5 with many points)"],
  cc: ["CC", "correlation with the blurred gaze map (chance ≈ 0)"],
  sim: ["SIM", "histogram intersection with the blurred gaze map"],
};
const CHANCE: Partial<Record<GazeMetric, number>> = { nss: 0, auc: 0.5, cc: 0 };

const KIND_LABEL: Record<GazeMapKind, string> = {
  mean: "channel mean",
  topk: `top-${GAZE_TOPK} channels`,
};
const SERIES = [
  `${KIND_LABEL.mean}`,
  `${KIND_LABEL.topk}`,
  `${KIND_LABEL.mean}, shuffled gaze`,
  `${KIND_LABEL.topk}, shuffled gaze`,
];

/** Options of {@linkcode gazeAlignmentSpec}. */
export interface GazeAlignmentSpecOptions {
  /** The map kinds drawn (default both; dataset mode scores the channel mean only). */
  kinds?: readonly GazeMapKind[];
  /** What was scored, for the subtitle (default `N saved frames with gaze`). */
  over?: string;
  /** Figure title (default `Gaze alignment by layer`). */
  title?: string;
}

/**
 * `gaze_alignment.png`: one panel per metric, layers on the x axis in the order given (network
 * order).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { gazeAlignmentSpec } from "./charts_gaze.ts";
 * const v = { value: 1, shuffled: 0 };
 * const kinds = { nss: v, auc: v, cc: v, sim: v };
 * const spec = gazeAlignmentSpec({
 *   grid: { frame_width: 8, frame_height: 8, frame_size_source: "", width: 8, height: 8, sigma: 1, sigma_grid: 1, sigma_source: "" },
 *   frames: 2, frames_with_gaze: 2, topk: 4, shuffle: "", method: "", best: null, files: [],
 *   layers: [{ layer: "l", map: { height: 2, width: 2 }, topk_channels: [0], kinds: { mean: kinds, topk: kinds }, best_kind: "mean", best_frame: null, worst_frame: null, per_frame: [] }],
 * });
 * assert.equal((spec.marks ?? []).length, 4);
 * ```
 */
export function gazeAlignmentSpec(
  g: GazeAlignment,
  options: GazeAlignmentSpecOptions = {},
): VegaSpec {
  const names = g.layers.map((l) => l.layer);
  const rows: VegaObject[] = [];
  const drawn = options.kinds ?? GAZE_MAP_KINDS;
  const ks = GAZE_MAP_KINDS.map((_, k) => k).filter((k) => drawn.includes(GAZE_MAP_KINDS[k]));
  const series = [...ks.map((k) => SERIES[k]), ...ks.map((k) => SERIES[k + 2])];
  const colors = [COLORS.primary, COLORS.accent, "#9aa5b8", "#c7a69b"];
  const seriesColors = [...ks.map((k) => colors[k]), ...ks.map((k) => colors[k + 2])];
  const seriesDash = [...ks.map(() => [1, 0]), ...ks.map(() => [6, 4])];
  for (const l of g.layers) {
    GAZE_MAP_KINDS.forEach((kind, k) => {
      if (!ks.includes(k)) return;
      for (const metric of GAZE_METRICS) {
        const v = l.kinds[kind][metric];
        rows.push({ layer: l.layer, metric, series: SERIES[k], value: v.value });
        rows.push({ layer: l.layer, metric, series: SERIES[k + 2], value: v.shuffled });
      }
    });
  }
  let aucLow = 0.4;
  for (const r of rows) {
    if (r.metric === "auc" && typeof r.value === "number" && r.value < aucLow) {
      aucLow = Math.floor(r.value * 10) / 10;
    }
  }
  const W = Math.max(300, Math.min(900, 46 * names.length)), H = 190, gx = 90, gy = 100;
  const tilt = names.length > 5 || names.some((n) => n.length > 10);
  const marks = GAZE_METRICS.map((metric, i) => {
    const [title, sub] = METRIC_TITLES[metric];
    const chance = CHANCE[metric];
    return panel({
      x: (i % 2) * (W + gx),
      y: Math.floor(i / 2) * (H + gy),
      width: W,
      height: H,
      title,
      subtitle: sub,
      data: [{
        name: `d_${metric}`,
        source: "rows",
        transform: [{ type: "filter", expr: `datum.metric === '${metric}'` }],
      }],
      scales: [
        { name: "x", type: "point", domain: names, range: "width", padding: 0.5 },
        {
          name: "y",
          type: "linear",
          domain: { data: `d_${metric}`, field: "value" },
          range: "height",
          nice: true,
          zero: metric !== "auc",
          ...(metric === "auc" ? { domain: [aucLow, 1], nice: false } : {}),
        },
        { name: "color", type: "ordinal", domain: series, range: seriesColors },
        { name: "dash", type: "ordinal", domain: series, range: seriesDash },
      ],
      axes: [
        {
          orient: "bottom",
          scale: "x",
          title: "layer (network order)",
          ...(tilt ? { labelAngle: -35, labelAlign: "right", labelBaseline: "middle" } : {}),
          labelLimit: 120,
        },
        { orient: "left", scale: "y", grid: true, tickCount: 5, format: ".3~g", title },
      ],
      legends: i === 1
        ? [{
          stroke: "color",
          strokeDash: "dash",
          title: "map",
          symbolType: "stroke",
          symbolStrokeWidth: 2.5,
          symbolSize: 400,
          labelLimit: 220,
          orient: "right",
        }]
        : [],
      marks: [
        ...(chance !== undefined
          ? [{
            type: "rule",
            encode: {
              enter: {
                x: { value: 0 },
                x2: { value: W },
                y: { scale: "y", value: chance },
                stroke: { value: COLORS.muted },
                strokeWidth: { value: 1 },
                strokeOpacity: { value: 0.6 },
              },
            },
          }]
          : []),
        {
          type: "group",
          from: { facet: { name: `f_${metric}`, data: `d_${metric}`, groupby: ["series"] } },
          marks: [
            {
              type: "line",
              from: { data: `f_${metric}` },
              encode: {
                enter: {
                  x: { scale: "x", field: "layer" },
                  y: { scale: "y", field: "value" },
                  stroke: { scale: "color", field: "series" },
                  strokeDash: { scale: "dash", field: "series" },
                  strokeWidth: { value: 2 },
                  defined: { signal: "datum.value !== null" },
                },
              },
            },
            {
              type: "symbol",
              from: { data: `f_${metric}` },
              encode: {
                enter: {
                  x: { scale: "x", field: "layer" },
                  y: { scale: "y", field: "value" },
                  fill: { scale: "color", field: "series" },
                  size: { value: 30 },
                  opacity: { signal: "datum.value === null ? 0 : 1" },
                },
              },
            },
          ],
        },
      ],
    });
  });
  const best = g.best
    ? ` · best aligned: ${g.best.layer} (${KIND_LABEL[g.best.kind]}, NSS ${fmt(g.best.nss)})`
    : "";
  const over = options.over ?? `${g.frames} saved frame${g.frames === 1 ? "" : "s"} with gaze`;
  return figure({
    title: options.title ?? "Gaze alignment by layer",
    subtitle: [
      `${over} · scored at ` +
      `${g.grid.width}×${g.grid.height} (frame ${g.grid.frame_width}×${g.grid.frame_height}) · ` +
      `fixation blur sigma ${fmt(g.grid.sigma)} px${best}`,
      `dashed: the same map against other frames' gaze (shuffled baseline) · grey rule: chance`,
    ],
    width: 2 * W + gx + 170,
    height: 2 * H + gy,
    data: [{ name: "rows", values: rows }],
    marks,
  });
}

/** One frame of the overlay figure. */
export interface GazeOverlayFrame {
  /** Batch label. */
  b: number;
  /** Timestep label. */
  t: number;
  /** The map at layer resolution, row-major. */
  map: Float32Array;
  /** Map height. */
  h: number;
  /** Map width. */
  w: number;
  /** Gaze points in [0, 1]. */
  gaze: GazePoint[];
  /** The frame's scores. */
  scores: SaliencyScores;
}

/**
 * `gaze_alignment_frames.png`: the best and the worst frame (by NSS) of one layer's map, with
 * the frame's gaze rings.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { gazeFramesSpec } from "./charts_gaze.ts";
 * const f = { b: 0, t: 0, map: new Float32Array(4), h: 2, w: 2, gaze: [], scores: { nss: 1, auc: 1, cc: 1, sim: 1 } };
 * const spec = gazeFramesSpec({ layer: "l", kind: "mean" }, { best: f, worst: f });
 * assert.equal((spec.marks ?? []).length, 2);
 * ```
 */
export function gazeFramesSpec(
  which: { layer: string; kind: GazeMapKind },
  frames: { best: GazeOverlayFrame; worst: GazeOverlayFrame },
): VegaSpec {
  const size = 260, gap = 120;
  const aspect = frames.best.h / frames.best.w;
  const ph = aspect <= 1 ? size * aspect : size, pw = aspect <= 1 ? size : size / aspect;
  const line = (f: GazeOverlayFrame): string =>
    `b${f.b} t${f.t} · NSS ${fmt(f.scores.nss ?? NaN)} · AUC ${fmt(f.scores.auc ?? NaN)} · ` +
    `CC ${fmt(f.scores.cc ?? NaN)} · SIM ${fmt(f.scores.sim ?? NaN)}`;
  const marks = (["best", "worst"] as const).map((k, i) =>
    mapPanelOf(
      {
        title: `${k} frame`,
        subtitle: line(frames[k]),
        map: frames[k].map,
        h: frames[k].h,
        w: frames[k].w,
      },
      { x: i * (pw + gap), y: 0, size },
      { gaze: frames[k].gaze },
    )
  );
  return figure({
    title: `Gaze alignment — ${which.layer}, ${KIND_LABEL[which.kind]} map`,
    subtitle: "the best-aligned layer's best and worst saved frame (by NSS) · ◯ gaze points",
    width: 2 * pw + gap + 60,
    height: ph,
    marks,
  });
}
