/**
 * Vega specs of the dataset report (`analyze` on an `inspect --all_clips` run): a layer's value
 * distribution over the whole dataset from its fixed-edge half-octave histogram
 * (`<layer>_dataset_distribution.png`), and the clips' robust z-scores per layer
 * (`clip_outliers.png`). The per-channel figure is `charts_layer.ts`'s `channelStatsSpec`.
 *
 * @module
 */

import { COLORS, figure, fmt, panel, type VegaObject } from "../render/charts_common.ts";
import type { VegaSpec } from "../render/vega_png.ts";

/** One bar of the dataset histogram. */
export interface DatasetHistogramRow {
  /** Index of the bin in the stored `counts`. */
  bin: number;
  /** Lower edge (a value below it is in an earlier bin); `-Infinity` for the first bin. */
  lo: number;
  /** Upper edge; `Infinity` for the last bin. */
  hi: number;
  /** Values in the bin. */
  count: number;
  /** Sign of the bin's values: -1, 0 (the exact-zero bin) or 1. */
  sign: -1 | 0 | 1;
  /** Axis label, e.g. `-2^1.5`, `0`, `2^-3`. */
  label: string;
  /** Fraction of all values in this bin or an earlier one. */
  cumulative: number;
}

const powLabel = (e: number): string => `2^${e}`;

/**
 * The stored histogram (`edges`: positive half-octave edges, mirrored; `counts` from the most
 * negative bin through the zero bin to the most positive) as signed bars, from the first to the
 * last non-empty bin. Their counts add up to every finite value of the layer.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { datasetHistogramRows } from "./charts_dataset.ts";
 * // edges [1, 2]: bins (-inf,-2] (-2,-1] (-1,0) {0} (0,1) [1,2) [2,inf)
 * const rows = datasetHistogramRows({ edges: [1, 2], counts: [0, 1, 0, 5, 0, 2, 0] });
 * assert.deepEqual(rows.map((r) => [r.label, r.count]), [["-2^0", 1], ["-0", 0], ["0", 5], ["0+", 0], ["2^0", 2]]);
 * assert.equal(rows.at(-1)!.cumulative, 1);
 * ```
 */
export function datasetHistogramRows(
  h: { edges: readonly number[]; counts: readonly number[] },
): DatasetHistogramRow[] {
  const E = h.edges.length, side = E + 1;
  const all: DatasetHistogramRow[] = [];
  const total = h.counts.reduce((a, b) => a + b, 0);
  for (let i = 0; i < h.counts.length; i++) {
    let lo: number, hi: number, sign: -1 | 0 | 1, label: string;
    if (i === side) {
      lo = 0, hi = 0, sign = 0, label = "0";
    } else {
      const k = i > side ? i - side - 1 : side - 1 - i; // 0: |x| below edges[0]
      const aLo = k === 0 ? 0 : h.edges[k - 1], aHi = k === side - 1 ? Infinity : h.edges[k];
      const e = k === 0 ? null : Math.log2(aLo);
      if (i > side) {
        lo = aLo, hi = aHi, sign = 1, label = e === null ? "0+" : powLabel(e);
      } else {
        lo = -aHi, hi = -aLo, sign = -1, label = e === null ? "-0" : `-${powLabel(e)}`;
      }
    }
    all.push({ bin: i, lo, hi, count: h.counts[i], sign, label, cumulative: 0 });
  }
  const nz = all.filter((r) => r.count > 0);
  const first = nz.length ? nz[0].bin : side, last = nz.length ? nz[nz.length - 1].bin : side;
  const rows = all.slice(first, last + 1);
  let run = all.slice(0, first).reduce((a, r) => a + r.count, 0);
  for (const r of rows) {
    run += r.count;
    r.cumulative = total > 0 ? run / total : 0;
  }
  return rows;
}

/** Options of {@linkcode datasetDistributionSpec}. */
export interface DatasetDistributionOptions {
  /** Logarithmic counts. */
  logCounts?: boolean;
  /** Subtitle: what the histogram is over (e.g. `64 clips, 128 frames`). */
  over?: string;
}

/**
 * A layer's dataset histogram (signed half-octave bins as stored) over its cumulative
 * fraction. The bars' data set (`bins`) is {@linkcode datasetHistogramRows}.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { datasetDistributionSpec } from "./charts_dataset.ts";
 * const spec = datasetDistributionSpec("relu", { edges: [1, 2], counts: [0, 0, 0, 5, 0, 2, 1] });
 * const bins = spec.data![0] as unknown as { values: { count: number }[] };
 * assert.equal(bins.values.reduce((a, r) => a + r.count, 0), 8);
 * ```
 */
export function datasetDistributionSpec(
  name: string,
  h: { edges: readonly number[]; counts: readonly number[] },
  options: DatasetDistributionOptions = {},
): VegaSpec {
  const rows = datasetHistogramRows(h);
  const total = h.counts.reduce((a, b) => a + b, 0);
  const order = rows.map((r) => r.label);
  const W = Math.min(1100, Math.max(560, rows.length * 18)), H = 220, H2 = 110, gap = 70;
  const step = Math.ceil(rows.length / 40);
  const labels = order.filter((_, i) => i % step === 0);
  const x = { name: "x", type: "band", domain: order, range: "width", paddingInner: 0.1 };
  const xAxis = (title?: string): VegaObject => ({
    orient: "bottom",
    scale: "x",
    values: labels,
    labelAngle: -90,
    labelAlign: "right",
    labelBaseline: "middle",
    labelFontSize: 9,
    ...(title ? { title } : {}),
  });
  const zeros = h.counts[(h.counts.length - 1) / 2] ?? 0;
  const neg = rows.filter((r) => r.sign < 0).reduce((a, r) => a + r.count, 0);
  return figure({
    title: `${name} — value distribution over the dataset`,
    subtitle: [
      `${total.toLocaleString("en-US")} values${options.over ? ` · ${options.over}` : ""} · ` +
      `${fmt(total ? (100 * zeros) / total : 0)} % exact zeros · ${
        fmt(total ? (100 * neg) / total : 0)
      } % negative`,
      "fixed half-octave bins of |x| (2^k/2 edges), mirrored for negative values; one bin for 0",
    ],
    width: W,
    height: H + gap + H2,
    data: [{ name: "bins", values: rows as unknown as VegaObject[] }],
    marks: [
      panel({
        x: 0,
        y: 0,
        width: W,
        height: H,
        title: "histogram",
        subtitle: options.logCounts ? "values per bin (log scale)" : "values per bin",
        scales: [
          x,
          {
            name: "y",
            type: options.logCounts ? "symlog" : "linear",
            domain: { data: "bins", field: "count" },
            range: "height",
            nice: true,
            zero: true,
          },
        ],
        axes: [xAxis(), { orient: "left", scale: "y", grid: true, tickCount: 5, format: "~s" }],
        marks: [{
          type: "rect",
          from: { data: "bins" },
          encode: {
            enter: {
              x: { scale: "x", field: "label" },
              width: { scale: "x", band: 1 },
              y: { scale: "y", field: "count" },
              y2: { scale: "y", value: 0 },
              fill: [
                { test: "datum.sign < 0", value: COLORS.accent },
                { test: "datum.sign == 0", value: COLORS.dark },
                { value: COLORS.primary },
              ],
            },
          },
        }],
      }),
      panel({
        x: 0,
        y: H + gap,
        width: W,
        height: H2,
        title: "cumulative fraction",
        scales: [x, { name: "y", type: "linear", domain: [0, 1], range: "height" }],
        axes: [xAxis("value (bin lower edge; red: negative, dark: exact 0)"), {
          orient: "left",
          scale: "y",
          grid: true,
          tickCount: 3,
          format: ".0%",
        }],
        marks: [{
          type: "line",
          from: { data: "bins" },
          encode: {
            enter: {
              x: { scale: "x", field: "label", band: 0.5 },
              y: { scale: "y", field: "cumulative" },
              stroke: { value: COLORS.primary },
              strokeWidth: { value: 2 },
            },
          },
        }],
      }),
    ],
  });
}

/** One clip's z in one layer, for {@linkcode clipOutliersSpec}. */
export interface ClipZPoint {
  /** Layer. */
  layer: string;
  /** Clip id. */
  clip: string;
  /** Robust z. */
  z: number;
  /** `|z|` above the threshold. */
  flagged: boolean;
}

/**
 * The clips' robust z-scores per layer as a strip plot, flagged clips in red, the threshold as
 * dashed lines.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { clipOutliersSpec } from "./charts_dataset.ts";
 * const spec = clipOutliersSpec([{ layer: "relu", clip: "a", z: 5, flagged: true }], {
 *   layers: ["relu"],
 *   threshold: 3.5,
 * });
 * assert.equal(spec.width, 560);
 * ```
 */
export function clipOutliersSpec(
  points: readonly ClipZPoint[],
  options: { layers: readonly string[]; threshold: number; metric?: string },
): VegaSpec {
  const W = Math.max(560, options.layers.length * 90), H = 300;
  const zs = points.map((p) => Math.abs(p.z)).filter(Number.isFinite);
  const lim = Math.max(options.threshold * 1.5, ...zs) * 1.05;
  const flagged = points.filter((p) => p.flagged);
  return figure({
    title: "clip outliers — robust z of each clip's layer " + (options.metric ?? "mean"),
    subtitle: [
      `z = (x - median) / (1.4826 · MAD) over the clips · |z| > ${options.threshold} flagged (red)`,
      `${flagged.length} flagged (clip, layer) pair${flagged.length === 1 ? "" : "s"}`,
    ],
    width: W,
    height: H,
    data: [{ name: "z", values: points as unknown as VegaObject[] }],
    marks: [panel({
      x: 0,
      y: 0,
      width: W,
      height: H,
      scales: [
        { name: "x", type: "point", domain: [...options.layers], range: "width", padding: 0.5 },
        { name: "y", type: "linear", domain: [-lim, lim], range: "height" },
      ],
      axes: [
        { orient: "bottom", scale: "x", title: "layer" },
        { orient: "left", scale: "y", grid: true, title: "robust z" },
      ],
      marks: [
        ...[-options.threshold, options.threshold].map((t) => ({
          type: "rule",
          encode: {
            enter: {
              x: { value: 0 },
              x2: { value: W },
              y: { scale: "y", value: t },
              stroke: { value: COLORS.dead },
              strokeDash: { value: [5, 3] },
            },
          },
        })),
        {
          type: "symbol",
          from: { data: "z" },
          encode: {
            enter: {
              x: { scale: "x", field: "layer" },
              y: { scale: "y", field: "z" },
              size: { value: 36 },
              fill: [{ test: "datum.flagged", value: COLORS.dead }, { value: COLORS.primary }],
              opacity: { value: 0.7 },
            },
          },
        },
        {
          type: "text",
          from: { data: "z" },
          encode: {
            enter: {
              x: { scale: "x", field: "layer", offset: 7 },
              y: { scale: "y", field: "z" },
              text: { signal: "datum.flagged ? datum.clip : ''" },
              fontSize: { value: 10 },
              baseline: { value: "middle" },
              fill: { value: COLORS.dead },
            },
          },
        },
      ],
    })],
  });
}
