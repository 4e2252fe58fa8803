/**
 * The pictures of `compare`: Vega specs for the per-layer maps (A, B, |A-B|), the per-layer
 * metric bars and the per-frame metric lines, and their rendering to PNG bytes.
 *
 * @module
 */

import type { Comparison, LayerComparison, LayerMaps } from "./_types.ts";
import { layerFileStem } from "../core/file_stem.ts";
import { finiteRange } from "../render/colormap.ts";
import { fixedMark, frameRect, imageMark, type VegaObject } from "../render/charts_common.ts";
import {
  colorbarDataUrl,
  heatmapDataUrl,
  renderVegaPng,
  vegaConfig,
  type VegaSpec,
} from "../render/vega_png.ts";

const COLOR_OK = "#4c78a8";
const COLOR_OVER = "#f58518";
const COLOR_FIRST = "#d62728";
const METRIC_COLORS = ["#4c78a8", "#72b7b2", "#b279a2"];

/**
 * Format a metric for a label: `n/a` for null, 4 significant digits, exponent form for small or
 * large magnitudes.
 *
 * @example Usage
 * ```ts
 * import { formatMetric } from "./compare_charts.ts";
 * console.log(formatMetric(0.000123), formatMetric(0.98765), formatMetric(null)); // 1.23e-4 0.9877 n/a
 * ```
 */
export function formatMetric(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "n/a";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e5) return v.toExponential(2).replace("e-0", "e-").replace("e+0", "e+");
  return String(Number(v.toPrecision(4)));
}

/** Powers of ten from `lo` to `hi` (every other decade when the range is wide). */
function decades(lo: number, hi: number): number[] {
  const a = Math.round(Math.log10(lo)), b = Math.round(Math.log10(hi));
  const step = b - a > 8 ? 2 : 1;
  const out: number[] = [];
  for (let e = a; e <= b; e += step) out.push(Math.pow(10, e));
  return out;
}

/** The left axis of a log scale, with a tick at every (other) decade from `lo` to `hi`. */
function logAxis(scale: string, title: string, lo: number, hi: number): VegaObject {
  return { orient: "left", scale, title, grid: true, format: "~e", values: decades(lo, hi) };
}

/** The dashed tolerance line across a panel (data set `tol`), on the y scale `yScale`. */
function toleranceRule(yScale: string, strokeWidth?: number): VegaObject {
  return {
    type: "rule",
    from: { data: "tol" },
    encode: {
      enter: {
        x: { value: 0 },
        x2: { signal: "width" },
        y: { scale: yScale, field: "tol" },
        stroke: { value: COLOR_FIRST },
        strokeDash: { value: [6, 4] },
        ...(strokeWidth === undefined ? {} : { strokeWidth: { value: strokeWidth } }),
      },
    },
  };
}

/** The faint band behind the first divergent layer (data set `first`), `height` pixels tall. */
function firstLayerBand(height: number): VegaObject {
  return {
    type: "rect",
    from: { data: "first" },
    encode: {
      enter: {
        x: { scale: "x", field: "layer", offset: -8 },
        width: { scale: "x", band: 1, offset: 16 },
        y: { value: 0 },
        y2: { value: height },
        fill: { value: COLOR_FIRST },
        fillOpacity: { value: 0.08 },
      },
    },
  };
}

/** A full-width group mark (one panel of a figure) at `y`, `height` pixels tall. */
function panelGroup(y: number, height: number): VegaObject {
  return {
    type: "group",
    encode: {
      enter: {
        x: { value: 0 },
        y: { value: y },
        width: { signal: "width" },
        height: { value: height },
      },
    },
  };
}

function shapeText(s: readonly number[]): string {
  return `(${s.join(", ")})`;
}

function frameLabel(cmp: Comparison, i: number): string {
  const p = cmp.frames[i];
  if (
    cmp.pairing === "sweep" || (p.a.batch_idx === p.b.batch_idx && p.a.timestep === p.b.timestep)
  ) {
    return `b${p.b.batch_idx} t${p.b.timestep}`;
  }
  return `b${p.a.batch_idx} t${p.a.timestep} / b${p.b.batch_idx} t${p.b.timestep}`;
}

function statusOf(cmp: Comparison, layer: string): { text: string; color: string } {
  const r = cmp.layers[layer];
  if (cmp.first_divergent === layer) {
    return {
      text: `first divergent layer (rel_l2 > ${formatMetric(cmp.tolerance)})`,
      color: COLOR_FIRST,
    };
  }
  if (r.exceeds_tolerance === true) {
    return { text: `diverges (rel_l2 > ${formatMetric(cmp.tolerance)})`, color: COLOR_OVER };
  }
  if (r.exceeds_tolerance === false) {
    return {
      text: `within tolerance (rel_l2 <= ${formatMetric(cmp.tolerance)})`,
      color: "#2e7d32",
    };
  }
  return {
    text: r.comparable === "none" ? "not comparable" : "pointwise metrics n/a",
    color: "#666",
  };
}

interface Panel {
  label: string;
  url: string;
  height: number;
  width: number;
  min: number;
  max: number;
  colormap: "viridis" | "magma";
  caption: string;
  overlay?: string;
}

/**
 * The Vega spec of `comparison_<layer>.png`: mean-over-channels maps of A and B on a shared colour
 * scale and the difference map on its own scale, each with a colour bar, titled with the run names
 * and the layer's metrics.
 *
 * @example Usage
 * ```ts ignore
 * import { layerMapsSpec } from "./compare_charts.ts";
 * const spec = layerMapsSpec(comparison, maps); // maps.layer === "layer3"
 * ```
 */
export function layerMapsSpec(cmp: Comparison, maps: LayerMaps): VegaSpec {
  const layer = maps.layer;
  const r: LayerComparison = cmp.layers[layer];
  const panelSide = 220;
  const frames = cmp.frames.length;
  const over = frames > 1 ? ` and ${frames} frames` : "";
  const panels: Panel[] = [];
  const rangeA = finiteRange(maps.a);
  const rangeB = finiteRange(maps.b ?? maps.bOwn!.map);
  const shared = {
    min: Math.min(rangeA.min, rangeB.min),
    max: Math.max(rangeA.max, rangeB.max),
  };
  const sharedOk = Number.isFinite(shared.min) && Number.isFinite(shared.max);
  const aSide = { min: sharedOk ? shared.min : 0, max: sharedOk ? shared.max : 1 };
  const sizeOf = (h: number, w: number) => {
    const f = panelSide / Math.max(h, w);
    return { height: Math.max(1, Math.round(h * f)), width: Math.max(1, Math.round(w * f)) };
  };
  const cA = shapeText(r.shape_a), cB = shapeText(r.shape_b);
  panels.push({
    label: `A: ${cmp.a.name}`,
    url: heatmapDataUrl(maps.a, [maps.height, maps.width], { ...aSide, minPixels: 2 * panelSide }),
    ...sizeOf(maps.height, maps.width),
    ...aSide,
    colormap: "viridis",
    caption: `mean over channels${over}, ${cA}`,
  });
  const bMap = maps.b ?? maps.bOwn!.map;
  const bh = maps.b ? maps.height : maps.bOwn!.height, bw = maps.b ? maps.width : maps.bOwn!.width;
  panels.push({
    label: `B: ${cmp.b.name}`,
    url: heatmapDataUrl(bMap, [bh, bw], { ...aSide, minPixels: 2 * panelSide }),
    ...sizeOf(bh, bw),
    ...aSide,
    colormap: "viridis",
    caption: `mean over channels${over}, ${cB}`,
  });
  if (maps.diff) {
    const d = finiteRange(maps.diff);
    const dmax = Number.isFinite(d.max) && d.max > 0 ? d.max : 1;
    panels.push({
      label: maps.diffKind === "mean_abs_diff" ? "|A − B|" : "|mean A − mean B|",
      url: heatmapDataUrl(maps.diff, [maps.height, maps.width], {
        min: 0,
        max: dmax,
        colormap: "magma",
        minPixels: 2 * panelSide,
      }),
      ...sizeOf(maps.height, maps.width),
      min: 0,
      max: Number.isFinite(d.max) ? d.max : 0,
      colormap: "magma",
      caption: maps.diffKind === "mean_abs_diff"
        ? `mean over channels${over}, own scale`
        : "channel counts differ: difference of the means",
      overlay: d.max === 0 ? "identical (A = B)" : undefined,
    });
  }
  const gap = 36;
  const top = 50;
  const maxH = Math.max(...panels.map((p) => p.height));
  const marks: VegaObject[] = [];
  let x = 0;
  for (const p of panels) {
    const y = top + (maxH - p.height) / 2;
    const box = { x, y, width: p.width, height: p.height };
    const limit = panelSide + gap - 8;
    marks.push(
      fixedMark("text", {
        x,
        y: top - 22,
        text: p.label,
        fontSize: 13,
        fontWeight: "bold",
        fill: "#222",
        limit,
      }),
      fixedMark("text", { x, y: top - 8, text: p.caption, fontSize: 10, fill: "#555", limit }),
      imageMark(p.url, box, false),
      frameRect(box, "#999"),
      fixedMark("text", {
        x: x + p.width / 2,
        y: y + p.height / 2,
        text: p.overlay ?? "",
        align: "center",
        baseline: "middle",
        fontSize: 14,
        fill: "white",
      }),
      imageMark(
        colorbarDataUrl(p.colormap),
        { x, y: top + maxH + 10, width: panelSide, height: 10 },
        true,
      ),
      fixedMark("text", {
        x,
        y: top + maxH + 33,
        text: formatMetric(p.min),
        fontSize: 10,
        fill: "#333",
      }),
      fixedMark("text", {
        x: x + panelSide,
        y: top + maxH + 33,
        text: formatMetric(p.max),
        align: "right",
        fontSize: 10,
        fill: "#333",
      }),
    );
    x += panelSide + gap;
  }
  if (!maps.diff) {
    marks.push(fixedMark("text", {
      x,
      y: top + maxH / 2,
      text: ["no difference map:", "spatial sizes differ"],
      fontSize: 12,
      fill: "#666",
    }));
    x += panelSide;
  }
  const width = x - gap;
  const status = statusOf(cmp, layer);
  const metricLine = r.comparable === "full"
    ? `rel_l2 ${formatMetric(r.rel_l2)}  ·  cosine ${formatMetric(r.cosine)}  ·  pearson ${
      formatMetric(r.pearson)
    }  ·  CKA ${formatMetric(r.cka)}  ·  max|A−B| ${formatMetric(r.max_abs_diff)}`
    : `CKA ${formatMetric(r.cka)}   (${
      r.comparable === "none" ? "shapes differ" : "channel counts differ"
    }: ${cA} vs ${cB})`;
  marks.push(fixedMark("text", {
    x: 0,
    y: 0,
    text: status.text,
    align: "left",
    fontSize: 11,
    fontWeight: "bold",
    fill: status.color,
  }));
  return {
    $schema: "https://vega.github.io/schema/vega/v5.json",
    width,
    height: top + maxH + 36,
    padding: { left: 14, right: 14, top: 10, bottom: 10 },
    config: vegaConfig(),
    title: {
      text: `${layer}: ${cmp.a.name} vs ${cmp.b.name}`,
      subtitle: metricLine,
      anchor: "start",
      subtitleFontSize: 11,
      subtitleColor: "#444",
      limit: width,
    },
    marks,
  } as unknown as VegaSpec;
}

/**
 * The Vega spec of `comparison.png`: per layer in network order, `rel_l2` bars on a log scale
 * with the tolerance line, and grouped cosine / Pearson / CKA bars; the first divergent layer is
 * highlighted.
 *
 * @example Usage
 * ```ts ignore
 * import { metricsSpec } from "./compare_charts.ts";
 * const spec = metricsSpec(comparison);
 * ```
 */
export function metricsSpec(cmp: Comparison): VegaSpec {
  const layers = cmp.layer_order;
  const rels = layers.map((l) => cmp.layers[l].rel_l2).filter((v): v is number => v !== null);
  const positive = rels.filter((v) => v > 0);
  const tol = cmp.tolerance > 0 ? cmp.tolerance : 1e-6;
  const lo = Math.pow(
    10,
    Math.floor(Math.log10(Math.min(tol / 10, ...positive.map((v) => v / 3)))),
  );
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(tol * 10, ...positive.map((v) => v * 3)))));
  const relRows = layers.map((l) => {
    const r = cmp.layers[l];
    const v = r.rel_l2;
    return {
      layer: l,
      value: v === null ? lo : Math.max(v, lo),
      label: v === null ? (r.comparable === "full" ? "n/a" : "shape") : formatMetric(v),
      color: cmp.first_divergent === l ? COLOR_FIRST : r.exceeds_tolerance ? COLOR_OVER : COLOR_OK,
    };
  });
  const simRows: { layer: string; metric: string; value: number; label: string }[] = [];
  let simMin = 0;
  for (const l of layers) {
    const r = cmp.layers[l];
    for (
      const [metric, v] of [["cosine", r.cosine], ["pearson", r.pearson], ["CKA", r.cka]] as const
    ) {
      if (v === null) continue;
      simRows.push({ layer: l, metric, value: v, label: formatMetric(v) });
      simMin = Math.min(simMin, v);
    }
  }
  const longest = Math.max(...layers.map((l) => l.length));
  const angle = layers.length * Math.max(longest, 6) * 7 > Math.max(480, layers.length * 90)
    ? -35
    : 0;
  const width = Math.max(480, layers.length * 90);
  const h1 = 200, h2 = 170, gap = angle ? 80 : 60;
  const firstRows = cmp.first_divergent ? [{ layer: cmp.first_divergent }] : [];
  const xAxis = {
    orient: "bottom",
    scale: "x",
    labelAngle: angle,
    labelAlign: angle ? "right" : "center",
    labelLimit: 160,
    labelFontSize: 11,
  };
  return {
    $schema: "https://vega.github.io/schema/vega/v5.json",
    width,
    height: h1 + gap + h2,
    padding: { left: 10, right: 70, top: 10, bottom: 10 },
    config: vegaConfig(),
    title: {
      text: `${cmp.a.name} vs ${cmp.b.name}`,
      subtitle: cmp.first_divergent
        ? `first divergent layer: ${cmp.first_divergent} (rel_l2 > ${formatMetric(tol)}), ` +
          `${cmp.frames.length} frame pair(s)`
        : `no layer exceeds rel_l2 ${formatMetric(tol)}, ${cmp.frames.length} frame pair(s)`,
      anchor: "start",
      subtitleColor: cmp.first_divergent ? COLOR_FIRST : "#2e7d32",
      subtitleFontSize: 12,
    },
    data: [
      { name: "rel", values: relRows },
      { name: "sim", values: simRows },
      { name: "first", values: firstRows },
      { name: "tol", values: [{ tol }] },
    ],
    scales: [
      { name: "x", type: "band", domain: layers, range: "width", padding: 0.25 },
      {
        name: "color",
        type: "ordinal",
        domain: ["cosine", "pearson", "CKA"],
        range: METRIC_COLORS,
      },
    ],
    marks: [
      {
        ...panelGroup(0, h1),
        scales: [
          { name: "y", type: "log", domain: [lo, hi], range: [h1, 0], nice: false },
        ],
        axes: [
          { ...xAxis, labels: angle === 0, ticks: true },
          logAxis("y", "rel_l2 = ||A−B|| / ||A||", lo, hi),
        ],
        marks: [
          firstLayerBand(h1),
          {
            type: "rect",
            from: { data: "rel" },
            encode: {
              enter: {
                x: { scale: "x", field: "layer" },
                width: { scale: "x", band: 1 },
                y: { scale: "y", field: "value" },
                y2: { scale: "y", value: lo },
                fill: { field: "color" },
              },
            },
          },
          {
            type: "text",
            from: { data: "rel" },
            encode: {
              enter: {
                x: { scale: "x", field: "layer", band: 0.5 },
                y: { scale: "y", field: "value", offset: -4 },
                text: { field: "label" },
                align: { value: "center" },
                baseline: { value: "bottom" },
                fontSize: { value: 10 },
                fill: { value: "#333" },
              },
            },
          },
          toleranceRule("y", 1.5),
          {
            type: "text",
            from: { data: "tol" },
            encode: {
              enter: {
                x: { signal: "width", offset: 6 },
                y: { scale: "y", field: "tol" },
                text: { value: ["tolerance", formatMetric(tol)] },
                align: { value: "left" },
                baseline: { value: "middle" },
                fontSize: { value: 10 },
                fill: { value: COLOR_FIRST },
              },
            },
          },
        ],
      },
      {
        ...panelGroup(h1 + gap, h2),
        scales: [
          {
            name: "y2",
            type: "linear",
            domain: [simMin < 0 ? -1 : 0, 1],
            range: [h2, 0],
            nice: false,
          },
          {
            name: "inner",
            type: "band",
            domain: ["cosine", "pearson", "CKA"],
            range: { signal: "[0, bandwidth('x')]" },
            padding: 0.08,
          },
        ],
        axes: [
          xAxis,
          { orient: "left", scale: "y2", title: "similarity", grid: true, tickCount: 5 },
        ],
        legends: [
          {
            fill: "color",
            orient: "none",
            direction: "horizontal",
            legendX: 0,
            legendY: -22,
            title: null,
            labelFontSize: 11,
          },
        ],
        marks: [
          firstLayerBand(h2),
          {
            type: "rect",
            from: { data: "sim" },
            encode: {
              enter: {
                x: { scale: "x", field: "layer", offset: { scale: "inner", field: "metric" } },
                width: { scale: "inner", band: 1 },
                y: { scale: "y2", field: "value" },
                y2: { scale: "y2", value: 0 },
                fill: { scale: "color", field: "metric" },
                tooltip: { field: "label" },
              },
            },
          },
          {
            type: "text",
            from: { data: "sim" },
            encode: {
              enter: {
                x: {
                  scale: "x",
                  field: "layer",
                  offset: {
                    scale: "inner",
                    field: "metric",
                    offset: { scale: "inner", band: 0.5 },
                  },
                },
                y: { scale: "y2", field: "value", offset: 5 },
                text: { field: "label" },
                angle: { value: -90 },
                align: { value: "right" },
                baseline: { value: "middle" },
                fontSize: { value: 9 },
                fill: { value: "white" },
              },
            },
          },
        ],
      },
    ],
  } as unknown as VegaSpec;
}

/**
 * The Vega spec of `comparison_temporal.png`: per layer, `rel_l2` (log scale) and CKA against the
 * frame pair, one line per layer.
 *
 * @example Usage
 * ```ts ignore
 * import { temporalSpec } from "./compare_charts.ts";
 * const spec = temporalSpec(comparison);
 * ```
 */
export function temporalSpec(cmp: Comparison): VegaSpec {
  const frames = cmp.frames.map((_, i) => frameLabel(cmp, i));
  const relRows: { layer: string; frame: string; value: number }[] = [];
  const ckaRows: { layer: string; frame: string; value: number }[] = [];
  const tol = cmp.tolerance > 0 ? cmp.tolerance : 1e-6;
  let minRel = tol / 10, maxRel = tol * 10, minCka = 0;
  for (const l of cmp.layer_order) {
    const p = cmp.layers[l].per_frame;
    for (const v of p.rel_l2) if (v !== null && v > 0) minRel = Math.min(minRel, v / 3);
  }
  const lo = Math.pow(10, Math.floor(Math.log10(minRel)));
  for (const l of cmp.layer_order) {
    const p = cmp.layers[l].per_frame;
    p.rel_l2.forEach((v, i) => {
      if (v === null) return;
      relRows.push({ layer: l, frame: frames[i], value: Math.max(v, lo) });
      maxRel = Math.max(maxRel, v * 3);
    });
    p.cka.forEach((v, i) => {
      if (v === null) return;
      ckaRows.push({ layer: l, frame: frames[i], value: v });
      minCka = Math.min(minCka, v);
    });
  }
  const hi = Math.pow(10, Math.ceil(Math.log10(maxRel)));
  const width = Math.max(420, frames.length * 60);
  const h = 180, gap = 70;
  const angle = frames.some((f) => f.length > 8) && frames.length > 6 ? -35 : 0;
  const xAxis = {
    orient: "bottom",
    scale: "x",
    labelAngle: angle,
    labelAlign: angle ? "right" : "center",
    title: cmp.pairing === "sweep"
      ? `frame of B compared with A's b${cmp.frames[0].a.batch_idx} t${cmp.frames[0].a.timestep}`
      : "frame (batch, timestep)",
  };
  const line = (data: string, y: string) => ({
    type: "group",
    from: { facet: { name: `${data}_by_layer`, data, groupby: "layer" } },
    marks: [
      {
        type: "line",
        from: { data: `${data}_by_layer` },
        encode: {
          enter: {
            x: { scale: "x", field: "frame" },
            y: { scale: y, field: "value" },
            stroke: { scale: "layer", field: "layer" },
            strokeWidth: { value: 2 },
          },
        },
      },
      {
        type: "symbol",
        from: { data: `${data}_by_layer` },
        encode: {
          enter: {
            x: { scale: "x", field: "frame" },
            y: { scale: y, field: "value" },
            fill: { scale: "layer", field: "layer" },
            size: { value: 30 },
          },
        },
      },
    ],
  });
  return {
    $schema: "https://vega.github.io/schema/vega/v5.json",
    width,
    height: 2 * h + gap,
    padding: { left: 10, right: 10, top: 10, bottom: 10 },
    config: vegaConfig(),
    title: {
      text: `per-frame metrics: ${cmp.a.name} vs ${cmp.b.name}`,
      subtitle: `${frames.length} frame pairs; dashed line: tolerance ${
        formatMetric(tol)
      }; rel_l2 = 0 (identical) sits on the bottom edge`,
      anchor: "start",
    },
    data: [
      { name: "rel", values: relRows },
      { name: "cka", values: ckaRows },
      { name: "tol", values: [{ tol }] },
    ],
    scales: [
      { name: "x", type: "point", domain: frames, range: "width", padding: 0.5 },
      { name: "layer", type: "ordinal", domain: cmp.layer_order, range: "category" },
    ],
    legends: [{
      stroke: "layer",
      fill: "layer",
      title: "layer",
      orient: "right",
      symbolType: "circle",
    }],
    marks: [
      {
        type: "group",
        encode: { enter: { width: { signal: "width" }, height: { value: h } } },
        scales: [{ name: "yr", type: "log", domain: [lo, hi], range: [h, 0], nice: false }],
        axes: [
          { ...xAxis, labels: false, title: null },
          logAxis("yr", "rel_l2", lo, hi),
        ],
        marks: [
          line("rel", "yr"),
          toleranceRule("yr"),
        ],
      },
      {
        type: "group",
        encode: {
          enter: { y: { value: h + gap / 2 }, width: { signal: "width" }, height: { value: h } },
        },
        scales: [{
          name: "yc",
          type: "linear",
          domain: [minCka < 0 ? -1 : 0, 1],
          range: [h, 0],
          nice: false,
        }],
        axes: [
          xAxis,
          { orient: "left", scale: "yc", title: "linear CKA", grid: true, tickCount: 5 },
        ],
        marks: [line("cka", "yc")],
      },
    ],
  } as unknown as VegaSpec;
}

/**
 * Render every picture of a comparison into a map of file name -> PNG bytes (nothing is written).
 *
 * @example Usage
 * ```ts ignore
 * import { renderComparisonFiles } from "./compare_charts.ts";
 * const files = await renderComparisonFiles(comparison, maps);
 * console.log([...files.keys()]); // ["comparison.png", "comparison_layer1.png", ...]
 * ```
 */
export async function renderComparisonFiles(
  cmp: Comparison,
  maps: ReadonlyMap<string, LayerMaps>,
  options: { onProgress?: (message: string) => void } = {},
): Promise<Map<string, Uint8Array>> {
  const onProgress = options.onProgress ?? (() => {});
  const files = new Map<string, Uint8Array>();
  onProgress("rendering comparison.png");
  files.set("comparison.png", await renderVegaPng(metricsSpec(cmp), { scale: 2 }));
  if (cmp.frames.length > 1) {
    onProgress("rendering comparison_temporal.png");
    files.set("comparison_temporal.png", await renderVegaPng(temporalSpec(cmp), { scale: 2 }));
  }
  const used = new Set<string>();
  for (const layer of cmp.layer_order) {
    const m = maps.get(layer);
    if (!m) continue;
    const stem = layerFileStem(layer);
    let name = `comparison_${stem}.png`;
    for (let k = 2; used.has(name); k++) name = `comparison_${stem}_${k}.png`;
    used.add(name);
    cmp.layers[layer].image = name;
    onProgress(`rendering ${name}`);
    files.set(name, await renderVegaPng(layerMapsSpec(cmp, m), { scale: 2 }));
  }
  return files;
}
