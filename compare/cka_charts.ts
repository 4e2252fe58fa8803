/**
 * Pictures of the CKA matrix (heat map, A layers down, B layers across) and of a series' drift
 * (CKA and rel L2 per layer, one line per run), as Vega specs for `render/vega_png.ts`.
 *
 * @module
 */

import type { CkaMatrix, SeriesDrift } from "./cka_matrix.ts";
import { vegaConfig, type VegaSpec } from "../render/vega_png.ts";

/**
 * The heat map of a CKA matrix: viridis over [0, 1], the value written in each cell when the
 * matrix is small enough to read.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { ckaMatrixSpec } from "./cka_charts.ts";
 * const spec = ckaMatrixSpec({
 *   a: "a.npy", b: "b.npy", examples: 4, minibatches: 1, rows: ["x"], cols: ["y"],
 *   values: [[0.5]], notes: [],
 * }, { aName: "A", bName: "B" });
 * assert.equal(spec.title && typeof spec.title === "object" && "text" in spec.title, true);
 * ```
 */
export function ckaMatrixSpec(
  m: CkaMatrix,
  names: { aName: string; bName: string },
): VegaSpec {
  const cells: { row: string; col: string; value: number | null; label: string }[] = [];
  m.rows.forEach((r, i) =>
    m.cols.forEach((c, j) => {
      const v = m.values[i][j];
      cells.push({ row: r, col: c, value: v, label: v === null ? "n/a" : v.toFixed(2) });
    })
  );
  const cell = Math.max(18, Math.min(56, Math.floor(560 / Math.max(m.rows.length, m.cols.length))));
  const labels = cell >= 30;
  return {
    $schema: "https://vega.github.io/schema/vega/v5.json",
    config: vegaConfig(),
    padding: 10,
    width: cell * m.cols.length,
    height: cell * m.rows.length,
    title: {
      text: `linear CKA: ${names.aName} (rows) vs ${names.bName} (columns)`,
      subtitle:
        `${m.examples} examples (saved frames), unbiased HSIC, ${m.minibatches} minibatch(es)`,
    },
    data: [{ name: "cells", values: cells }],
    scales: [
      { name: "x", type: "band", domain: m.cols, range: "width" },
      { name: "y", type: "band", domain: m.rows, range: "height" },
      { name: "color", type: "linear", domain: [0, 1], range: { scheme: "viridis" }, zero: false },
    ],
    axes: [
      {
        orient: "bottom",
        scale: "x",
        title: `${names.bName} layer`,
        labelAngle: -40,
        labelAlign: "right",
      },
      { orient: "left", scale: "y", title: `${names.aName} layer` },
    ],
    legends: [{ fill: "color", title: "CKA", type: "gradient", gradientLength: 160 }],
    marks: [
      {
        type: "rect",
        from: { data: "cells" },
        encode: {
          enter: {
            x: { scale: "x", field: "col" },
            width: { scale: "x", band: 1 },
            y: { scale: "y", field: "row" },
            height: { scale: "y", band: 1 },
            fill: [
              { test: "datum.value === null", value: "#dddddd" },
              { scale: "color", field: "value" },
            ],
            stroke: { value: "white" },
            strokeWidth: { value: 0.5 },
          },
        },
      },
      ...(labels
        ? [{
          type: "text",
          from: { data: "cells" },
          encode: {
            enter: {
              x: { scale: "x", field: "col", band: 0.5 },
              y: { scale: "y", field: "row", band: 0.5 },
              align: { value: "center" },
              baseline: { value: "middle" },
              fontSize: { value: 10 },
              text: { field: "label" },
              fill: [{ test: "datum.value !== null && datum.value > 0.6", value: "black" }, {
                value: "white",
              }],
            },
          },
        }]
        : []),
    ],
  } as unknown as VegaSpec;
}

/**
 * The drift chart of a series: top CKA, bottom rel L2 (log), layers across in network order; one
 * colour per run, solid = to the previous run, dashed = to the last run.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { seriesSpec } from "./cka_charts.ts";
 * const spec = seriesSpec({ runs: ["a", "b"], examples: 4, layer_order: ["x"], rows: [], notes: [] },
 *   { names: ["a", "b"] });
 * assert.equal(spec.width, 420);
 * ```
 */
export function seriesSpec(s: SeriesDrift, options: { names: readonly string[] }): VegaSpec {
  const points: {
    series: string;
    run: string;
    ref: string;
    layer: string;
    metric: string;
    value: number;
  }[] = [];
  let minRel = Infinity, maxRel = 0, minCka = 0;
  for (const r of s.rows) {
    for (const v of [r.rel_l2_prev, r.rel_l2_last]) {
      if (v !== null && v > 0) (minRel = Math.min(minRel, v), maxRel = Math.max(maxRel, v));
    }
  }
  if (!Number.isFinite(minRel)) (minRel = 1e-6, maxRel = 1);
  const lo = Math.pow(10, Math.floor(Math.log10(minRel))),
    hi = Math.pow(10, Math.ceil(Math.log10(maxRel * 1.01)));
  const last = s.runs.length - 1;
  for (const r of s.rows) {
    const run = options.names[r.run] ?? String(r.run);
    const add = (ref: string, metric: string, v: number | null) => {
      if (v === null) return;
      if (metric === "cka") minCka = Math.min(minCka, v);
      points.push({
        series: `${run} ${ref}`,
        run,
        ref,
        layer: r.layer,
        metric,
        value: metric === "rel_l2" ? Math.max(v, lo) : v,
      });
    };
    if (r.run > 0) {
      add("vs previous", "cka", r.cka_prev);
      add("vs previous", "rel_l2", r.rel_l2_prev);
    }
    if (r.run < last) {
      add("vs last", "cka", r.cka_last);
      add("vs last", "rel_l2", r.rel_l2_last);
    }
  }
  const width = Math.max(420, s.layer_order.length * 50);
  const h = 200, gap = 80;
  const xAxis = {
    orient: "bottom",
    scale: "x",
    labelAngle: -35,
    labelAlign: "right",
    title: "layer (network order)",
  };
  const lines = (metric: string, y: string) => ({
    type: "group",
    from: {
      facet: { name: `${metric}_f`, data: "points", groupby: "series" },
    },
    marks: [{
      type: "line",
      from: { data: `${metric}_f` },
      transform: [],
      encode: {
        enter: {
          x: { scale: "x", field: "layer" },
          y: { scale: y, field: "value" },
          stroke: { scale: "color", field: "run" },
          strokeDash: { scale: "dash", field: "ref" },
          strokeWidth: { value: 2 },
        },
      },
    }, {
      type: "symbol",
      from: { data: `${metric}_f` },
      encode: {
        enter: {
          x: { scale: "x", field: "layer" },
          y: { scale: y, field: "value" },
          fill: { scale: "color", field: "run" },
          size: { value: 25 },
        },
      },
    }],
  });
  const panel = (
    metric: string,
    y: number,
    scale: Record<string, unknown>,
    axis: Record<string, unknown>,
    withX: boolean,
  ) => ({
    type: "group",
    encode: { enter: { y: { value: y }, width: { signal: "width" }, height: { value: h } } },
    data: [{
      name: "points",
      source: "all",
      transform: [{ type: "filter", expr: `datum.metric === '${metric}'` }],
    }],
    scales: [scale],
    axes: [withX ? xAxis : { ...xAxis, labels: false, title: null }, axis],
    marks: [lines(metric, String(scale.name))],
  });
  return {
    $schema: "https://vega.github.io/schema/vega/v5.json",
    config: vegaConfig(),
    padding: 10,
    width,
    height: 2 * h + gap,
    title: {
      text: `drift over ${s.runs.length} runs`,
      subtitle:
        `${s.examples} examples per layer; solid: to the previous run, dashed: to the last run`,
    },
    data: [{ name: "all", values: points }],
    scales: [
      { name: "x", type: "point", domain: s.layer_order, range: "width", padding: 0.5 },
      { name: "color", type: "ordinal", domain: options.names.slice(), range: "category" },
      {
        name: "dash",
        type: "ordinal",
        domain: ["vs previous", "vs last"],
        range: [[1, 0], [6, 4]],
      },
    ],
    legends: [
      { stroke: "color", title: "run", orient: "right" },
      { strokeDash: "dash", title: "reference", orient: "right", symbolType: "stroke" },
    ],
    marks: [
      panel(
        "cka",
        0,
        {
          name: "yc",
          type: "linear",
          domain: [minCka < 0 ? -1 : 0, 1],
          range: [h, 0],
          nice: false,
        },
        { orient: "left", scale: "yc", title: "linear CKA", grid: true, tickCount: 5 },
        false,
      ),
      panel(
        "rel_l2",
        h + gap,
        { name: "yr", type: "log", domain: [lo, hi], range: [h, 0], nice: false },
        { orient: "left", scale: "yr", title: "rel L2", grid: true, format: "~e" },
        true,
      ),
    ],
  } as unknown as VegaSpec;
}
