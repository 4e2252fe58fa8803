/**
 * A chart of the values of a non-spatial tensor (see `stats/tensor_kind.ts`): bars for a short
 * vector (logits of a few classes), a line for a long one (1000 logits), one line per value
 * column for a sequence (`(4420, 2)` scores). The largest entry of a vector is labelled.
 *
 * @module
 */

import { COLORS, figure, fmt, panel, type VegaObject } from "./charts_common.ts";
import type { VegaSpec } from "./vega_png.ts";
import type { TensorKind } from "../stats/tensor_kind.ts";

/** Options of {@linkcode valuesChartSpec}. */
export interface ValuesChartOptions {
  /** Figure title, e.g. `logits · batch 0 · frame 0`. */
  title: string;
  /** Subtitle line. */
  subtitle?: string;
  /** Most sequence columns drawn (default 6). */
  maxSeries?: number;
}

const BAR_LIMIT = 64;

/**
 * The Vega spec of the values chart (render it with `renderVegaPng`).
 *
 * @param values the frame's values in C order of its shape
 * @param kind from `classifyFrameShape`: a `vector` or a `sequence`
 *
 * @example Usage
 * ```ts
 * import { valuesChartSpec } from "./values_chart.ts";
 * const spec = valuesChartSpec(new Float32Array([0.1, 2, -1]), { kind: "vector", length: 3, width: 1 }, {
 *   title: "logits",
 * });
 * console.log(spec.width); // 560
 * ```
 */
export function valuesChartSpec(
  values: Float32Array,
  kind: TensorKind,
  options: ValuesChartOptions,
): VegaSpec {
  const width = 560, height = 220;
  const seq = kind.kind === "sequence";
  const cols = seq ? Math.min(kind.width, options.maxSeries ?? 6) : 1;
  const rows: VegaObject[] = [];
  for (let i = 0; i < kind.length; i++) {
    for (let c = 0; c < cols; c++) {
      const v = values[i * (seq ? kind.width : 1) + c];
      rows.push({ i, c: `value ${c}`, v: Number.isFinite(v) ? v : null });
    }
  }
  let top = -1;
  if (!seq) {
    for (let i = 0; i < kind.length; i++) {
      if (Number.isFinite(values[i]) && (top < 0 || values[i] > values[top])) top = i;
    }
  }
  const bars = !seq && kind.length <= BAR_LIMIT;
  const x = bars
    ? { name: "x", type: "band", domain: { data: "v", field: "i" }, range: "width", padding: 0.15 }
    : { name: "x", type: "linear", domain: [0, Math.max(1, kind.length - 1)], range: "width" };
  const y = {
    name: "y",
    type: "linear",
    domain: { data: "v", field: "v" },
    range: "height",
    nice: true,
    zero: true,
  };
  const color = {
    name: "color",
    type: "ordinal",
    domain: { data: "v", field: "c" },
    range: { scheme: COLORS.categories },
  };
  const marks: VegaObject[] = bars
    ? [{
      type: "rect",
      from: { data: "v" },
      encode: {
        enter: {
          x: { scale: "x", field: "i" },
          width: { scale: "x", band: 1 },
          y: { scale: "y", field: "v" },
          y2: { scale: "y", value: 0 },
          fill: { value: COLORS.primary },
        },
      },
    }]
    : [{
      type: "group",
      from: { facet: { name: "series", data: "v", groupby: "c" } },
      marks: [{
        type: "line",
        from: { data: "series" },
        encode: {
          enter: {
            x: { scale: "x", field: "i" },
            y: { scale: "y", field: "v" },
            stroke: { scale: "color", field: "c" },
            strokeWidth: { value: 1.2 },
            defined: { signal: "datum.v !== null" },
          },
        },
      }],
    }];
  if (top >= 0) {
    marks.push({
      type: "text",
      encode: {
        enter: {
          x: bars ? { scale: "x", value: top, band: 0.5 } : { scale: "x", value: top },
          y: { scale: "y", value: values[top] },
          dy: { value: -4 },
          align: { value: "center" },
          baseline: { value: "bottom" },
          text: { value: `max ${fmt(values[top])} at ${top}` },
          fontSize: { value: 11 },
          fill: { value: COLORS.dark },
        },
      },
    });
  }
  const what = seq
    ? `${kind.length} steps × ${kind.width} values` +
      (kind.width > cols ? ` (first ${cols} drawn)` : "")
    : `${kind.length} values`;
  return figure({
    title: options.title,
    subtitle: [options.subtitle, `${kind.kind}: ${what}`].filter((s): s is string => !!s),
    width,
    height,
    data: [{ name: "v", values: rows }],
    marks: [panel({
      x: 0,
      y: 0,
      width,
      height,
      scales: [x, y, color],
      axes: [
        {
          orient: "bottom",
          scale: "x",
          title: seq ? "step" : "index",
          ...(bars && kind.length > 20 ? { labelOverlap: true, labelAngle: -90 } : {}),
        },
        { orient: "left", scale: "y", title: "value", grid: true },
      ],
      legends: seq && cols > 1 ? [{ stroke: "color", title: "column" }] : [],
      marks,
    })],
  });
}
