/**
 * Shared pieces of the analysis charts: colours, number formatting, and the "panel" (a Vega group
 * mark with its own scales, axes and title) that multi-panel figures are built from.
 *
 * @module
 */

import { vegaConfig, type VegaSpec } from "./vega_png.ts";
import { bandPercent } from "../stats/health.ts";

/** A JSON-like Vega fragment. */
export type VegaObject = Record<string, unknown>;

/** The colours every analysis chart uses. */
export const COLORS = {
  /** Bars, lines: the main series. */
  primary: "#3b6fb6",
  /** Means and highlights. */
  accent: "#e4572e",
  /** Medians, text. */
  dark: "#2d3142",
  /** Healthy ranges (shaded). */
  healthy: "#2a9d8f",
  /** Dead channels, errors. */
  dead: "#d62728",
  /** Secondary text. */
  muted: "#6b7280",
  /** Category palette for layers. */
  categories: "tableau10",
} as const;

/**
 * Compact number for labels: 3 significant digits, exponent for tiny or huge values.
 *
 * @example Usage
 * ```ts
 * import { fmt } from "./charts_common.ts";
 * console.log(fmt(0.012345), fmt(123456), fmt(NaN)); // 0.0123 1.23e5 n/a
 * ```
 */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "n/a" : v > 0 ? "inf" : "-inf";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2).replace("e+", "e");
  return String(Number(v.toPrecision(3)));
}

/**
 * Vega expression of an axis label that reads naturally: plain decimals (`0.5`, `0.25`, `12`) and
 * scientific notation below 0.01 or from 10 000 on (`1e-3`, `2.5e4`), never SI prefixes (`500m`).
 */
export const NUMBER_LABEL_EXPR: string =
  "datum.value != 0 && (abs(datum.value) < 0.01 || abs(datum.value) >= 1e4) " +
  "? replace(format(datum.value, '.2~e'), '+', '') : format(datum.value, '~g')";

/**
 * The `encode` of a Vega axis whose labels use {@linkcode NUMBER_LABEL_EXPR}.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { numberAxisEncode } from "./charts_common.ts";
 * const enc = numberAxisEncode() as { labels: { update: { text: { signal: string } } } };
 * assert.ok(enc.labels.update.text.signal.includes("'~g'"));
 * ```
 */
export function numberAxisEncode(): VegaObject {
  return { labels: { update: { text: { signal: NUMBER_LABEL_EXPR } } } };
}

/**
 * A sparsity as a percentage with one decimal, more where one decimal would read as inside the
 * healthy band while the value is outside it (the health messages' rule: 0.29984 is "29.98 %").
 *
 * @example Usage
 * ```ts
 * import { pct } from "./charts_common.ts";
 * console.log(pct(0.4821)); // "48.2 %"
 * ```
 */
export function pct(v: number): string {
  return bandPercent(v);
}

/** Position and content of one panel. */
export interface PanelOptions {
  /** Left edge in the figure. */
  x: number;
  /** Top edge in the figure. */
  y: number;
  /** Plot width. */
  width: number;
  /** Plot height. */
  height: number;
  /** Panel title. */
  title?: string;
  /** Panel subtitle (small grey line under the title). */
  subtitle?: string;
  /** Panel-local data sets. */
  data?: VegaObject[];
  /** Panel scales. */
  scales?: VegaObject[];
  /** Panel axes. */
  axes?: VegaObject[];
  /** Panel legends. */
  legends?: VegaObject[];
  /** Panel marks. */
  marks?: VegaObject[];
}

/**
 * A Vega group mark that is one panel of a figure.
 *
 * @example Usage
 * ```ts
 * import { panel } from "./charts_common.ts";
 * const p = panel({ x: 0, y: 0, width: 100, height: 80, title: "mean" });
 * console.log(p.type); // "group"
 * ```
 */
export function panel(o: PanelOptions): VegaObject {
  const g: VegaObject = {
    type: "group",
    encode: {
      enter: {
        x: { value: o.x },
        y: { value: o.y },
        width: { value: o.width },
        height: { value: o.height },
      },
    },
  };
  if (o.title) {
    g.title = {
      text: o.title,
      ...(o.subtitle ? { subtitle: o.subtitle } : {}),
      anchor: "start",
      fontSize: 13.5,
      fontWeight: "bold",
      subtitleFontSize: 11,
      subtitleColor: COLORS.muted,
      offset: 6,
    };
  }
  if (o.data) g.data = o.data;
  // Inside a group, "width"/"height" ranges would refer to the whole figure: use the panel's.
  if (o.scales) {
    g.scales = o.scales.map((sc) =>
      sc.range === "width"
        ? { ...sc, range: [0, o.width] }
        : sc.range === "height"
        ? { ...sc, range: [o.height, 0] }
        : sc
    );
  }
  // Grid lines of a vertical axis would span the whole figure; bound them by the x scale.
  if (o.axes) {
    const hasX = (o.scales ?? []).some((sc) => sc.name === "x");
    g.axes = o.axes.map((ax) =>
      ax.grid && (ax.orient === "left" || ax.orient === "right") && hasX && !ax.gridScale
        ? { ...ax, gridScale: "x" }
        : ax
    );
  }
  if (o.legends) g.legends = o.legends;
  if (o.marks) g.marks = o.marks;
  return g;
}

/** Options of {@linkcode figure}. */
export interface FigureOptions {
  /** Figure title. */
  title: string;
  /** Subtitle line(s). */
  subtitle?: string | string[];
  /** Width of the plotting area (panels are placed inside it). */
  width: number;
  /** Height of the plotting area. */
  height: number;
  /** Top-level data. */
  data?: VegaObject[];
  /** The panels and other marks. */
  marks: VegaObject[];
}

/**
 * A whole figure: title, subtitle, shared config, padding, and the panels.
 *
 * @example Usage
 * ```ts
 * import { figure, panel } from "./charts_common.ts";
 * const spec = figure({ title: "t", width: 200, height: 100, marks: [panel({ x: 0, y: 0, width: 200, height: 100 })] });
 * console.log(spec.width); // 200
 * ```
 */
export function figure(o: FigureOptions): VegaSpec {
  return {
    $schema: "https://vega.github.io/schema/vega/v6.json",
    width: o.width,
    height: o.height,
    padding: 16,
    autosize: { type: "pad" },
    config: vegaConfig(),
    title: {
      text: o.title,
      ...(o.subtitle ? { subtitle: o.subtitle } : {}),
      anchor: "start",
      frame: "group",
      fontSize: 17,
      subtitleFontSize: 12.5,
      subtitleColor: COLORS.muted,
      subtitlePadding: 4,
      offset: 28,
    },
    data: o.data ?? [],
    marks: o.marks,
  } as unknown as VegaSpec;
}

/**
 * The `y` scale of a panel that plots one statistic: `sparsity` on a fixed 0..1, any other field
 * nice over its values in data set `data` (from zero when `zero`).
 *
 * @example Usage
 * ```ts
 * import { statisticYScale } from "./charts_common.ts";
 * console.log(statisticYScale("sparsity", { data: "ch", zero: true }).domain); // [0, 1]
 * ```
 */
export function statisticYScale(
  field: string,
  options: { data: string; zero: boolean },
): VegaObject {
  return field === "sparsity" ? { name: "y", type: "linear", domain: [0, 1], range: "height" } : {
    name: "y",
    type: "linear",
    domain: { data: options.data, field },
    range: "height",
    nice: true,
    zero: options.zero,
  };
}

/** Replace non-finite numbers by `null` (for JSON and Vega data). */
export function finiteOrNull(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

/**
 * Vega encoding channels that are all constants: every entry `k: v` becomes `k: { value: v }`
 * (in the same order).
 *
 * @example Usage
 * ```ts
 * import { constantChannels } from "./charts_common.ts";
 * console.log(constantChannels({ x: 4, fill: "red" })); // { x: { value: 4 }, fill: { value: "red" } }
 * ```
 */
export function constantChannels(values: VegaObject): VegaObject {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { value: v }]));
}

/**
 * A mark of `type` whose `enter` encoding sets every channel to a constant.
 *
 * @example Usage
 * ```ts
 * import { fixedMark } from "./charts_common.ts";
 * const m = fixedMark("text", { x: 0, y: 12, text: "hello", fontSize: 10 });
 * console.log(m.type); // "text"
 * ```
 */
export function fixedMark(type: string, values: VegaObject): VegaObject {
  return { type, encode: { enter: constantChannels(values) } };
}

/** Position and size of a mark, in pixels. */
export interface MarkBox {
  /** Left edge. */
  x: number;
  /** Top edge. */
  y: number;
  /** Width. */
  width: number;
  /** Height. */
  height: number;
}

/**
 * An image mark (a data URL, for instance a heat map) stretched over `box`; `smooth: false` keeps
 * map pixels as crisp blocks.
 *
 * @example Usage
 * ```ts
 * import { imageMark } from "./charts_common.ts";
 * const m = imageMark("data:image/png;base64,...", { x: 0, y: 0, width: 64, height: 32 }, false);
 * console.log(m.type); // "image"
 * ```
 */
export function imageMark(url: string, box: MarkBox, smooth: boolean): VegaObject {
  const { x, y, width, height } = box;
  return fixedMark("image", { url, x, y, width, height, aspect: false, smooth });
}

/**
 * A thin, unfilled frame (rect mark) around `box`, drawn in `stroke`.
 *
 * @example Usage
 * ```ts
 * import { frameRect } from "./charts_common.ts";
 * const m = frameRect({ x: 0, y: 0, width: 64, height: 32 }, "#888");
 * console.log(m.type); // "rect"
 * ```
 */
export function frameRect(box: MarkBox, stroke: string): VegaObject {
  const { x, y, width, height } = box;
  return fixedMark("rect", { x, y, width, height, stroke, strokeWidth: 0.5, fill: "transparent" });
}

/** A text mark at a fixed position. */
export function textMark(
  text: string,
  at: { x: number; y: number },
  style: VegaObject = {},
): VegaObject {
  return fixedMark("text", {
    x: at.x,
    y: at.y,
    text,
    fontSize: 10.5,
    fill: COLORS.muted,
    ...style,
  });
}
