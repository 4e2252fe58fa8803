/**
 * A tiny RGBA raster canvas for drawing figures directly in TypeScript (no SVG, no browser):
 * opaque background, alpha-blended axis-aligned rectangles with exact fractional coverage
 * (so thin strokes at half-pixel positions look like resvg's) and anti-aliased circle outlines.
 * Used by `feature_grid.ts` (which draws the map tiles itself); text comes from `glyph_atlas.ts`.
 *
 * Coordinates are device pixels (floats allowed); pixel `(x, y)` covers `[x, x+1) x [y, y+1)`.
 * Blending is plain sRGB-space "source over", the same arithmetic resvg uses.
 *
 * @module
 */

import type { RgbaImage } from "../core/image.ts";

export type { RgbaImage };

/** An RGB colour, each channel 0..255. */
export type Rgb = readonly [number, number, number];

/** An RGBA image with a 32-bit word view of its pixels (little-endian: R, G, B, A bytes). */
export interface Canvas extends RgbaImage {
  /** The same pixels as words (`r | g << 8 | b << 16 | a << 24`). */
  words: Uint32Array;
}

/** A rectangle in device pixels. */
export interface Rect {
  /** Left edge. */
  x: number;
  /** Top edge. */
  y: number;
  /** Width (rectangles with width or height <= 0 draw nothing). */
  width: number;
  /** Height. */
  height: number;
}

/** How to paint: colour and opacity. */
export interface Paint {
  /** Colour. */
  color: Rgb;
  /** Opacity 0..1 (default 1). */
  alpha?: number;
}

/** Paint of an outline. */
export interface StrokePaint extends Paint {
  /** Line width in device pixels, centred on the outline. */
  lineWidth: number;
}

/**
 * Parse `#rgb` or `#rrggbb`.
 *
 * @example Usage
 * ```ts
 * import { hexColor } from "./raster_canvas.ts";
 * console.log(hexColor("#ff1f5a")); // [255, 31, 90]
 * ```
 */
export function hexColor(hex: string): Rgb {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(hex);
  if (!m) throw new RangeError(`hexColor: "${hex}" is not #rgb or #rrggbb`);
  const h = m[1].length === 3 ? [...m[1]].map((c) => c + c).join("") : m[1];
  return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)) as unknown as Rgb;
}

/**
 * Pack an RGB colour into an opaque pixel word.
 *
 * @example Usage
 * ```ts
 * import { rgbWord } from "./raster_canvas.ts";
 * console.log(rgbWord([255, 255, 255]).toString(16)); // "ffffffff"
 * ```
 */
export function rgbWord(color: Rgb): number {
  return (color[0] | (color[1] << 8) | (color[2] << 16) | (255 << 24)) >>> 0;
}

/**
 * A new opaque canvas filled with `background` (default white), in `options.buffer` when it is
 * large enough (reusing warm memory is cheaper than a fresh multi-megabyte allocation).
 *
 * @example Usage
 * ```ts
 * import { createCanvas } from "./raster_canvas.ts";
 * const c = createCanvas(4, 2);
 * console.log(c.data.length, c.data[0]); // 32 255
 * ```
 */
export function createCanvas(
  width: number,
  height: number,
  options: { background?: Rgb; buffer?: ArrayBuffer } = {},
): Canvas {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new RangeError(`createCanvas: size ${width}x${height} must be positive integers`);
  }
  const [r, g, b] = options.background ?? [255, 255, 255];
  const n = width * height * 4;
  const data = options.buffer && options.buffer.byteLength >= n
    ? new Uint8Array(options.buffer, 0, n)
    : new Uint8Array(n);
  const words = new Uint32Array(data.buffer, 0, width * height);
  // White is one byte value: a plain memset is several times faster than a word fill.
  if (r === g && g === b && r === 255) data.fill(255);
  else words.fill(rgbWord([r, g, b]));
  return { width, height, words, data };
}

/** Blend `color` over pixel `i` (byte offset of R) with coverage `a` in 0..1. */
function blendAt(data: Uint8Array, o: number, color: Rgb, a: number): void {
  if (a <= 0) return;
  if (a >= 1) {
    data[o] = color[0];
    data[o + 1] = color[1];
    data[o + 2] = color[2];
    return;
  }
  data[o] = Math.round(data[o] + (color[0] - data[o]) * a);
  data[o + 1] = Math.round(data[o + 1] + (color[1] - data[o + 1]) * a);
  data[o + 2] = Math.round(data[o + 2] + (color[2] - data[o + 2]) * a);
}

/**
 * Fill a rectangle with exact fractional-coverage anti-aliasing at its edges.
 *
 * @example Usage
 * ```ts
 * import { createCanvas, fillRect } from "./raster_canvas.ts";
 * const c = createCanvas(4, 4);
 * fillRect(c, { x: 1, y: 1, width: 2, height: 0.5 }, { color: [0, 0, 0] });
 * console.log(c.data[4 * (1 * 4 + 1)]); // 128 (half-covered pixel)
 * ```
 */
export function fillRect(canvas: Canvas, rect: Rect, paint: Paint): void {
  const alpha = paint.alpha ?? 1;
  const x0 = Math.max(0, rect.x), x1 = Math.min(canvas.width, rect.x + rect.width);
  const y0 = Math.max(0, rect.y), y1 = Math.min(canvas.height, rect.y + rect.height);
  if (!(x1 > x0 && y1 > y0 && alpha > 0)) return;
  const px0 = Math.floor(x0), px1 = Math.ceil(x1), py0 = Math.floor(y0), py1 = Math.ceil(y1);
  const { data, width } = canvas;
  for (let py = py0; py < py1; py++) {
    const cy = Math.min(py + 1, y1) - Math.max(py, y0);
    for (let px = px0; px < px1; px++) {
      const cx = Math.min(px + 1, x1) - Math.max(px, x0);
      blendAt(data, 4 * (py * width + px), paint.color, cx * cy * alpha);
    }
  }
}

/**
 * Outline a rectangle (the stroke is centred on the rectangle's edges, like SVG).
 *
 * @example Usage
 * ```ts
 * import { createCanvas, strokeRect } from "./raster_canvas.ts";
 * const c = createCanvas(8, 8);
 * strokeRect(c, { x: 2, y: 2, width: 4, height: 4 }, { color: [0, 0, 0], lineWidth: 2 });
 * console.log(c.data[4 * (2 * 8 + 4)], c.data[4 * (4 * 8 + 4)]); // 0 255
 * ```
 */
export function strokeRect(canvas: Canvas, rect: Rect, paint: StrokePaint): void {
  const h = paint.lineWidth / 2;
  const { x, y, width: w, height: ht } = rect;
  fillRect(canvas, { x: x - h, y: y - h, width: w + 2 * h, height: 2 * h }, paint);
  fillRect(canvas, { x: x - h, y: y + ht - h, width: w + 2 * h, height: 2 * h }, paint);
  fillRect(canvas, { x: x - h, y: y + h, width: 2 * h, height: ht - 2 * h }, paint);
  fillRect(canvas, { x: x + w - h, y: y + h, width: 2 * h, height: ht - 2 * h }, paint);
}

/**
 * Draw an anti-aliased circle outline of radius `r` centred at `(cx, cy)`.
 *
 * @example Usage
 * ```ts
 * import { createCanvas, strokeCircle } from "./raster_canvas.ts";
 * const c = createCanvas(20, 20);
 * strokeCircle(c, { cx: 10, cy: 10, r: 6 }, { color: [255, 0, 0], lineWidth: 2 });
 * console.log(c.data[4 * (10 * 20 + 15)], c.data[4 * (10 * 20 + 15) + 1]); // 255 0 (on the ring)
 * ```
 */
export function strokeCircle(
  canvas: Canvas,
  circle: { cx: number; cy: number; r: number },
  paint: StrokePaint,
): void {
  const { cx, cy, r } = circle;
  const half = paint.lineWidth / 2, alpha = paint.alpha ?? 1;
  const reach = r + half + 1;
  const x0 = Math.max(0, Math.floor(cx - reach)),
    x1 = Math.min(canvas.width, Math.ceil(cx + reach));
  const y0 = Math.max(0, Math.floor(cy - reach)),
    y1 = Math.min(canvas.height, Math.ceil(cy + reach));
  const { data, width } = canvas;
  for (let py = y0; py < y1; py++) {
    const dy = py + 0.5 - cy;
    for (let px = x0; px < x1; px++) {
      const dx = px + 0.5 - cx;
      // Distance of the pixel centre from the ring's centre line -> coverage of a 1-px box.
      const d = Math.abs(Math.sqrt(dx * dx + dy * dy) - r);
      const cov = Math.min(1, Math.max(0, half + 0.5 - d), 2 * half);
      if (cov > 0) blendAt(data, 4 * (py * width + px), paint.color, cov * alpha);
    }
  }
}
