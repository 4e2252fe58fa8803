/**
 * The figure code side by side with what it replaced, on the same inputs:
 *
 * - PNG encoding: `encodePng` (`render/png.ts`, hand-written over native zlib, at the default
 *   level 6 and at level 2 as the feature grid uses it) against the pngjs library
 *   (`_pngjs_png.ts`), on the pixels of a feature grid, of a chart and of a heat-map image as
 *   charts embed it; and, for the chart, resvg's own `asPng()` on the same rendered pixels, which
 *   `renderSvgPng` used before it took resvg's pixels to `encodePng`. Each encoding is decoded
 *   back and compared with the input.
 * - Feature grids: `renderFeatureGrid` (`render/feature_grid.ts`, direct rasteriser) against the
 *   SVG + resvg renderer (`_svg_feature_grid.ts`), on layer-like shapes with `inspect`'s default
 *   16 channels shown, with the share of pixels that differ visibly (> 32 levels) between the two.
 *
 * Times are milliseconds per call after a warm-up (glyph atlas, resvg start-up, JIT).
 * Run on its own: `deno run -A bench/render_bench.ts [--quick]`.
 *
 * @module
 */

import { decodeImage } from "../inspector/image_io.ts";
import type { RgbaImage } from "../core/image.ts";
import { encodePng } from "../render/png.ts";
import { renderFeatureGrid } from "../render/feature_grid.ts";
import {
  FONT_FAMILY,
  heatmapDataUrl,
  loadRenderAssets,
  renderVegaPng,
  renderVegaSvg,
  type VegaSpec,
} from "../render/vega_png.ts";
import { Resvg } from "npm:@resvg/resvg-wasm@2.6.2";
import { encodePngPngjs } from "./_pngjs_png.ts";
import { renderFeatureGridSvg } from "./_svg_feature_grid.ts";
import { timeIt } from "./_timing.ts";

/** One image encoded by one encoder. */
export interface PngBenchRow {
  /** What the pixels are. */
  figure: string;
  /** Image width and height in pixels. */
  size: [number, number];
  /** `render/png.ts level N` or `pngjs`. */
  encoder: string;
  /** Milliseconds per encode. */
  ms: number;
  /** PNG file size in bytes. */
  bytes: number;
  /** Whether decoding the PNG gives back exactly the input pixels. */
  samePixels: boolean;
}

/** One feature grid drawn by one renderer. */
export interface GridBenchRow {
  /** The frame's `[C, H, W]`. */
  shape: [number, number, number];
  /** `raster` (`render/feature_grid.ts`) or `svg+resvg` (the baseline). */
  renderer: string;
  /** Milliseconds per grid (render + PNG encode). */
  ms: number;
  /** PNG file size in bytes. */
  bytes: number;
  /** Image width and height in pixels. */
  size: [number, number];
  /** Share of pixels differing by more than 32 levels from the raster grid (0 for it). */
  visiblyDifferent: number;
}

/** Result of {@linkcode benchRender}. */
export interface RenderBenchReport {
  /** PNG encoders on the same pixels. */
  png: PngBenchRow[];
  /** Feature-grid renderers on the same maps. */
  grid: GridBenchRow[];
}

/** Options of {@linkcode benchRender}. */
export interface RenderBenchOptions {
  /** Frame shapes `[C, H, W]` of the grids (default: conv1/layer1..layer4 of a ResNet-18 at 224 px). */
  gridShapes?: [number, number, number][];
  /** Minimum seconds per measurement (default 0.5); each runs at least twice after a warm-up. */
  minSeconds?: number;
}

/** Default grid shapes: conv1, layer1 and layer4 of a ResNet-18 at 224 px. */
export const DEFAULT_GRID_SHAPES: [number, number, number][] = [
  [64, 112, 112],
  [64, 56, 56],
  [512, 7, 7],
];

/** ReLU-like activations: smooth waves, a different amplitude per channel, many exact zeros. */
function activations(shape: [number, number, number]): Float32Array {
  const [C, H, W] = shape;
  const maps = new Float32Array(C * H * W);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const v = Math.sin(x * 0.21 + c) * Math.cos(y * 0.17 - c * 0.5) * (1 + (c % 7));
        maps[(c * H + y) * W + x] = Math.max(0, v);
      }
    }
  }
  return maps;
}

const GRID_OPTIONS = (shape: [number, number, number]) => ({
  channels: 16,
  title: `layer · batch 0 · frame 0 · ${shape.join("×")}`,
  gaze: [{ x: 0.4, y: 0.6 }],
});

/** A chart like `analyze`'s: bars, a line, axes, a heat-map image, titles; 2x density. */
function chartSpec(): VegaSpec {
  const bars = Array.from({ length: 64 }, (_, i) => ({ c: i, v: Math.abs(Math.sin(i * 0.3)) }));
  const heat = new Float32Array(64 * 16).map((_, i) => Math.sin(i * 0.05) + (i % 16) * 0.1);
  return {
    width: 560,
    height: 340,
    padding: 20,
    background: "white",
    title: { text: "layer1 · channel statistics", fontSize: 15 },
    data: [{ name: "bars", values: bars }],
    scales: [
      { name: "x", type: "band", domain: { data: "bars", field: "c" }, range: "width" },
      { name: "y", type: "linear", domain: { data: "bars", field: "v" }, range: [170, 0] },
    ],
    axes: [
      { orient: "left", scale: "y", title: "mean |activation|" },
      { orient: "bottom", scale: "x", title: "channel", labelOverlap: true, offset: 170 },
    ],
    marks: [
      {
        type: "rect",
        from: { data: "bars" },
        encode: {
          enter: {
            x: { scale: "x", field: "c" },
            width: { scale: "x", band: 0.9 },
            y: { scale: "y", field: "v" },
            y2: { scale: "y", value: 0 },
            fill: { value: "#4c78a8" },
          },
        },
      },
      {
        type: "line",
        from: { data: "bars" },
        encode: {
          enter: {
            x: { scale: "x", field: "c", band: 0.5 },
            y: { scale: "y", signal: "datum.v * 0.8" },
            stroke: { value: "#e45756" },
            strokeWidth: { value: 2 },
          },
        },
      },
      {
        type: "image",
        encode: {
          enter: {
            url: { value: heatmapDataUrl(heat, [16, 64]) },
            x: { value: 0 },
            y: { value: 200 },
            width: { value: 560 },
            height: { value: 140 },
            aspect: { value: false },
            smooth: { value: false },
          },
        },
      },
    ],
  } as VegaSpec;
}

function visiblyDifferent(a: RgbaImage, b: RgbaImage): number {
  if (a.width !== b.width || a.height !== b.height) return 1;
  let n = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    const d = Math.max(
      Math.abs(a.data[i] - b.data[i]),
      Math.abs(a.data[i + 1] - b.data[i + 1]),
      Math.abs(a.data[i + 2] - b.data[i + 2]),
    );
    if (d > 32) n++;
  }
  return n / (a.width * a.height);
}

const samePixels = (png: Uint8Array, image: RgbaImage): boolean => {
  const back = decodeImage(png);
  return back.width === image.width && back.height === image.height &&
    back.data.every((v, i) => v === image.data[i]);
};

/**
 * Time the PNG encoders and the feature-grid renderers side by side (see the module doc).
 *
 * @example Usage
 * ```ts ignore
 * import { benchRender, formatRenderBench } from "./render_bench.ts";
 * const report = await benchRender({ gridShapes: [[16, 28, 28]], minSeconds: 0.05 });
 * console.log(formatRenderBench(report));
 * ```
 */
export async function benchRender(options: RenderBenchOptions = {}): Promise<RenderBenchReport> {
  const minSeconds = options.minSeconds ?? 0.5;
  const shapes = options.gridShapes ?? DEFAULT_GRID_SHAPES;
  const report: RenderBenchReport = { png: [], grid: [] };

  // Feature grids: both renderers on the same maps.
  let gridPixels: RgbaImage | null = null;
  for (const shape of shapes) {
    const maps = activations(shape);
    const opts = GRID_OPTIONS(shape);
    const raster = await renderFeatureGrid(maps, shape, opts);
    const svg = await renderFeatureGridSvg(maps, shape, opts);
    const rImg = decodeImage(raster), sImg = decodeImage(svg);
    gridPixels ??= rImg;
    const rows: [string, () => Promise<Uint8Array>, Uint8Array, RgbaImage][] = [
      ["raster", () => renderFeatureGrid(maps, shape, opts), raster, rImg],
      ["svg+resvg", () => renderFeatureGridSvg(maps, shape, opts), svg, sImg],
    ];
    for (const [renderer, fn, png, img] of rows) {
      report.grid.push({
        shape,
        renderer,
        ms: 1000 * await timeIt(fn, minSeconds),
        bytes: png.length,
        size: [img.width, img.height],
        visiblyDifferent: visiblyDifferent(rImg, img),
      });
    }
  }

  // PNG encoders: the same pixels through each.
  const heat = new Float32Array(56 * 56).map((_, i) => Math.sin(i * 0.11) * Math.cos(i * 0.003));
  const heatUrl = heatmapDataUrl(heat, [56, 56], { minPixels: 504 });
  const figures: [string, RgbaImage][] = [
    [`feature grid ${shapes[0].join("x")}`, gridPixels!],
    ["chart (bars, line, heat map)", decodeImage(await renderVegaPng(chartSpec()))],
    [
      "heat map 56x56 -> 504x504",
      decodeImage(Uint8Array.from(atob(heatUrl.slice(heatUrl.indexOf(",") + 1)), (c) => {
        return c.charCodeAt(0);
      })),
    ],
  ];
  const encoders: [string, (img: RgbaImage) => Uint8Array][] = [
    ["pngjs", (img) => encodePngPngjs(img)],
    ["render/png.ts level 6", (img) => encodePng(img)],
    ["render/png.ts level 2", (img) => encodePng(img, { level: 2 })],
  ];
  for (const [figure, image] of figures) {
    for (const [encoder, encode] of encoders) {
      const png = encode(image);
      report.png.push({
        figure,
        size: [image.width, image.height],
        encoder,
        ms: 1000 * await timeIt(() => encode(image), minSeconds),
        bytes: png.length,
        samePixels: samePixels(png, image),
      });
    }
  }
  // resvg's own PNG encoder on the chart's rendered pixels (renderVegaPng above initialised it).
  const chart = figures[1][1];
  const resvg = new Resvg(await renderVegaSvg(chartSpec()), {
    fitTo: { mode: "zoom", value: 2 },
    background: "white",
    font: {
      fontBuffers: (await loadRenderAssets()).fonts,
      loadSystemFonts: false,
      defaultFontFamily: FONT_FAMILY,
      sansSerifFamily: FONT_FAMILY,
    },
  });
  const rendered = resvg.render();
  try {
    const png = rendered.asPng();
    report.png.push({
      figure: figures[1][0],
      size: [chart.width, chart.height],
      encoder: "resvg asPng (before)",
      ms: 1000 * await timeIt(() => rendered.asPng(), minSeconds),
      bytes: png.length,
      samePixels: samePixels(png, chart),
    });
  } finally {
    rendered.free();
    resvg.free();
  }
  return report;
}

/**
 * Format a report as two plain-text tables.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { formatRenderBench } from "./render_bench.ts";
 * const text = formatRenderBench({ png: [], grid: [] });
 * assert(text.startsWith("feature grid"));
 * ```
 */
export function formatRenderBench(report: RenderBenchReport): string {
  const lines = [
    "feature grid (16 channels shown)  renderer     size         ms/grid   KB     differs",
  ];
  for (const r of report.grid) {
    lines.push(
      `${`(${r.shape.join(",")})`.padEnd(33)} ${r.renderer.padEnd(12)} ` +
        `${r.size.join("x").padEnd(12)} ${r.ms.toFixed(1).padStart(7)}  ` +
        `${(r.bytes / 1024).toFixed(0).padStart(5)}  ${(100 * r.visiblyDifferent).toFixed(2)} %`,
    );
  }
  lines.push(
    "",
    "PNG of                             encoder                 size        ms/encode  KB     exact",
  );
  for (const r of report.png) {
    lines.push(
      `${r.figure.padEnd(34)} ${r.encoder.padEnd(23)} ${r.size.join("x").padEnd(11)} ` +
        `${r.ms.toFixed(1).padStart(9)}  ${(r.bytes / 1024).toFixed(0).padStart(5)}  ` +
        `${r.samePixels ? "yes" : "NO"}`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  const report = await benchRender(
    quick ? { gridShapes: [[64, 56, 56]], minSeconds: 0.1 } : {},
  );
  console.log(formatRenderBench(report));
}
