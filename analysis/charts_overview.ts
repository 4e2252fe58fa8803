/**
 * Vega specs of the figures of `analyze` that span layers: `layer_comparison.png` (every layer
 * side by side) and `temporal.png` (statistics over time and time x channel heat maps).
 *
 * @module
 */

import {
  COLORS,
  figure,
  finiteOrNull,
  numberAxisEncode,
  panel,
  pct,
  statisticYScale,
  type VegaObject,
} from "../render/charts_common.ts";
import { DEFAULT_THRESHOLDS } from "../stats/health.ts";
import { heatmapDataUrl, type VegaSpec } from "../render/vega_png.ts";

/**
 * A layer name as the whole text of a Vega title. Vega's parser looks a group title's text up
 * among its signal names in a plain object, so a title that is exactly `constructor`, `toString`
 * or another `Object.prototype` member resolves to that function and fails ("Operator not
 * defined"), leaving the chart blank. Such a name gets a trailing space (invisible: titles are
 * anchored at the start); every other name is unchanged.
 */
function titleText(name: string): string {
  return Object.prototype.hasOwnProperty.call(Object.prototype, name) ? `${name} ` : name;
}

/** One layer's numbers in the layer comparison. */
export interface LayerOverview {
  /** Layer name. */
  name: string;
  /** Mean activation. */
  mean: number;
  /** Standard deviation. */
  std: number;
  /** Maximum. */
  max: number;
  /** Fraction of exact zeros. */
  sparsity: number;
  /** Fraction of channels that are all zero. */
  deadFraction: number;
  /** Channels. */
  channels: number;
  /** Map height. */
  height: number;
  /** Map width. */
  width: number;
  /** Worst health level of the layer, if any flag. */
  level?: "error" | "warn" | "info";
  /**
   * Codes of the layer's health flags at level warn or error (`low_mean`, `too_sparse`, ...):
   * a mean bar is orange only with `low_mean`/`high_mean`, a sparsity bar only with
   * `too_sparse`/`too_dense`.
   */
  flags?: readonly string[];
}

/** The flag codes that colour a bar of each panel of {@linkcode layerComparisonSpec}. */
export const FLAG_CODES_OF_PANEL: Readonly<Record<"mean" | "sparsity", readonly string[]>> = {
  mean: ["low_mean", "high_mean"],
  sparsity: ["too_sparse", "too_dense"],
};

/** Colour of a bar whose statistic the health check flagged (warn or error). */
export const FLAGGED_COLOR = "#f4a259";

/**
 * Every layer side by side: mean (healthy band shaded), std, sparsity (healthy band), max,
 * dead-channel fraction and map size.
 *
 * @example Usage
 * ```ts
 * import { layerComparisonSpec } from "./charts_overview.ts";
 * const spec = layerComparisonSpec([
 *   { name: "conv1", mean: 0.4, std: 1, max: 5, sparsity: 0.5, deadFraction: 0, channels: 16, height: 56, width: 56 },
 * ]);
 * console.log(spec.title !== undefined); // true
 * ```
 */
export function layerComparisonSpec(layers: readonly LayerOverview[]): VegaSpec {
  const n = layers.length;
  const W = Math.max(260, Math.min(420, n * 38)), H = 170;
  const gx = 90, gy = 120;
  const values = layers.map((l) => ({
    name: l.name,
    mean: finiteOrNull(l.mean),
    std: finiteOrNull(l.std),
    max: finiteOrNull(l.max),
    sparsity: finiteOrNull(l.sparsity),
    dead: finiteOrNull(l.deadFraction),
    size: l.height * l.width,
    sizeLabel: `${l.height}×${l.width}`,
    channels: l.channels,
    flaggedMean: (l.flags ?? []).some((c) => FLAG_CODES_OF_PANEL.mean.includes(c)),
    flaggedSparsity: (l.flags ?? []).some((c) => FLAG_CODES_OF_PANEL.sparsity.includes(c)),
    sparsityLabel: pct(l.sparsity),
  }));
  const t = DEFAULT_THRESHOLDS;
  const defs: {
    field: string;
    title: string;
    subtitle: string;
    band?: [number, number];
    percent?: boolean;
    log?: boolean;
    label?: string;
  }[] = [
    {
      field: "mean",
      title: "Mean activation",
      subtitle: `shaded: healthy ${t.meanLow}–${t.meanHigh}; orange = mean flagged by health check`,
      band: [t.meanLow, t.meanHigh],
    },
    { field: "std", title: "Standard deviation", subtitle: "over all saved values" },
    {
      field: "sparsity",
      title: "Sparsity",
      subtitle: `exact zeros; shaded: healthy ${100 * t.sparsityLow}–${
        100 * t.sparsityHigh
      } %; orange = flagged by health check`,
      band: [t.sparsityLow, t.sparsityHigh],
      percent: true,
      label: "sparsityLabel",
    },
    { field: "max", title: "Maximum", subtitle: "largest finite activation" },
    {
      field: "dead",
      title: "Dead channels",
      subtitle: "fraction of channels that are all zero",
      percent: true,
    },
    {
      field: "size",
      title: "Map size",
      subtitle: "H × W positions per channel (log scale)",
      log: true,
      label: "sizeLabel",
    },
  ];
  // A bar far below zero (an exploding negative mean) would reach far outside its panel and grow
  // the figure without bound: such bars are cut a quarter of the panel below zero (their labels
  // keep the true value).
  for (const d of defs) {
    if (d.log || d.percent) continue;
    const hi = Math.max(
      0,
      ...values.map((v) => ((v as Record<string, unknown>)[d.field] as number | null) ?? 0),
    );
    const floor = -0.25 * Math.max(hi, d.band ? d.band[1] : 0, 1e-12);
    for (const v of values as Record<string, unknown>[]) {
      const x = v[d.field] as number | null;
      v[`${d.field}_y`] = x !== null && x < floor ? floor : x;
    }
  }
  const rotate = n > 6;
  const headroom = (field: string): number[] =>
    values.map((v) => ((v as Record<string, unknown>)[field] as number | null) ?? 0).map((m) =>
      m * (rotate ? 1.35 : 1.15)
    );
  const marks = defs.map((d, k) => {
    const x = (k % 3) * (W + gx), y = Math.floor(k / 3) * (H + gy);
    const yScale: VegaObject = d.log
      ? {
        name: "y",
        type: "log",
        domain: [1, Math.max(10, ...values.map((v) => v.size)) * (rotate ? 60 : 4)],
        range: "height",
        nice: false,
      }
      : d.percent
      ? {
        name: "y",
        type: "linear",
        domain: [0, rotate ? 1.3 : 1.12],
        range: "height",
        nice: false,
      }
      : {
        name: "y",
        type: "linear",
        domain: [0, Math.max(...headroom(d.field), d.band ? d.band[1] * 1.1 : 0)],
        range: "height",
        nice: false,
        zero: true,
      };
    const inner: VegaObject[] = [];
    if (d.band) {
      inner.push({
        type: "rect",
        encode: {
          enter: {
            x: { value: 0 },
            x2: { value: W },
            y: { scale: "y", value: d.band[1] },
            y2: { scale: "y", value: d.band[0] },
            fill: { value: COLORS.healthy },
            opacity: { value: 0.12 },
          },
        },
      });
    }
    inner.push({
      type: "rect",
      from: { data: "layers" },
      encode: {
        enter: {
          x: { scale: "x", field: "name" },
          width: { scale: "x", band: 1 },
          y: { scale: "y", field: d.log || d.percent ? d.field : `${d.field}_y` },
          y2: { scale: "y", value: d.log ? 1 : 0 },
          fill: d.field === "mean"
            ? [{ test: "datum.flaggedMean", value: FLAGGED_COLOR }, { value: COLORS.primary }]
            : d.field === "sparsity"
            ? [{ test: "datum.flaggedSparsity", value: FLAGGED_COLOR }, { value: COLORS.primary }]
            : d.field === "dead"
            ? { value: COLORS.dead }
            : { value: COLORS.primary },
        },
      },
    });
    inner.push({
      type: "text",
      from: { data: "layers" },
      encode: {
        enter: {
          x: { scale: "x", field: "name", band: 0.5 },
          y: {
            scale: "y",
            field: d.log || d.percent ? d.field : `${d.field}_y`,
            offset: -4,
          },
          text: d.label
            ? { signal: `datum.${d.label}` }
            : d.percent
            ? { signal: `format(datum.${d.field}, '.1%')` }
            : { signal: `format(datum.${d.field}, '.3~g')` },
          fontSize: { value: n > 12 ? 8 : 9 },
          fill: { value: COLORS.dark },
          ...(rotate
            ? {
              angle: { value: -90 },
              align: { value: "left" },
              baseline: { value: "middle" },
              dx: { value: 0 },
            }
            : { align: { value: "center" } }),
        },
      },
    });
    return panel({
      x,
      y,
      width: W,
      height: H,
      title: d.title,
      subtitle: d.subtitle,
      scales: [
        {
          name: "x",
          type: "band",
          domain: layers.map((l) => l.name),
          range: "width",
          padding: 0.2,
        },
        yScale,
      ],
      axes: [
        {
          orient: "bottom",
          scale: "x",
          labelAngle: -35,
          labelAlign: "right",
          labelBaseline: "top",
          labelLimit: 110,
        },
        {
          orient: "left",
          scale: "y",
          grid: true,
          // Percentages; map sizes as 1k/1M; every other statistic as plain decimals (0.25)
          // or 1e-3 (never SI prefixes such as "500m").
          ...(d.percent ? { format: ".0%" } : d.log ? { format: "~s" } : {
            encode: numberAxisEncode(),
          }),
          // Explicit values (Vega would thin them out to tickCount if both were given).
          ...(d.percent ? { values: [0, 0.2, 0.4, 0.6, 0.8, 1] } : { tickCount: 4 }),
        },
      ],
      marks: inner,
    });
  });
  return figure({
    title: "Layer comparison",
    subtitle: `${n} layer${
      n === 1 ? "" : "s"
    }, in the order of the file · statistics over all saved frames`,
    width: 3 * W + 2 * gx,
    height: 2 * H + gy,
    data: [{ name: "layers", values }],
    marks,
  });
}

/** About six round channel numbers from 0 to `C - 1`. */
function channelTicks(C: number): number[] {
  const raw = (C - 1) / 5;
  const pow = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? raw);
  const out: number[] = [];
  for (let c = 0; c < C; c += step) out.push(c);
  return out;
}

/** One point of a layer's statistics over time. */
export interface TemporalPoint {
  /** Layer name. */
  layer: string;
  /** Batch sample. */
  b: number;
  /** Frame (time step). */
  t: number;
  /** Mean activation. */
  mean: number;
  /** Fraction of exact zeros. */
  sparsity: number;
}

/** A time x channel heat map of one layer (saved frames of one sample). */
export interface TemporalHeatmap {
  /** Layer name. */
  layer: string;
  /** Batch sample. */
  b: number;
  /** The saved frames' time steps (columns). */
  frames: number[];
  /** Channel means, `[frame][channel]`. */
  means: number[][];
}

/** Input of {@linkcode temporalSpec}. */
export interface TemporalInput {
  /** Points of every layer's mean and sparsity over time. */
  points: readonly TemporalPoint[];
  /** Where the points come from, shown in the subtitle. */
  source: string;
  /** Heat maps (may be empty). */
  heatmaps: readonly TemporalHeatmap[];
}

/**
 * Each layer's mean and sparsity over time (one line per layer, dashes per sample), and time x
 * channel heat maps of channel means.
 *
 * @example Usage
 * ```ts
 * import { temporalSpec } from "./charts_overview.ts";
 * const spec = temporalSpec({
 *   points: [{ layer: "l", b: 0, t: 0, mean: 1, sparsity: 0.5 }, { layer: "l", b: 0, t: 1, mean: 2, sparsity: 0.4 }],
 *   source: "saved frames",
 *   heatmaps: [],
 * });
 * console.log(spec.width); // 1150
 * ```
 */
export function temporalSpec(input: TemporalInput): VegaSpec {
  const W = 460, H = 200, gx = 80;
  const values = input.points.map((p) => ({
    ...p,
    mean: finiteOrNull(p.mean),
    sparsity: finiteOrNull(p.sparsity),
    series: `${p.layer} b${p.b}`,
  }));
  const layers = [...new Set(input.points.map((p) => p.layer))];
  const samples = [...new Set(input.points.map((p) => p.b))].sort((a, b) => a - b);
  const ts = input.points.map((p) => p.t);
  let tMin = Infinity, tMax = -Infinity;
  for (const t of ts) {
    if (t < tMin) tMin = t;
    if (t > tMax) tMax = t;
  }
  const tDomain = [tMin, Math.max(tMax, tMin + 1)];
  const linePanel = (field: "mean" | "sparsity", x: number, title: string): VegaObject =>
    panel({
      x,
      y: 0,
      width: W,
      height: H,
      title,
      subtitle: samples.length > 1
        ? `one line per layer; dash pattern = batch sample (${
          samples.map((b) => `b${b}`).join(", ")
        })`
        : `one line per layer · batch sample ${samples[0]}`,
      data: [{
        name: `series_${field}`,
        source: "points",
        transform: [{ type: "collect", sort: { field: ["series", "t"] } }],
      }],
      scales: [
        { name: "x", type: "linear", domain: tDomain, range: "width", zero: false, nice: false },
        statisticYScale(field, { data: "points", zero: false }),
        { name: "color", type: "ordinal", domain: layers, range: { scheme: COLORS.categories } },
        {
          name: "dash",
          type: "ordinal",
          domain: samples,
          range: [[1, 0], [6, 3], [2, 2], [8, 3, 2, 3]],
        },
      ],
      axes: [
        { orient: "bottom", scale: "x", title: "frame (time step)", tickMinStep: 1, format: "d" },
        {
          orient: "left",
          scale: "y",
          grid: true,
          tickCount: 5,
          format: field === "sparsity" ? ".0%" : ".3~g",
          title: field === "sparsity" ? "fraction of zeros" : "mean activation",
        },
      ],
      legends: field === "sparsity"
        ? [
          {
            stroke: "color",
            title: "layer",
            symbolType: "stroke",
            symbolStrokeWidth: 2.5,
            labelLimit: 140,
          },
          // The dash pattern of each batch sample (only when there are several).
          ...(samples.length > 1
            ? [{
              strokeDash: "dash",
              title: "batch sample",
              symbolType: "stroke",
              symbolStrokeWidth: 2,
              symbolSize: 400,
              encode: {
                symbols: { update: { stroke: { value: COLORS.dark } } },
                labels: { update: { text: { signal: "'b' + datum.label" } } },
              },
            }]
            : []),
        ]
        : [],
      marks: [{
        type: "group",
        from: { facet: { name: `f_${field}`, data: `series_${field}`, groupby: ["series"] } },
        marks: [
          {
            type: "line",
            from: { data: `f_${field}` },
            encode: {
              enter: {
                x: { scale: "x", field: "t" },
                y: { scale: "y", field },
                stroke: { scale: "color", field: "layer" },
                strokeDash: { scale: "dash", field: "b" },
                strokeWidth: { value: 2 },
                defined: { signal: `datum.${field} !== null` },
              },
            },
          },
          {
            type: "symbol",
            from: { data: `f_${field}` },
            encode: {
              enter: {
                x: { scale: "x", field: "t" },
                y: { scale: "y", field },
                fill: { scale: "color", field: "layer" },
                size: { value: ts.length > 200 ? 0 : 22 },
              },
            },
          },
        ],
      }],
    });

  const marks: VegaObject[] = [
    linePanel("mean", 0, "Mean activation over time"),
    linePanel("sparsity", W + gx, "Sparsity over time"),
  ];
  // Heat maps: time x channel, 4 per row.
  // hgx leaves room for the colour bar and its tick labels (e.g. "-0.0123") before the next map.
  const hmW = 190, hmH = 170, hgx = 125, hgy = 95, perRow = 4;
  const top = H + 110;
  input.heatmaps.forEach((h, i) => {
    const T = h.frames.length, C = h.means[0]?.length ?? 0;
    if (!T || !C) return;
    // Image rows = channels, columns = frames.
    const map = new Float32Array(C * T);
    let lo = Infinity, hi = -Infinity;
    for (let t = 0; t < T; t++) {
      for (let c = 0; c < C; c++) {
        const v = h.means[t][c];
        map[c * T + t] = v;
        if (Number.isFinite(v)) {
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
      }
    }
    if (!(lo <= hi)) lo = hi = 0;
    const x = (i % perRow) * (hmW + hgx), y = top + Math.floor(i / perRow) * (hmH + hgy);
    marks.push(panel({
      x,
      y,
      width: hmW,
      height: hmH,
      title: titleText(h.layer),
      subtitle: `channel means · sample b${h.b}`,
      scales: [
        { name: "x", type: "band", domain: h.frames, range: "width", padding: 0 },
        // Rows are centred on whole channel numbers.
        {
          name: "y",
          type: "linear",
          domain: [-0.5, C - 0.5],
          range: [0, hmH],
          zero: false,
          nice: false,
        },
        {
          name: "color",
          type: "linear",
          domain: lo === hi ? [lo, lo + 1e-9] : [lo, hi],
          range: { scheme: "viridis" },
          nice: false,
          zero: false,
        },
      ],
      axes: [
        {
          orient: "bottom",
          scale: "x",
          title: "frame",
          values: T > 16 ? h.frames.filter((_, k) => k % Math.ceil(T / 16) === 0) : h.frames,
          labelFontSize: 9,
        },
        {
          orient: "left",
          scale: "y",
          title: "channel",
          values: channelTicks(C),
          format: "d",
          labelFontSize: 9,
        },
      ],
      legends: [{
        fill: "color",
        type: "gradient",
        gradientLength: hmH - 10,
        gradientThickness: 9,
        tickCount: 4,
        format: ".3~g",
        labelFontSize: 9,
        offset: 6,
      }],
      marks: [{
        type: "image",
        encode: {
          enter: {
            url: { value: heatmapDataUrl(map, [C, T]) },
            x: { value: 0 },
            y: { value: 0 },
            width: { value: hmW },
            height: { value: hmH },
            aspect: { value: false },
            smooth: { value: false },
          },
        },
      }],
    }));
  });
  const rowsHm = Math.ceil(input.heatmaps.length / perRow);
  return figure({
    title: "Activations over time",
    subtitle: `${input.source}` +
      (input.heatmaps.length
        ? " · heat maps: channel mean per saved frame (one colour scale per layer)"
        : ""),
    width: Math.max(2 * W + gx + 150, Math.min(input.heatmaps.length, perRow) * (hmW + hgx)),
    height: input.heatmaps.length ? top + rowsHm * (hmH + hgy) - hgy : H,
    data: [{ name: "points", values }],
    marks,
  });
}
