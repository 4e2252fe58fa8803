/**
 * Chart rendering without a browser: Vega spec -> SVG (headless Vega view) -> PNG (resvg, WASM),
 * with the DejaVu fonts from the `dejavu-fonts-ttf` npm package, so that every machine draws the
 * same glyphs. Text is laid out with the font's real advance widths (see `font_metrics.ts`).
 *
 * Heat maps go into specs as single `image` marks whose `url` is a PNG data URL made by
 * {@linkcode heatmapDataUrl} / {@linkcode rgbaDataUrl} (nearest-neighbour upscaled, so small maps
 * stay crisp blocks), never as thousands of `rect` marks.
 *
 * @module
 */

import * as vega from "npm:vega@6.4.0";
import { initWasm } from "npm:@resvg/resvg-wasm@2.6.2";
import { colormap, type ColormapName, renderChannelTile } from "./colormap.ts";
import { type FontMeasurer, fontMeasurer } from "./font_metrics.ts";
import { encodePng } from "./png.ts";
import { FONT_FAMILY, rasterizeSvg } from "./_raster.ts";
import type { RasterInit, RasterRequest, RasterResponse } from "./_raster_worker.ts";
import { InspectorError } from "../core/errors.ts";
import { profileTime } from "../core/profile.ts";

export { FONT_FAMILY };

/** The bytes the renderer needs: the resvg WASM module and TrueType fonts (regular first, then bold). */
export interface RenderAssets {
  /** `index_bg.wasm` of `@resvg/resvg-wasm`. */
  wasm: Uint8Array;
  /** TrueType font files; `fonts[0]` regular and `fonts[1]` bold are used for text metrics. */
  fonts: Uint8Array[];
}

let override: RenderAssets | null = null;
/** The fonts, and the resvg module compiled once (the chart workers get the same module). */
type Ready = { fonts: Uint8Array[]; module: WebAssembly.Module };
let ready: Promise<Ready> | null = null;

/**
 * Supply the renderer's assets yourself (e.g. a compiled binary with embedded files) instead of
 * reading them from the npm packages. Call before the first render.
 *
 * @example Usage
 * ```ts ignore
 * import { setRenderAssets } from "./vega_png.ts";
 * setRenderAssets({ wasm: embeddedWasm, fonts: [regularTtf, boldTtf] });
 * ```
 */
export function setRenderAssets(assets: RenderAssets): void {
  override = assets;
  ready = null;
}

async function readPackageFile(specifier: string): Promise<Uint8Array> {
  const url = import.meta.resolve(specifier);
  if (!url.startsWith("file:")) {
    throw new Error(
      `cannot locate ${specifier} (resolved to ${url}); run 'deno install' or check deno.json imports`,
    );
  }
  return await Deno.readFile(new URL(url));
}

/**
 * Read the resvg WASM module and the DejaVu fonts from their npm packages (the one place that
 * knows where they live).
 *
 * @example Usage
 * ```ts ignore
 * import { loadRenderAssets } from "./vega_png.ts";
 * const { wasm, fonts } = await loadRenderAssets();
 * ```
 */
export async function loadRenderAssets(): Promise<RenderAssets> {
  // Importing the package's JSON puts the font package into the module graph (so Deno fetches
  // it, and `deno compile` embeds it); the TTF files are then read next to it.
  await import("npm:dejavu-fonts-ttf@2.37.3/package.json", { with: { type: "json" } });
  const [wasm, regular, bold, mono] = await Promise.all([
    readPackageFile("npm:@resvg/resvg-wasm@2.6.2/index_bg.wasm"),
    readPackageFile("npm:dejavu-fonts-ttf@2.37.3/ttf/DejaVuSans.ttf"),
    readPackageFile("npm:dejavu-fonts-ttf@2.37.3/ttf/DejaVuSans-Bold.ttf"),
    readPackageFile("npm:dejavu-fonts-ttf@2.37.3/ttf/DejaVuSansMono.ttf"),
  ]);
  return { wasm, fonts: [regular, bold, mono] };
}

function installTextMetrics(regular: FontMeasurer, bold: FontMeasurer): void {
  type TextItem = { fontSize?: number; fontWeight?: string | number };
  const metrics = (vega as unknown as { textMetrics: unknown }).textMetrics as {
    width: (item: TextItem, text: unknown) => number;
  };
  metrics.width = (item: TextItem, text: unknown): number => {
    const s = text == null ? "" : String(text).trim();
    const size = item.fontSize != null ? +item.fontSize || 0 : 11;
    const w = item.fontWeight;
    const isBold = w === "bold" || w === "bolder" || (typeof w === "number" && w >= 600) ||
      (typeof w === "string" && Number(w) >= 600);
    return (isBold ? bold : regular).width(s, size);
  };
}

async function ensureReady(): Promise<Ready> {
  if (!ready) {
    ready = (async () => {
      const assets = override ?? await loadRenderAssets();
      const module = await WebAssembly.compile(assets.wasm as Uint8Array<ArrayBuffer>);
      try {
        await initWasm(module);
      } catch (err) {
        // initWasm throws when called twice (e.g. after setRenderAssets); the module is usable.
        if (!String(err).includes("Already initialized")) throw err;
      }
      const regular = fontMeasurer(assets.fonts[0]);
      installTextMetrics(regular, assets.fonts[1] ? fontMeasurer(assets.fonts[1]) : regular);
      return { fonts: assets.fonts, module };
    })();
    ready.catch(() => ready = null);
  }
  return await ready;
}

/** Options of {@linkcode renderSvgPng} and {@linkcode renderVegaPng}. */
export interface RenderOptions {
  /** Device pixels per SVG pixel (2 = print density). Default 2. */
  scale?: number;
  /** Background colour; default white. */
  background?: string;
}

/**
 * Rasterise an SVG document to PNG bytes with resvg and the DejaVu fonts.
 *
 * @example Usage
 * ```ts
 * import { renderSvgPng } from "./vega_png.ts";
 * const png = await renderSvgPng(
 *   '<svg xmlns="http://www.w3.org/2000/svg" width="80" height="20"><text y="15">hi</text></svg>',
 * );
 * console.log(png.length > 100); // true (a 160 x 40 PNG)
 * ```
 */
export async function renderSvgPng(svg: string, options: RenderOptions = {}): Promise<Uint8Array> {
  const { fonts } = await ensureReady();
  const scale = checkedScale(svg, options);
  return rasterizeSvg(svg, fonts, { scale, background: options.background ?? "white" });
}

/** The scale of `options`, after checking that the chart stays under the size limit. */
function checkedScale(svg: string, options: RenderOptions): number {
  const scale = options.scale ?? 2;
  const size = svgSize(svg);
  if (size && Math.max(size[0], size[1]) * scale > MAX_CHART_PIXELS) {
    throw new InspectorError(
      `a chart would be ${Math.round(size[0] * scale)} x ${Math.round(size[1] * scale)} px ` +
        `(limit ${MAX_CHART_PIXELS} px a side); this is a bug in the chart, please report it`,
    );
  }
  return scale;
}

/** Largest chart side in device pixels; {@linkcode renderSvgPng} refuses bigger ones. */
export const MAX_CHART_PIXELS = 16384;

/** The `width`/`height` of an SVG's root element, in SVG pixels, or null when not plain numbers. */
function svgSize(svg: string): [number, number] | null {
  const head = svg.slice(0, 1000).match(/<svg\b[^>]*>/)?.[0] ?? "";
  const w = head.match(/\swidth="([0-9.]+)"/)?.[1], h = head.match(/\sheight="([0-9.]+)"/)?.[1];
  return w && h ? [Number(w), Number(h)] : null;
}

/** A Vega spec (the JSON object you would paste into the Vega editor). */
export type VegaSpec = vega.Spec;

/**
 * Run a Vega spec headless and return its SVG.
 *
 * @example Usage
 * ```ts
 * import { renderVegaSvg } from "./vega_png.ts";
 * const svg = await renderVegaSvg({ width: 50, height: 20, marks: [] });
 * console.log(svg.startsWith("<svg")); // true
 * ```
 */
export async function renderVegaSvg(spec: VegaSpec): Promise<string> {
  await profileTime("render.init", ensureReady);
  const view = profileTime(
    "render.vega_parse",
    () => new vega.View(vega.parse(spec), { renderer: "none" }),
  );
  try {
    await profileTime("render.vega_layout", () => view.runAsync());
    // Vega writes `image-rendering: optimizeSpeed; image-rendering: pixelated` for image marks
    // with `smooth: false`; resvg knows only the first, and the second would switch it back to
    // smooth scaling. Keep the first: map-sized heat maps are then scaled as crisp blocks.
    // `opacity="1"` is SVG's default, but resvg gives each such element its own layer (a pixmap
    // of its bounding box): dropping it changes no pixel and saves memory and time.
    return (await profileTime("render.svg", () => view.toSVG())).replaceAll(
      "image-rendering: optimizeSpeed; image-rendering: pixelated;",
      "image-rendering: optimizeSpeed;",
    ).replaceAll(' opacity="1"', "");
  } finally {
    view.finalize();
  }
}

/**
 * Render a Vega spec to PNG bytes (Vega -> SVG -> resvg), at `scale` x density (default 2).
 *
 * @example Usage
 * ```ts
 * import { renderVegaPng } from "./vega_png.ts";
 * const png = await renderVegaPng({
 *   width: 120,
 *   height: 60,
 *   marks: [{ type: "text", encode: { enter: { text: { value: "hello" }, y: { value: 30 } } } }],
 * });
 * console.log(png[1] === 0x50); // true ("PNG")
 * ```
 */
export async function renderVegaPng(
  spec: VegaSpec,
  options: RenderOptions = {},
): Promise<Uint8Array> {
  return await renderSvgPng(await renderVegaSvg(spec), options);
}

/** Options of {@linkcode createChartRenderer}. */
export interface ChartRendererOptions {
  /**
   * Worker threads that rasterise the charts; 0 draws everything on the calling thread. Default:
   * one per CPU core but one, at most 4, and 0 on one or two cores (or without read access to
   * the worker's module).
   */
  workers?: number;
}

/**
 * Draws many charts at once: each {@linkcode ChartRenderer.render} makes the chart's SVG on the
 * calling thread, then rasterises it on a worker while the caller goes on (charts are independent,
 * and resvg's rasterising is most of a chart's cost). The PNGs are the same as
 * {@linkcode renderVegaPng}'s.
 */
export interface ChartRenderer extends Disposable {
  /** Worker threads in use (0: every chart is drawn on the calling thread). */
  readonly workers: number;
  /** Render a Vega spec to PNG bytes, as {@linkcode renderVegaPng} does. */
  render(spec: VegaSpec, options?: RenderOptions): Promise<Uint8Array>;
  /** Stop the workers; charts not yet drawn fail. Also what `using` calls. */
  close(): void;
}

/** The Web Worker constructor as it was when this module loaded (onnxruntime-web replaces it). */
const WebWorker: typeof Worker | undefined = globalThis.Worker;
const WORKER_URL = new URL("./_raster_worker.ts", import.meta.url);

function defaultWorkers(): number {
  // Each worker holds its own resvg WASM memory (about 100 MiB at the report's sizes). On two
  // cores one worker saves about 0.5 s of a ResNet-18 report for about 120 MiB more; the default
  // keeps to the calling thread there and leaves the trade to `--chart_workers`.
  const cores = navigator.hardwareConcurrency ?? 1;
  return cores > 2 ? Math.min(cores - 1, 4) : 0;
}

function canStartWorker(): boolean {
  if (!WebWorker) return false;
  if (WORKER_URL.protocol !== "file:") return true;
  try {
    const path = decodeURIComponent(WORKER_URL.pathname);
    return Deno.permissions.querySync({ name: "read", path }).state === "granted";
  } catch {
    return false;
  }
}

interface PendingChart {
  svg: string;
  job: { scale: number; background: string };
  resolve: (png: Uint8Array) => void;
  reject: (err: unknown) => void;
}

interface RasterThread {
  worker: Worker;
  pending: Map<number, PendingChart>;
}

class PooledChartRenderer implements ChartRenderer {
  readonly #wanted: number;
  #threads: RasterThread[] | null = null;
  #nextId = 0;
  #closed = false;

  constructor(workers: number) {
    this.#wanted = workers;
    // Start the workers now: their start-up (a Deno isolate, resvg's glue) overlaps with whatever
    // the caller computes before its first chart.
    if (workers > 0) {
      ensureReady().then((ready) => {
        if (!this.#closed) this.#start(ready);
      }).catch(() => {}); // render() reports the error
    }
  }

  get workers(): number {
    return this.#threads ? this.#threads.length : this.#wanted;
  }

  async render(spec: VegaSpec, options: RenderOptions = {}): Promise<Uint8Array> {
    if (this.#closed) throw new Error("ChartRenderer.render: the renderer is closed");
    const svg = await renderVegaSvg(spec);
    const job = { scale: checkedScale(svg, options), background: options.background ?? "white" };
    const ready = await ensureReady();
    const threads = this.#start(ready);
    if (!threads.length) return rasterizeSvg(svg, ready.fonts, job);
    const thread = threads.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = this.#nextId++;
    return await new Promise<Uint8Array>((resolve, reject) => {
      thread.pending.set(id, { svg, job, resolve, reject });
      thread.worker.postMessage({ id, svg, ...job } satisfies RasterRequest);
    });
  }

  #start(ready: Ready): RasterThread[] {
    if (this.#threads) return this.#threads;
    const threads: RasterThread[] = [];
    this.#threads = threads;
    if (this.#wanted <= 0 || !canStartWorker()) return threads;
    for (let i = 0; i < this.#wanted; i++) {
      let worker: Worker;
      try {
        worker = new WebWorker!(WORKER_URL, { type: "module" });
      } catch {
        break;
      }
      const thread: RasterThread = { worker, pending: new Map() };
      worker.onmessage = (e: MessageEvent) => {
        const msg = e.data as RasterResponse;
        const p = thread.pending.get(msg.id);
        if (!p) return;
        thread.pending.delete(msg.id);
        if ("png" in msg) p.resolve(msg.png);
        else p.reject(new Error(msg.error));
      };
      worker.onerror = (e: ErrorEvent) => {
        // A worker that cannot start (e.g. its module is not embedded in a compiled binary):
        // draw its charts here, and give it no more.
        e.preventDefault();
        worker.terminate();
        threads.splice(threads.indexOf(thread), 1);
        for (const p of thread.pending.values()) {
          try {
            p.resolve(rasterizeSvg(p.svg, ready.fonts, p.job));
          } catch (err) {
            p.reject(err);
          }
        }
        thread.pending.clear();
      };
      worker.postMessage({ module: ready.module, fonts: ready.fonts } satisfies RasterInit);
      threads.push(thread);
    }
    return threads;
  }

  close(): void {
    this.#closed = true;
    for (const t of this.#threads ?? []) {
      t.worker.terminate();
      for (const p of t.pending.values()) p.reject(new Error("the chart renderer was closed"));
      t.pending.clear();
    }
    this.#threads = [];
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * A {@linkcode ChartRenderer} that rasterises charts on worker threads (one per core by
 * default). Close it (or declare it with `using`) when done: its workers keep the process alive.
 *
 * @example Usage
 * ```ts
 * import { createChartRenderer } from "./vega_png.ts";
 * using charts = createChartRenderer({ workers: 1 });
 * const spec = { width: 40, height: 20, marks: [] };
 * const [a, b] = await Promise.all([charts.render(spec), charts.render(spec)]);
 * console.log(a[1] === 0x50 && a.length === b.length); // true
 * ```
 */
export function createChartRenderer(options: ChartRendererOptions = {}): ChartRenderer {
  return new PooledChartRenderer(options.workers ?? defaultWorkers());
}

/** Shared Vega `config` block: DejaVu Sans everywhere, quiet grid, readable sizes. */
export function vegaConfig(): vega.Config {
  return {
    background: "white",
    font: FONT_FAMILY,
    title: { font: FONT_FAMILY, fontSize: 15, fontWeight: "bold", color: "#222", offset: 8 },
    axis: {
      labelFont: FONT_FAMILY,
      titleFont: FONT_FAMILY,
      labelFontSize: 11,
      titleFontSize: 12,
      titleFontWeight: "normal",
      titleColor: "#333",
      labelColor: "#444",
      gridColor: "#e6e6e6",
      domainColor: "#888",
      tickColor: "#888",
    },
    legend: {
      labelFont: FONT_FAMILY,
      titleFont: FONT_FAMILY,
      labelFontSize: 11,
      titleFontSize: 12,
    },
    text: { font: FONT_FAMILY },
  } as vega.Config;
}

/**
 * Nearest-neighbour upscale of RGBA pixels by integer factors.
 *
 * @example Usage
 * ```ts
 * import { upscaleNearest } from "./vega_png.ts";
 * const big = upscaleNearest(new Uint8Array([1, 2, 3, 4]), 1, 1, 3, 2);
 * console.log(big.length); // 3 * 2 * 4 = 24
 * ```
 */
export function upscaleNearest(
  rgba: Uint8Array,
  width: number,
  height: number,
  fx: number,
  fy: number = fx,
): Uint8Array {
  const W = width * fx, H = height * fy;
  const out = new Uint8Array(W * H * 4);
  const src = new Uint32Array(rgba.buffer.slice(rgba.byteOffset, rgba.byteOffset + rgba.length));
  const dst = new Uint32Array(out.buffer);
  for (let y = 0; y < H; y++) {
    const row = Math.floor(y / fy) * width;
    for (let x = 0; x < W; x++) dst[y * W + x] = src[row + Math.floor(x / fx)];
  }
  return out;
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** Options of {@linkcode rgbaDataUrl}. */
export interface DataUrlOptions {
  /** Upscale (nearest neighbour, same factor on both axes) until the longer side has at least this many pixels. */
  minPixels?: number;
  /** Upscale each axis separately (nearest neighbour) to at least `[width, height]` pixels; overrides `minPixels`. */
  size?: readonly [number, number];
}

/**
 * Turn RGBA pixels into a `data:image/png;base64,...` URL for a Vega `image` mark, upscaled with
 * nearest neighbour (blocks stay blocks whatever the rasteriser's smoothing).
 *
 * @example Usage
 * ```ts
 * import { rgbaDataUrl } from "./vega_png.ts";
 * const url = rgbaDataUrl(new Uint8Array(4 * 4 * 4).fill(128), 4, 4, { minPixels: 64 });
 * console.log(url.startsWith("data:image/png;base64,")); // true
 * ```
 */
export function rgbaDataUrl(
  rgba: Uint8Array,
  width: number,
  height: number,
  options: DataUrlOptions = {},
): string {
  let fx: number, fy: number;
  if (options.size) {
    fx = Math.max(1, Math.ceil(options.size[0] / width));
    fy = Math.max(1, Math.ceil(options.size[1] / height));
  } else {
    fx = fy = Math.max(1, Math.ceil((options.minPixels ?? 0) / Math.max(width, height)));
  }
  const big = fx > 1 || fy > 1 ? upscaleNearest(rgba, width, height, fx, fy) : rgba;
  return "data:image/png;base64," +
    base64(encodePng({ data: big, width: width * fx, height: height * fy }));
}

/** Options of {@linkcode heatmapDataUrl}. */
export interface HeatmapOptions {
  /** Colormap (default viridis). */
  colormap?: ColormapName;
  /** Lower end of the colour range (default: the map's finite minimum). */
  min?: number;
  /** Upper end of the colour range (default: the map's finite maximum). */
  max?: number;
  /** Upscale (nearest neighbour) until the longer side has at least this many pixels. */
  minPixels?: number;
  /** Upscale each axis to at least `[width, height]` pixels instead. */
  size?: readonly [number, number];
}

/**
 * Colour an `H x W` map with a perceptual colormap and return it as a PNG data URL for a Vega
 * `image` mark (NaN/Inf pixels in magenta).
 *
 * @example Usage
 * ```ts
 * import { heatmapDataUrl } from "./vega_png.ts";
 * const url = heatmapDataUrl(new Float32Array([0, 1, 2, 3]), [2, 2], { minPixels: 32 });
 * console.log(url.slice(0, 22)); // "data:image/png;base64,"
 * ```
 */
export function heatmapDataUrl(
  map: Float32Array,
  shape: readonly [height: number, width: number],
  options: HeatmapOptions = {},
): string {
  const tile = renderChannelTile(map, shape, options);
  const rgba = new Uint8Array(tile.buffer, tile.byteOffset, tile.byteLength);
  return rgbaDataUrl(rgba, shape[1], shape[0], {
    minPixels: options.minPixels,
    size: options.size,
  });
}

/**
 * A horizontal colour-bar image (`width x 1` pixels of the colormap, low to high) as a data URL.
 *
 * @example Usage
 * ```ts
 * import { colorbarDataUrl } from "./vega_png.ts";
 * console.log(colorbarDataUrl("magma").startsWith("data:image/png")); // true
 * ```
 */
export function colorbarDataUrl(name: ColormapName = "viridis"): string {
  const lut = colormap(name);
  const rgba = new Uint8Array(256 * 4);
  for (let i = 0; i < 256; i++) {
    rgba.set([lut[3 * i], lut[3 * i + 1], lut[3 * i + 2], 255], 4 * i);
  }
  return rgbaDataUrl(rgba, 256, 1);
}
