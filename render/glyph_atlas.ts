/**
 * Text for raster figures without rasterising SVG per figure: each glyph is drawn ONCE per
 * process by resvg (the real DejaVu Sans, regular and bold, with the same fonts and options as
 * `renderSvgPng`) into an atlas, cut into per-glyph coverage masks, and then stamped into a
 * {@linkcode Canvas} with alpha blending. Every glyph exists at {@linkcode SUBPIXEL_PHASES}
 * horizontal sub-pixel offsets, so text keeps the font's real advance widths (from
 * `font_metrics.ts`) instead of snapping every letter to whole pixels. Kerning is not applied.
 *
 * How the atlas is made: one SVG with one `<text>` per glyph, drawn stretched 4x horizontally,
 * so that each sub-pixel phase is a box average of 4 columns (one drawing per glyph instead of
 * four); it is rasterised with `Resvg` directly to raw pixels (resvg's WASM module is
 * initialised by `vega_png.ts`), which avoids a PNG encode + decode that costs ~10x the drawing.
 *
 * Glyphs are rendered in batches: {@linkcode preloadGlyphAtlas} renders a chosen character set
 * per style in one resvg pass, and {@linkcode drawText} renders any glyph it lacks the first time
 * it is needed. The cache lives for the process (a module-level promise chain per scale).
 * {@linkcode exportGlyphAtlas} / {@linkcode installGlyphAtlas} serialise an atlas to JSON and
 * back, so that a tool can embed a pre-rendered one (`grid_glyphs.json`) and never start resvg
 * (its start-up and V8's background compilation of its WASM cost ~0.5-1.5 s of CPU).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { deflateSync, inflateSync } from "node:zlib";
import type { RgbaImage } from "../core/image.ts";
import { type FontMeasurer, fontMeasurer } from "./font_metrics.ts";
import type { Canvas, Rgb } from "./raster_canvas.ts";
// vega_png.ts pulls in Vega: load it only when a glyph atlas must be drawn at run time.
const render = () => import("./vega_png.ts");
const FONT_FAMILY = "DejaVu Sans";

/** Horizontal sub-pixel positions each glyph is pre-rendered at. */
export const SUBPIXEL_PHASES = 4;

/** Characters {@linkcode preloadGlyphAtlas} renders by default (printable ASCII + a few more). */
export const ATLAS_CHARSET: string =
  Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))
    .join("") + "…·×′◯−–";

/** Font size and weight of a text run. */
export interface TextStyle {
  /** Font size in SVG pixels (multiplied by the scale for device pixels). */
  size: number;
  /** Bold weight (default regular). */
  bold?: boolean;
}

/** One line of text to draw. */
export interface TextRun extends TextStyle {
  /** The text (one line). */
  text: string;
  /** Anchor x in SVG pixels. */
  x: number;
  /** Baseline y in SVG pixels. */
  y: number;
  /** Colour. */
  color: Rgb;
  /** `start` (default): text begins at x; `end`: text ends at x; `middle`: centred on x. */
  anchor?: "start" | "middle" | "end";
}

/** A glyph's coverage mask, positioned relative to its pen position (integer x, baseline). */
interface Glyph {
  ox: number;
  oy: number;
  w: number;
  h: number;
  mask: Uint8Array;
  /** Advance width in em. */
  adv: number;
}

/**
 * A glyph's coverage drawn stretched {@linkcode SUBPIXEL_PHASES} x horizontally, cropped to its
 * ink, positioned relative to its pen origin (`ox` in stretched pixels); `w = 0` for no ink.
 */
interface Crop {
  ox: number;
  oy: number;
  w: number;
  h: number;
  cov: Uint8Array;
}

interface ScaleCache {
  glyphs: Map<string, Glyph>;
  chain: Promise<void>;
}

const caches = new Map<number, ScaleCache>();
let fontsPromise: Promise<Uint8Array[]> | null = null;
let resvgPromise: Promise<Uint8Array[]> | null = null;
let metricsPromise: Promise<[FontMeasurer, FontMeasurer]> | null = null;

/** The regular and bold DejaVu Sans files (from the npm package, via `vega_png.ts`). */
function fonts(): Promise<Uint8Array[]> {
  if (!fontsPromise) {
    fontsPromise = render().then((r) => r.loadRenderAssets()).then((assets) =>
      assets.fonts.slice(0, 2)
    );
    fontsPromise.catch(() => fontsPromise = null);
  }
  return fontsPromise;
}

/**
 * The fonts, once resvg's WASM module is initialised (by `vega_png.ts`, through a 1 x 1
 * `renderSvgPng`, so that there is a single initialisation).
 */
function resvgFonts(): Promise<Uint8Array[]> {
  if (!resvgPromise) {
    resvgPromise = (async () => {
      const [, f] = await Promise.all([
        render().then((r) =>
          r.renderSvgPng('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>', {
            scale: 1,
          })
        ),
        fonts(),
      ]);
      return f;
    })();
    resvgPromise.catch(() => resvgPromise = null);
  }
  return resvgPromise;
}

function metrics(): Promise<[FontMeasurer, FontMeasurer]> {
  if (!metricsPromise) {
    metricsPromise = fonts().then((f) => {
      const regular = fontMeasurer(f[0]);
      return [regular, f[1] ? fontMeasurer(f[1]) : regular];
    });
    metricsPromise.catch(() => metricsPromise = null);
  }
  return metricsPromise;
}

/**
 * Rasterise an SVG with resvg to raw RGBA pixels on white: the same renderer and fonts as
 * `renderSvgPng`, without its PNG encode and our decode (10x the cost of drawing the atlas).
 */
async function rasterize(
  svg: string,
  scale: number,
  fontBuffers: Uint8Array[],
): Promise<RgbaImage> {
  // Loaded on first use: drawing from the shipped atlas (every `inspect` grid) needs no resvg.
  const { Resvg } = await import("npm:@resvg/resvg-wasm@2.6.2");
  const resvg = new Resvg(svg, {
    fitTo: { mode: "zoom", value: scale },
    background: "white",
    font: {
      fontBuffers,
      loadSystemFonts: false,
      defaultFontFamily: FONT_FAMILY,
      sansSerifFamily: FONT_FAMILY,
    },
  });
  try {
    const image = resvg.render();
    try {
      return { width: image.width, height: image.height, data: image.pixels };
    } finally {
      image.free();
    }
  } finally {
    resvg.free();
  }
}

const styleKey = (s: TextStyle): string => `${s.bold ? "b" : "r"}${s.size}`;
const glyphKey = (style: string, phase: number, ch: string): string => `${style}|${phase}|${ch}`;

const esc = (s: string): string =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

interface Job {
  style: TextStyle;
  ch: string;
}

/** Characters that are invisible or cannot appear in XML (control codes, lone surrogates). */
const UNDRAWABLE = /[\p{Cc}\p{Cs}\uFFFE\uFFFF]/u;

const NO_INK: Crop = { ox: 0, oy: 0, w: 0, h: 0, cov: new Uint8Array(0) };

/**
 * Draw `jobs` in one resvg pass, each glyph stretched {@linkcode SUBPIXEL_PHASES} x horizontally
 * (`matrix(4 0 0 1 ...)`), and crop each glyph's coverage (keys: `styleKey|char`).
 */
async function renderCrops(scale: number, jobs: readonly Job[]): Promise<Map<string, Crop>> {
  const P = SUBPIXEL_PHASES;
  const measure = await metrics();
  const out = new Map<string, Crop>();
  const drawn: {
    key: string;
    x: number;
    y: number;
    w: number;
    h: number;
    ox: number;
    base: number;
  }[] = [];
  const maxW = 4096;
  let cx = 0, cy = 0, rowH = 0;
  const texts: string[] = [];
  for (const job of jobs) {
    const key = `${styleKey(job.style)}|${job.ch}`;
    if (job.ch.trim() === "" || UNDRAWABLE.test(job.ch)) {
      out.set(key, NO_INK);
      continue;
    }
    const S = job.style.size * scale;
    const adv = measure[job.style.bold ? 1 : 0].width(job.ch, 1);
    // Cell (in stretched pixels): the advance box plus room for overhangs and a gap.
    const padL = P * (Math.ceil(0.15 * S) + 2), base = Math.ceil(0.98 * S) + 2;
    const w = padL + P * (Math.ceil(S * adv + 0.15 * S) + 2);
    const h = base + Math.ceil(0.27 * S) + 2;
    if (cx + w > maxW) cx = 0, cy += rowH, rowH = 0;
    drawn.push({ key, x: cx, y: cy, w, h, ox: cx + padL, base: cy + base });
    texts.push(
      `<text transform="matrix(${P} 0 0 1 ${(cx + padL) / scale} ${(cy + base) / scale})" ` +
        `font-size="${job.style.size}" font-weight="${job.style.bold ? "bold" : "normal"}">` +
        `${esc(job.ch)}</text>`,
    );
    cx += w;
    rowH = Math.max(rowH, h);
  }
  if (drawn.length === 0) return out;
  const width = Math.ceil(drawn.reduce((m, d) => Math.max(m, d.x + d.w), 0) / scale) + 1;
  const height = Math.ceil((cy + rowH) / scale) + 1;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans" fill="#000">${
      texts.join("")
    }</svg>`;
  const img = await rasterize(svg, scale, await resvgFonts());
  const { data, width: iw } = img;
  const words = new Uint32Array(data.buffer, data.byteOffset, iw * img.height);
  for (const d of drawn) {
    let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
    const yEnd = Math.min(img.height, d.y + d.h), xEnd = Math.min(iw, d.x + d.w);
    for (let y = d.y; y < yEnd; y++) {
      const row = y * iw;
      let a = d.x;
      while (a < xEnd && words[row + a] === 0xffffffff) a++;
      if (a === xEnd) continue;
      let b = xEnd - 1;
      while (words[row + b] === 0xffffffff) b--;
      if (a < x0) x0 = a;
      if (b > x1) x1 = b;
      if (y0 === Infinity) y0 = y;
      y1 = y;
    }
    if (x1 < 0) {
      out.set(d.key, NO_INK);
      continue;
    }
    const w = x1 - x0 + 1, h = y1 - y0 + 1;
    const cov = new Uint8Array(w * h);
    // Coverage of black text on white: 255 - red (resvg's anti-aliasing is grey).
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) cov[y * w + x] = 255 - data[4 * ((y0 + y) * iw + x0 + x)];
    }
    out.set(d.key, { ox: x0 - d.ox, oy: y0 - d.base, w, h, cov });
  }
  return out;
}

/**
 * The glyph at each sub-pixel phase: output column `X` (relative to the pen) of phase `p` is
 * the box average of the stretched columns `P X - p .. P X - p + P - 1`, i.e. the coverage of
 * the glyph shifted right by `p / P` pixel.
 */
function phasesOf(crop: Crop, adv: number): Glyph[] {
  const P = SUBPIXEL_PHASES;
  const out: Glyph[] = [];
  for (let p = 0; p < P; p++) {
    if (crop.w === 0) {
      out.push({ ox: 0, oy: 0, w: 0, h: 0, mask: NO_INK.cov, adv });
      continue;
    }
    const X0 = Math.floor((crop.ox + p) / P), X1 = Math.floor((crop.ox + crop.w - 1 + p) / P);
    const w = X1 - X0 + 1, h = crop.h;
    const mask = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) {
      const row = y * crop.w;
      for (let X = 0; X < w; X++) {
        const c0 = P * (X0 + X) - p - crop.ox;
        let sum = 0;
        for (let k = 0; k < P; k++) {
          const c = c0 + k;
          if (c >= 0 && c < crop.w) sum += crop.cov[row + c];
        }
        mask[y * w + X] = Math.round(sum / P);
      }
    }
    out.push({ ox: X0, oy: crop.oy, w, h, mask, adv });
  }
  return out;
}

function addGlyph(cache: ScaleCache, style: TextStyle, ch: string, crop: Crop, adv: number): void {
  const sk = styleKey(style);
  phasesOf(crop, adv).forEach((g, p) => cache.glyphs.set(glyphKey(sk, p, ch), g));
}

const advanceOf = (measure: [FontMeasurer, FontMeasurer], style: TextStyle, ch: string): number =>
  UNDRAWABLE.test(ch) ? 0 : measure[style.bold ? 1 : 0].width(ch, 1);

function cacheOf(scale: number): ScaleCache {
  let c = caches.get(scale);
  if (!c) {
    c = { glyphs: new Map(), chain: Promise.resolve() };
    caches.set(scale, c);
  }
  return c;
}

/** Make sure every glyph of `runs` is in the cache (one resvg pass for all missing ones). */
async function ensureGlyphs(
  scale: number,
  runs: readonly (TextStyle & { text: string })[],
): Promise<ScaleCache> {
  const cache = cacheOf(scale);
  const missing = (): Job[] => {
    const jobs: Job[] = [];
    const queued = new Set<string>();
    for (const run of runs) {
      for (const ch of run.text) {
        const key = glyphKey(styleKey(run), 0, ch);
        if (cache.glyphs.has(key) || queued.has(key)) continue;
        queued.add(key);
        jobs.push({ style: run, ch });
      }
    }
    return jobs;
  };
  // Fast path: everything cached (no resvg, no fonts needed).
  if (missing().length === 0) return cache;
  const work = cache.chain.then(async () => {
    const jobs = missing();
    if (jobs.length === 0) return;
    const crops = await renderCrops(scale, jobs);
    const measure = await metrics();
    for (const job of jobs) {
      const crop = crops.get(`${styleKey(job.style)}|${job.ch}`) ?? NO_INK;
      addGlyph(cache, job.style, job.ch, crop, advanceOf(measure, job.style, job.ch));
    }
  });
  cache.chain = work.catch(() => {});
  await work;
  return cache;
}

/**
 * A glyph atlas as JSON-friendly data (see {@linkcode exportGlyphAtlas}): per style, the
 * characters, their advance widths, their ink boxes in stretched pixels and their stretched
 * coverage bytes. Binary fields are base64 strings so that the JSON is compact and stable under
 * `deno fmt`.
 */
export interface GlyphAtlasData {
  /** Always `"feature-inspector/glyph-atlas"`. */
  format: string;
  /** Format version (1). */
  version: number;
  /** Device pixels per SVG pixel the glyphs were drawn at. */
  scale: number;
  /** Horizontal stretch of the coverage (= {@linkcode SUBPIXEL_PHASES}). */
  phases: number;
  /** The styles. */
  styles: {
    /** Font size in SVG pixels. */
    size: number;
    /** Bold weight. */
    bold: boolean;
    /** The characters, in order (iterate by code point). */
    chars: string;
    /** Base64 of little-endian float64 advance widths in em, one per character. */
    advances: string;
    /** Base64 of little-endian int16 `[ox, oy, w, h]` per character (stretched px, from the pen). */
    boxes: string;
    /** Base64 of the deflated concatenation of every character's `w * h` coverage bytes. */
    coverage: string;
  }[];
}

const b64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");

/** Decode base64 into a fresh, aligned byte array. */
const unb64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "base64"));

const ATLAS_FORMAT = "feature-inspector/glyph-atlas";

/**
 * Render the glyphs of `styles` with resvg (freshly, ignoring the cache) and return them as
 * {@linkcode GlyphAtlasData}, e.g. to embed a pre-rendered atlas in the tool so that a process
 * never has to start resvg ({@linkcode installGlyphAtlas}). Deterministic: the same resvg
 * WASM module and fonts give the same bytes.
 *
 * @example Usage
 * ```ts
 * import { exportGlyphAtlas } from "./glyph_atlas.ts";
 * const data = await exportGlyphAtlas([{ size: 10, chars: "0123456789" }], { scale: 2 });
 * console.log(data.styles[0].chars.length); // 10
 * ```
 */
export async function exportGlyphAtlas(
  styles: readonly AtlasStyle[],
  options: { scale?: number } = {},
): Promise<GlyphAtlasData> {
  const scale = options.scale ?? 2;
  const jobs: Job[] = [];
  const perStyle = styles.map((s) => {
    const style = { size: s.size, bold: s.bold ?? false };
    const chars = [...new Set(s.chars ?? ATLAS_CHARSET)];
    for (const ch of chars) jobs.push({ style, ch });
    return { style, chars };
  });
  const crops = await renderCrops(scale, jobs);
  const measure = await metrics();
  return {
    format: ATLAS_FORMAT,
    version: 1,
    scale,
    phases: SUBPIXEL_PHASES,
    styles: perStyle.map(({ style, chars }) => {
      const boxes = new Int16Array(4 * chars.length);
      const parts: Uint8Array[] = [];
      chars.forEach((ch, i) => {
        const c = crops.get(`${styleKey(style)}|${ch}`) ?? NO_INK;
        boxes.set([c.ox, c.oy, c.w, c.h], 4 * i);
        parts.push(c.cov);
      });
      const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) all.set(p, o), o += p.length;
      const advances = new Float64Array(chars.map((ch) => advanceOf(measure, style, ch)));
      return {
        size: style.size,
        bold: style.bold,
        chars: chars.join(""),
        advances: b64(new Uint8Array(advances.buffer)),
        boxes: b64(new Uint8Array(boxes.buffer)),
        coverage: b64(deflateSync(all, { level: 9 })),
      };
    }),
  };
}

/**
 * Put a pre-rendered atlas (from {@linkcode exportGlyphAtlas}) into the glyph cache of its
 * scale, synchronously: {@linkcode drawText} then needs neither resvg nor the font files for
 * those glyphs (others are still rendered on demand).
 *
 * @example Usage
 * ```ts
 * import { exportGlyphAtlas, installGlyphAtlas } from "./glyph_atlas.ts";
 * installGlyphAtlas(await exportGlyphAtlas([{ size: 10, chars: "0123456789" }]));
 * ```
 */
export function installGlyphAtlas(data: GlyphAtlasData): void {
  if (data.format !== ATLAS_FORMAT || data.version !== 1 || data.phases !== SUBPIXEL_PHASES) {
    throw new RangeError(
      `installGlyphAtlas: not a version-1 glyph atlas with ${SUBPIXEL_PHASES} phases ` +
        `(format ${data.format}, version ${data.version}, phases ${data.phases}); ` +
        `regenerate it with exportGlyphAtlas`,
    );
  }
  const cache = cacheOf(data.scale);
  for (const s of data.styles) {
    const chars = [...s.chars];
    const all = new Uint8Array(inflateSync(unb64(s.coverage)));
    const advances = new Float64Array(unb64(s.advances).buffer);
    const boxes = new Int16Array(unb64(s.boxes).buffer);
    if (advances.length !== chars.length || boxes.length !== 4 * chars.length) {
      throw new RangeError(
        `installGlyphAtlas: style ${styleKey(s)} has ${chars.length} characters but ` +
          `${advances.length} advances and ${boxes.length / 4} boxes; regenerate the atlas`,
      );
    }
    let o = 0;
    chars.forEach((ch, i) => {
      const [ox, oy, w, h] = boxes.subarray(4 * i, 4 * i + 4);
      addGlyph(cache, s, ch, { ox, oy, w, h, cov: all.subarray(o, o + w * h) }, advances[i]);
      o += w * h;
    });
    if (o !== all.length) {
      throw new RangeError(
        `installGlyphAtlas: style ${styleKey(s)} has ${all.length} coverage bytes, boxes need ` +
          `${o}; regenerate the atlas`,
      );
    }
  }
}

/** A style and the characters to pre-render for it. */
export interface AtlasStyle extends TextStyle {
  /** Characters to render now (default {@linkcode ATLAS_CHARSET}). */
  chars?: string;
}

/**
 * Render the glyphs of `styles` at `scale` now, in one resvg pass, so that later
 * {@linkcode drawText} calls find them cached (characters not pre-rendered are rendered by the
 * first `drawText` that needs them). The atlas area, hence the cost, grows with the number of
 * characters and the font size: pre-render only what a figure can use.
 *
 * @example Usage
 * ```ts
 * import { preloadGlyphAtlas } from "./glyph_atlas.ts";
 * await preloadGlyphAtlas([{ size: 12, bold: true, chars: "ch 0123456789" }, { size: 10 }]);
 * ```
 */
export async function preloadGlyphAtlas(
  styles: readonly AtlasStyle[],
  options: { scale?: number } = {},
): Promise<void> {
  await ensureGlyphs(
    options.scale ?? 2,
    styles.map((s) => ({ size: s.size, bold: s.bold, text: s.chars ?? ATLAS_CHARSET })),
  );
}

/**
 * Width of `text` in SVG pixels at `style` (the font's advance widths, no kerning).
 *
 * @example Usage
 * ```ts
 * import { measureText } from "./glyph_atlas.ts";
 * console.log(Math.round(await measureText("ch 3", { size: 12, bold: true }))); // about 28
 * ```
 */
export async function measureText(text: string, style: TextStyle): Promise<number> {
  const m = await metrics();
  return m[style.bold ? 1 : 0].width(text, style.size);
}

/**
 * Draw text runs into `canvas` (coordinates in SVG pixels, times `scale` for the canvas),
 * alpha-blending each glyph's coverage with the run's colour.
 *
 * @example Usage
 * ```ts
 * import { createCanvas } from "./raster_canvas.ts";
 * import { drawText } from "./glyph_atlas.ts";
 * const canvas = createCanvas(200, 40);
 * await drawText(canvas, [{ text: "ch 3", x: 4, y: 14, size: 12, bold: true, color: [34, 34, 34] }]);
 * ```
 */
export async function drawText(
  canvas: Canvas,
  runs: readonly TextRun[],
  options: { scale?: number } = {},
): Promise<void> {
  const scale = options.scale ?? 2;
  const cache = await ensureGlyphs(scale, runs);
  const { data, width, height } = canvas;
  const P = SUBPIXEL_PHASES;
  for (const run of runs) {
    const sk = styleKey(run);
    const S = run.size * scale;
    let pen = run.x * scale;
    if (run.anchor === "end" || run.anchor === "middle") {
      let w = 0;
      for (const ch of run.text) w += (cache.glyphs.get(glyphKey(sk, 0, ch))?.adv ?? 0) * S;
      pen -= run.anchor === "end" ? w : w / 2;
    }
    const baseline = Math.round(run.y * scale);
    const [cr, cg, cb] = run.color;
    for (const ch of run.text) {
      let ix = Math.floor(pen);
      let phase = Math.round((pen - ix) * P);
      if (phase === P) ix++, phase = 0;
      const g = cache.glyphs.get(glyphKey(sk, phase, ch));
      if (!g) continue;
      pen += g.adv * S;
      if (g.w === 0) continue;
      const gx = ix + g.ox, gy = baseline + g.oy;
      for (let y = 0; y < g.h; y++) {
        const py = gy + y;
        if (py < 0 || py >= height) continue;
        for (let x = 0; x < g.w; x++) {
          const a = g.mask[y * g.w + x];
          const px = gx + x;
          if (a === 0 || px < 0 || px >= width) continue;
          const o = 4 * (py * width + px), na = 255 - a;
          data[o] = (data[o] * na + cr * a + 127) / 255;
          data[o + 1] = (data[o + 1] * na + cg * a + 127) / 255;
          data[o + 2] = (data[o + 2] * na + cb * a + 127) / 255;
        }
      }
    }
  }
}
