/**
 * Vega specs of the per-layer figures of `analyze`: the value distribution
 * (`<layer>_distribution.png`), per-channel statistics (`<layer>_channel_stats.png`) and spatial
 * patterns (`<layer>_spatial_patterns.png`).
 *
 * @module
 */

import type { LayerStatistics } from "../stats/layer_statistics.ts";
import {
  COLORS,
  constantChannels,
  figure,
  finiteOrNull,
  fmt,
  frameRect,
  imageMark,
  panel,
  pct,
  statisticYScale,
  textMark,
  type VegaObject,
} from "../render/charts_common.ts";
import { heatmapDataUrl, type VegaSpec } from "../render/vega_png.ts";
import type { ColormapName } from "../render/colormap.ts";

const shapeText = (s: readonly number[]): string => `(${s.join(", ")})`;

function layerSubtitle(name: string, s: LayerStatistics): string {
  return `${name} ${shapeText(s.shape)} · ${s.frames} saved frame${s.frames === 1 ? "" : "s"} · ` +
    `${s.summary.count.toLocaleString("en-US")} values · mean ${fmt(s.summary.mean)} · std ${
      fmt(s.summary.std)
    } · ${pct(s.summary.sparsity)} zeros` +
    (s.summary.nonfinite ? ` · ${s.summary.nonfinite} NaN/Inf` : "");
}

/** Options of {@linkcode distributionSpec}. */
export interface DistributionOptions {
  /** Logarithmic count axis for the histogram. */
  logCounts?: boolean;
}

/**
 * Histogram, box plot and cumulative distribution of one layer's values.
 *
 * @example Usage
 * ```ts ignore
 * import { distributionSpec } from "./charts_layer.ts";
 * import { renderVegaPng } from "../render/vega_png.ts";
 * const png = await renderVegaPng(distributionSpec("layer1", stats, { logCounts: true }));
 * ```
 */
export function distributionSpec(
  name: string,
  s: LayerStatistics,
  options: DistributionOptions = {},
): VegaSpec {
  const W = 300, H = 230, gap = 80, boxW = 170;
  const log = options.logCounts ?? false;
  // A few extreme values (an exploding activation) would squash everything else into one bin:
  // then the value axes show p0.1..p99.9 (stats/layer_statistics.ts axisClipOf), with a note.
  const clip = s.axisClip;
  const shownHist = clip ? clip.histogram : s.histogram;
  const hist = shownHist.counts.map((count, i) => ({
    x0: shownHist.edges[i],
    x1: shownHist.edges[i + 1],
    count,
  })).filter((d) => !log || d.count > 0);
  const { summary: sm, box, quantiles: q } = s;
  const lo = clip ? clip.low : finiteOrNull(sm.min) ?? 0;
  const hi = clip ? clip.high : finiteOrNull(sm.max) ?? 1;
  const domain = lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi];
  const inDomain = (v: number): boolean => v >= domain[0] && v <= domain[1];
  const showMean = Number.isFinite(sm.mean) && (!clip || inDomain(sm.mean));
  const clipNote = clip
    ? `${clip.note} · ${(clip.below + clip.above).toLocaleString("en-US")} value${
      clip.below + clip.above === 1 ? "" : "s"
    } off-axis` + (Number.isFinite(sm.mean) && !showMean ? ` · mean ${fmt(sm.mean)} off-axis` : "")
    : "";
  // A ReLU layer's exact zeros make one bin dwarf the rest: clip the count axis above the
  // other bins (the tall bar is cut and labelled) so the shape of the non-zero values shows.
  let clipAt: number | null = null;
  let spike: { x0: number; x1: number; count: number } | null = null;
  if (!log && sm.sparsity > 0.1 && hist.length > 2) {
    const zi = hist.findIndex((d) => d.x0 <= 0 && 0 <= d.x1);
    if (zi >= 0) {
      const rest = Math.max(...hist.filter((_, i) => i !== zi).map((d) => d.count));
      if (rest > 0 && hist[zi].count > 4 * rest) {
        clipAt = rest * 1.3;
        spike = hist[zi];
      }
    }
  }

  const histPanel = panel({
    x: 0,
    y: 0,
    width: W,
    height: H,
    title: "Histogram",
    subtitle: `${s.histogram.counts.length} bins${log ? ", log counts" : ""} · ${
      pct(sm.sparsity)
    } exact zeros${spike ? " (bar cut)" : ""}`,
    data: [{ name: "hist", values: hist }],
    scales: [
      { name: "x", type: "linear", domain, range: "width", zero: false, nice: false },
      log
        ? {
          name: "y",
          type: "log",
          domain: { data: "hist", field: "count" },
          domainMin: 1,
          range: "height",
          nice: true,
        }
        : {
          name: "y",
          type: "linear",
          domain: clipAt ? [0, clipAt] : { data: "hist", field: "count" },
          range: "height",
          nice: !clipAt,
        },
    ],
    axes: [
      { orient: "bottom", scale: "x", title: "activation", tickCount: 6 },
      {
        orient: "left",
        scale: "y",
        title: log ? "count (log)" : "count",
        grid: true,
        tickCount: 5,
        format: log ? "~s" : "~s",
      },
    ],
    marks: [
      {
        type: "rect",
        from: { data: "hist" },
        clip: true,
        encode: {
          enter: {
            x: { scale: "x", field: "x0" },
            x2: { scale: "x", field: "x1" },
            y: { scale: "y", field: "count" },
            y2: log ? { scale: "y", value: 1 } : { scale: "y", value: 0 },
            fill: { value: COLORS.primary },
            stroke: { value: "white" },
            strokeWidth: { value: hist.length > 40 ? 0.2 : 0.5 },
          },
        },
      },
      ...(spike
        ? [
          histNote(spike.x1, 26, `↑ ${spike.count.toLocaleString("en-US")} (zeros)`, COLORS.dark),
          {
            type: "rule",
            encode: {
              enter: {
                x: { scale: "x", value: spike.x0, offset: -2 },
                x2: { scale: "x", value: spike.x1, offset: 2 },
                y: { value: 6 },
                stroke: { value: "white" },
                strokeWidth: { value: 3 },
              },
            },
          },
        ]
        : []),
      ...(showMean
        ? [
          {
            type: "rule",
            encode: {
              enter: {
                x: { scale: "x", value: sm.mean },
                y: { value: 0 },
                y2: { value: H },
                stroke: { value: COLORS.accent },
                strokeWidth: { value: 1.5 },
                strokeDash: { value: [5, 3] },
              },
            },
          },
          histNote(sm.mean, 10, `mean ${fmt(sm.mean)}`, COLORS.accent, {
            align: sm.mean > (domain[0] + domain[1]) / 2 ? "right" : "left",
          }),
        ]
        : []),
    ],
  });

  const outliers = box.outlierSample.filter((v) => !clip || inDomain(v)).map((v) => ({ v }));
  const boxPanel = panel({
    x: W + gap,
    y: 0,
    width: boxW,
    height: H,
    title: "Box plot",
    subtitle: `1.5 IQR whiskers · ${
      (box.outliersLow + box.outliersHigh).toLocaleString("en-US")
    } outliers · ◆ mean`,
    data: [{ name: "out", values: outliers }],
    scales: [
      { name: "x", type: "linear", domain: [0, 1], range: "width" },
      { name: "y", type: "linear", domain, range: "height", zero: false, nice: false },
    ],
    axes: [{ orient: "left", scale: "y", title: "activation", grid: true, tickCount: 6 }],
    marks: Number.isFinite(box.q1)
      ? [
        {
          type: "rule",
          encode: {
            enter: {
              x: { value: 45 },
              y: { scale: "y", value: box.whiskerLow },
              y2: { scale: "y", value: box.whiskerHigh },
              stroke: { value: COLORS.dark },
            },
          },
        },
        ...[box.whiskerLow, box.whiskerHigh].map((v) => ({
          type: "rule",
          encode: {
            enter: {
              x: { value: 33 },
              x2: { value: 57 },
              y: { scale: "y", value: v },
              stroke: { value: COLORS.dark },
            },
          },
        })),
        {
          type: "rect",
          encode: {
            enter: {
              x: { value: 20 },
              x2: { value: 70 },
              y: { scale: "y", value: box.q3 },
              y2: { scale: "y", value: box.q1 },
              fill: { value: "#c9d8ee" },
              stroke: { value: COLORS.primary },
              strokeWidth: { value: 1.2 },
            },
          },
        },
        {
          type: "rule",
          encode: {
            enter: {
              x: { value: 20 },
              x2: { value: 70 },
              y: { scale: "y", value: box.median },
              stroke: { value: COLORS.dark },
              strokeWidth: { value: 2.2 },
            },
          },
        },
        {
          type: "symbol",
          from: { data: "out" },
          ...(clip ? { clip: true } : {}),
          encode: {
            enter: {
              x: { value: 45 },
              y: { scale: "y", field: "v" },
              size: { value: 14 },
              shape: { value: "circle" },
              stroke: { value: COLORS.muted },
              strokeWidth: { value: 0.8 },
              fill: { value: "transparent" },
            },
          },
        },
        ...(showMean
          ? [{
            type: "symbol",
            encode: {
              enter: {
                x: { value: 45 },
                y: { scale: "y", value: sm.mean },
                shape: { value: "diamond" },
                size: { value: 50 },
                fill: { value: COLORS.accent },
              },
            },
          }]
          : []),
        ...[
          [box.q3, `p75 ${fmt(box.q3)}`],
          [box.median, `median ${fmt(box.median)}`],
          [box.q1, `p25 ${fmt(box.q1)}`],
        ].map(([_v, t], i, all) => ({
          type: "text",
          encode: {
            enter: {
              x: { value: 78 },
              // Spread the labels when the box is thin.
              y: { signal: labelY(all.map((a) => a[0] as number), i, domain, H) },
              text: { value: t },
              fontSize: { value: 10 },
              fill: { value: COLORS.dark },
              baseline: { value: "middle" },
            },
          },
        })),
      ]
      : [textMark("no finite values", { x: 10, y: H / 2 })],
  });

  const cdf = s.cdf.value.map((v, i) => ({
    // Clipped axes: points beyond them sit on the edge (the step still shows where it rises).
    v: clip ? Math.min(domain[1], Math.max(domain[0], v)) : v,
    f: s.cdf.fraction[i],
  })).filter((d) => Number.isFinite(d.v));
  const cdfPanel = panel({
    x: W + gap + boxW + gap + 40,
    y: 0,
    width: W,
    height: H,
    title: "Cumulative distribution",
    subtitle: `p1 ${fmt(q.p1)} · p50 ${fmt(q.p50)} · p99 ${fmt(q.p99)}`,
    data: [{ name: "cdf", values: cdf }],
    scales: [
      { name: "x", type: "linear", domain, range: "width", zero: false, nice: false },
      { name: "y", type: "linear", domain: [0, 1], range: "height" },
    ],
    axes: [
      { orient: "bottom", scale: "x", title: "activation", tickCount: 6 },
      { orient: "left", scale: "y", title: "fraction of values ≤ x", grid: true, format: ".0%" },
    ],
    marks: [
      {
        type: "rule",
        encode: {
          enter: {
            x: { value: 0 },
            x2: { value: W },
            y: { scale: "y", value: 0.5 },
            stroke: { value: "#bbb" },
            strokeDash: { value: [3, 3] },
          },
        },
      },
      {
        type: "line",
        from: { data: "cdf" },
        ...(clip ? { clip: true } : {}),
        encode: {
          enter: {
            x: { scale: "x", field: "v" },
            y: { scale: "y", field: "f" },
            stroke: { value: COLORS.primary },
            strokeWidth: { value: 2 },
            interpolate: { value: "step-after" },
          },
        },
      },
    ],
  });

  return figure({
    title: `${name} — activation distribution`,
    subtitle: clip ? [layerSubtitle(name, s), clipNote] : layerSubtitle(name, s),
    width: W + gap + boxW + gap + 40 + W,
    height: H,
    marks: [histPanel, boxPanel, cdfPanel],
  });
}

/**
 * A small note in the histogram panel: `text` beside the value `at` of the x scale, `y` pixels from
 * the top, in `fill`; `extra` adds further constant channels.
 */
function histNote(
  at: number,
  y: number,
  text: string,
  fill: string,
  extra: VegaObject = {},
): VegaObject {
  return {
    type: "text",
    encode: {
      enter: {
        x: { scale: "x", value: at },
        ...constantChannels({ dx: 4, y, text, fill, fontSize: 10, ...extra }),
      },
    },
  };
}

/** Pixel y of label i, pushed apart so that labels of a thin box do not overlap. */
function labelY(values: number[], i: number, domain: number[], H: number): string {
  const ys = values.map((v) => H - (v - domain[0]) / (domain[1] - domain[0] || 1) * H);
  // ys are in descending value order: top to bottom; enforce >= 12 px spacing around the middle.
  const mid = ys[1];
  const top = Math.min(ys[0], mid - 12), bottom = Math.max(ys[2], mid + 12);
  return String([top, mid, bottom][i]);
}

/** Statistic to sort channels by in {@linkcode channelStatsSpec}. */
export type ChannelSortKey = "index" | "mean" | "std" | "max" | "sparsity";

/** The keys {@linkcode channelStatsSpec} can sort by. */
export const CHANNEL_SORT_KEYS: readonly ChannelSortKey[] = [
  "index",
  "mean",
  "std",
  "max",
  "sparsity",
];

/** What {@linkcode channelStatsSpec} draws: a layer's per-channel statistics. */
export interface ChannelChartInput {
  /** `channels`: C. */
  geometry: { channels: number };
  /** Frames the statistics are over. */
  frames: number;
  /** The layer mean (dashed line). */
  summary: { mean: number };
  /** Per channel; `min` is drawn with `withMin`. */
  channels: {
    mean: readonly number[];
    std: readonly number[];
    max: readonly number[];
    sparsity: readonly number[];
    min?: readonly number[];
  };
  /** Dead channels, drawn in red. */
  deadChannels: readonly number[];
}

/** Options of {@linkcode channelStatsSpec}. */
export interface ChannelChartOptions {
  /** Channel order (default `index`). */
  sortBy?: ChannelSortKey;
  /** Add a per-channel minimum panel. */
  withMin?: boolean;
  /** What the statistics are over, for the subtitle (default `N saved frames`). */
  over?: string;
  /** What makes a channel dead, for the subtitle (default `all zero`). */
  deadMeaning?: string;
}

/**
 * Per-channel mean, std, (min,) max and sparsity as aligned bar charts; dead channels in red.
 *
 * @example Usage
 * ```ts ignore
 * import { channelStatsSpec } from "./charts_layer.ts";
 * const spec = channelStatsSpec("layer1", stats, { sortBy: "mean" });
 * ```
 */
export function channelStatsSpec(
  name: string,
  s: ChannelChartInput,
  options: ChannelChartOptions = {},
): VegaSpec {
  const sortBy = options.sortBy ?? "index";
  const withMin = options.withMin === true && s.channels.min !== undefined;
  const C = s.geometry.channels;
  const dead = new Set(s.deadChannels);
  const rows = Array.from({ length: C }, (_, c) => ({
    c: String(c),
    index: c,
    mean: finiteOrNull(s.channels.mean[c]),
    std: finiteOrNull(s.channels.std[c]),
    max: finiteOrNull(s.channels.max[c]),
    ...(withMin ? { min: finiteOrNull(s.channels.min![c] ?? NaN) } : {}),
    sparsity: s.channels.sparsity[c],
    dead: dead.has(c),
  }));
  if (sortBy !== "index") {
    rows.sort((a, b) => ((b[sortBy] ?? -Infinity) - (a[sortBy] ?? -Infinity)) || a.index - b.index);
  }
  const order = rows.map((r) => r.c);
  const W = Math.min(1000, Math.max(640, C * 14));
  const H = 120, gap = 62;
  const step = Math.ceil(C / 48);
  const labelValues = C <= 64 ? order : order.filter((_, i) => i % step === 0);
  const metrics: [keyof typeof rows[0] | "min", string, string][] = [
    ["mean", "mean", "mean activation"],
    ["std", "std", "standard deviation"],
    ...(withMin ? [["min", "min", "minimum"] as ["min", string, string]] : []),
    ["max", "max", "maximum"],
    ["sparsity", "sparsity", "fraction of exact zeros"],
  ];
  const last = metrics.length - 1;
  const panels = metrics.map(([field, title, sub], k) =>
    panel({
      x: 0,
      y: k * (H + gap),
      width: W,
      height: H,
      title: title,
      subtitle: sub + (field === "mean" ? ` · dashed: layer mean ${fmt(s.summary.mean)}` : ""),
      scales: [
        {
          name: "x",
          type: "band",
          domain: order,
          range: "width",
          paddingInner: C <= 128 ? 0.15 : 0,
        },
        statisticYScale(field, { data: "ch", zero: true }),
      ],
      axes: [
        {
          orient: "bottom",
          scale: "x",
          values: labelValues,
          labelFontSize: C > 32 ? 8 : 10,
          labelAngle: C > 32 ? -90 : 0,
          labelAlign: C > 32 ? "right" : "center",
          labelBaseline: C > 32 ? "middle" : "top",
          labelPadding: C > 32 ? 4 : 2,
          title: k === last
            ? (sortBy === "index" ? "channel" : `channel (sorted by ${sortBy}, descending)`)
            : undefined,
        },
        {
          orient: "left",
          scale: "y",
          grid: true,
          tickCount: 4,
          format: field === "sparsity" ? ".0%" : ".3~g",
        },
      ],
      marks: [
        ...(field === "sparsity"
          ? [{
            type: "rect",
            encode: {
              enter: {
                x: { value: 0 },
                x2: { value: W },
                y: { scale: "y", value: 0.7 },
                y2: { scale: "y", value: 0.3 },
                fill: { value: COLORS.healthy },
                opacity: { value: 0.1 },
              },
            },
          }]
          : []),
        {
          type: "rect",
          from: { data: "ch" },
          encode: {
            enter: {
              x: { scale: "x", field: "c" },
              width: { scale: "x", band: 1 },
              y: { scale: "y", field, offset: 0 },
              y2: { scale: "y", value: 0 },
              fill: [{ test: "datum.dead", value: COLORS.dead }, { value: COLORS.primary }],
            },
          },
        },
        ...(field !== "sparsity"
          ? [{
            type: "symbol",
            from: { data: "ch" },
            encode: {
              enter: {
                x: { scale: "x", field: "c", band: 0.5 },
                y: { value: H - 5 },
                shape: { value: "triangle-up" },
                size: { value: C > 128 ? 12 : 30 },
                fill: { value: COLORS.dead },
                opacity: { signal: "datum.dead ? 1 : 0" },
              },
            },
          }]
          : []),
        ...(field === "mean" && Number.isFinite(s.summary.mean)
          ? [{
            type: "rule",
            encode: {
              enter: {
                x: { value: 0 },
                x2: { value: W },
                y: { scale: "y", value: s.summary.mean },
                stroke: { value: COLORS.accent },
                strokeDash: { value: [5, 3] },
                strokeWidth: { value: 1.3 },
              },
            },
          }]
          : []),
      ],
    })
  );
  const deadText = s.deadChannels.length
    ? `${s.deadChannels.length} dead channel${s.deadChannels.length === 1 ? "" : "s"} (${
      options.deadMeaning ?? "all zero"
    }, red): ${s.deadChannels.slice(0, 20).join(", ")}${s.deadChannels.length > 20 ? ", …" : ""}`
    : "no dead channels";
  return figure({
    title: `${name} — per-channel statistics`,
    subtitle: [
      `${C} channels over ${
        options.over ?? `${s.frames} saved frame${s.frames === 1 ? "" : "s"}`
      } · ${deadText}`,
      `shaded band in sparsity: healthy 30–70 % · sorted by ${sortBy}`,
    ],
    width: W,
    height: metrics.length * H + last * gap,
    data: [{ name: "ch", values: rows }],
    marks: panels,
  });
}

/** Options of {@linkcode spatialSpec}. */
export interface SpatialOptions {
  /** Gaze points in [0, 1] frame coordinates to mark. */
  gaze?: readonly { x: number; y: number }[];
  /** Colormap (default viridis). */
  colormap?: ColormapName;
}

function mapPanel(
  title: string,
  subtitle: string,
  map: number[],
  dims: { h: number; w: number },
  at: { x: number; y: number; size: number },
  options: SpatialOptions,
): VegaObject {
  const { h, w } = dims;
  const aspect = h / w;
  const pw = aspect <= 1 ? at.size : at.size / aspect;
  const ph = aspect <= 1 ? at.size * aspect : at.size;
  const values = Float32Array.from(map, (v) => (v === null ? NaN : v));
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(lo <= hi)) lo = hi = 0;
  const cmap = options.colormap ?? "viridis";
  // Map-sized image; the renderer scales it with nearest neighbour (smooth: false).
  const url = heatmapDataUrl(values, [h, w], { colormap: cmap });
  const gaze = (options.gaze ?? []).filter((g) => Number.isFinite(g.x) && Number.isFinite(g.y));
  const box = { x: 0, y: 0, width: pw, height: ph };
  // A gaze point is a thin ring drawn twice, both partly transparent so the map under it stays
  // visible: a light edge, then a thinner coloured line on top.
  const gazeRing = (stroke: string, strokeWidth: number, opacity: number): VegaObject => ({
    type: "symbol",
    from: { data: "gaze" },
    encode: {
      enter: {
        x: { field: "x" },
        y: { field: "y" },
        shape: { value: "circle" },
        size: { value: at.size > 150 ? 160 : 90 },
        stroke: { value: stroke },
        strokeWidth: { value: strokeWidth },
        strokeOpacity: { value: opacity },
        fill: { value: "transparent" },
      },
    },
  });
  return panel({
    x: at.x,
    y: at.y,
    width: pw,
    height: ph,
    title,
    subtitle,
    data: [{ name: "gaze", values: gaze.map((g) => ({ x: g.x * pw, y: g.y * ph })) }],
    scales: [{
      name: "color",
      type: "linear",
      domain: lo === hi ? [lo, lo + 1e-9] : [lo, hi],
      range: { scheme: cmap },
      zero: false,
      nice: false,
    }],
    legends: [{
      fill: "color",
      type: "gradient",
      direction: "vertical",
      gradientLength: Math.max(60, ph - 10),
      gradientThickness: 10,
      tickCount: 4,
      format: ".3~g",
      labelFontSize: 9,
      offset: 8,
    }],
    marks: [
      imageMark(url, box, false),
      frameRect(box, "#888"),
      gazeRing("white", 2, 0.6),
      gazeRing("#ff1f5a", 1, 0.85),
    ],
  });
}

/** What a map panel shows (see {@linkcode mapPanelOf}). */
export interface MapPanelContent {
  /** Panel title. */
  title: string;
  /** Grey line under the title. */
  subtitle: string;
  /** Row-major `h x w` values (NaN or null: no value). */
  map: ArrayLike<number | null>;
  /** Map height. */
  h: number;
  /** Map width. */
  w: number;
}

/**
 * One map panel as in `<layer>_spatial_patterns.png` (own colour scale and legend, gaze rings),
 * at `at` in a figure, at most `at.size` pixels on its longer side.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { mapPanelOf } from "./charts_layer.ts";
 * const p = mapPanelOf({ title: "t", subtitle: "", map: [0, 1, 2, 3], h: 2, w: 2 }, { x: 0, y: 0, size: 100 }, { gaze: [{ x: 0.5, y: 0.5 }] });
 * assert.equal(p.type, "group");
 * ```
 */
export function mapPanelOf(
  content: MapPanelContent,
  at: { x: number; y: number; size: number },
  options: SpatialOptions = {},
): VegaObject {
  const map = Array.from(content.map, (v) => (v === null ? NaN : v));
  return mapPanel(
    content.title,
    content.subtitle,
    map,
    { h: content.h, w: content.w },
    at,
    options,
  );
}

/**
 * Mean, max and std over channels as maps, and the strongest channels' mean maps; the gaze point
 * marked when known.
 *
 * @example Usage
 * ```ts ignore
 * import { spatialSpec } from "./charts_layer.ts";
 * const spec = spatialSpec("layer1", stats, { gaze: [{ x: 0.5, y: 0.4 }] });
 * ```
 */
export function spatialSpec(
  name: string,
  s: LayerStatistics,
  options: SpatialOptions = {},
): VegaSpec {
  const sp = s.spatial;
  const dims = { h: sp.height, w: sp.width };
  const big = 220, small = 130, bigGap = 110, smallGap = 72;
  const marks: VegaObject[] = [];
  const over = `over ${s.geometry.channels} channels` +
    (s.frames > 1 ? ` and ${s.frames} frames` : "");
  const aspect = sp.height / sp.width;
  const bigH = aspect <= 1 ? big * aspect : big;
  const bigW = aspect <= 1 ? big : big / aspect;
  const top: [string, number[]][] = [["Mean", sp.mean], ["Max", sp.max], ["Std", sp.std]];
  top.forEach(([t, m], i) => {
    marks.push(mapPanel(t, over, m, dims, { x: i * (bigW + bigGap), y: 0, size: big }, options));
  });
  const rowY = bigH + 80;
  const smallW = aspect <= 1 ? small : small / aspect;
  const smallH = aspect <= 1 ? small * aspect : small;
  sp.strongest.forEach((st, i) => {
    marks.push(
      mapPanel(
        `ch ${st.channel}`,
        `mean ${fmt(st.mean)}`,
        st.map,
        dims,
        { x: i * (smallW + smallGap), y: rowY, size: small },
        options,
      ),
    );
  });
  const width = Math.max(3 * bigW + 2 * bigGap, sp.strongest.length * (smallW + smallGap));
  marks.push(
    textMark(
      `Strongest channels (highest mean activation), mean map over saved frames`,
      { x: 0, y: rowY - 52 },
      { fontSize: 12.5, fontWeight: "bold", fill: COLORS.dark },
    ),
  );
  const nGaze = options.gaze?.length ?? 0;
  const gazeNote = nGaze > 1
    ? " · ◯ gaze points of the saved frames"
    : nGaze === 1
    ? " · ◯ gaze point"
    : "";
  return figure({
    title: `${name} — spatial patterns`,
    subtitle: (sp.block
      ? `map ${sp.mapHeight}×${sp.mapWidth}, shown ${sp.height}×${sp.width} (means of ${sp.block}×${sp.block} blocks)`
      : `map ${sp.height}×${sp.width}`) +
      (s.geometry.depth > 1 ? ` (averaged over depth ${s.geometry.depth})` : "") +
      ` · each map has its own colour scale${gazeNote}`,
    width,
    height: rowY + (sp.strongest.length ? smallH : 0),
    marks,
  });
}
