/**
 * The one PNG encoder of the project: every figure (feature grids, the heat-map and colour-bar
 * images inside charts) and the frames tests write are encoded by {@linkcode encodePng}. (The
 * fixture generator, `fixtures/generator/clip_files.ts`, still writes its committed frames with
 * pngjs, so that their bytes stay as they are.)
 *
 * Written by hand over the native zlib of `node:zlib` for figures (large flat areas, repeated
 * rows): a row equal to the previous one is written with the "Up" filter (all zeros, nearly free
 * to compress), every other row with the "Sub" filter (flat runs become zeros), and the filtered
 * rows are deflated at a fast level. Opaque images are written as RGB (colour type 2).
 *
 * Why not the pngjs library (which tries every filter on every row at zlib level 9):
 * `bench/render_bench.ts` times both on the same pixels (`deno run -A bench/render_bench.ts`, on
 * the project's shared 2-core machine): a 1268 x 1676 feature grid (16 of 64 channels of
 * 56 x 56) takes 124 ms with pngjs, 15 ms here at the default level 6 and 9 ms at level 2 (what
 * `renderFeatureGrid` uses); a 1276 x 1202 chart 86 ms against 9 and 5 ms; a 504 x 504 heat-map
 * image for a chart 14 ms against 1 ms. Files are 23 % smaller to 10 % larger than pngjs'; both
 * decode to exactly the same pixels.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { crc32, deflateSync } from "node:zlib";
import type { RgbaImage } from "../core/image.ts";
import { profileAdd } from "../core/profile.ts";

export type { RgbaImage };

/** Options of {@linkcode encodePng}. */
export interface PngOptions {
  /** Keep the alpha channel (default: only when some pixel is not opaque). */
  alpha?: boolean;
  /** zlib level 0..9 (default 6; 2 is about 3x faster for 20 % larger figure files). */
  level?: number;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  dv.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)) >>> 0);
  return out;
}

let scratch = new Uint8Array(0);

/**
 * A zero-filled buffer of `n` bytes, reused between calls (the encoder is synchronous, so no
 * two calls share it): clearing warm memory is several times cheaper than the page faults of a
 * fresh multi-megabyte allocation.
 */
function scratchZeros(n: number): Uint8Array {
  if (scratch.length < n) {
    scratch = new Uint8Array(n);
    return scratch;
  }
  const view = scratch.subarray(0, n);
  view.fill(0);
  return view;
}

function allOpaque(words: Uint32Array): boolean {
  for (let i = 0; i < words.length; i++) if (words[i] < 0xff000000) return false;
  return true;
}

/**
 * Filter rows into `out`, which must be zero-filled (one filter byte + `width * bpp` bytes per
 * row): a row equal to the previous one gets "Up" (all zeros), any other row "Sub", where a
 * pixel equal to its left neighbour is all zeros too, so only pixels that differ from their left
 * neighbour are written.
 */
function filterRows(
  rgba: Uint8Array,
  size: readonly [number, number],
  bpp: 3 | 4,
  out: Uint8Array,
): void {
  const [width, height] = size;
  const words = new Uint32Array(rgba.buffer, rgba.byteOffset, width * height);
  // Row equality with Buffer.compare (native memcmp): ~8x faster than a JS loop over words.
  const bytes = Buffer.from(rgba.buffer, rgba.byteOffset, width * height * 4);
  const rowBytes = width * 4;
  const stride = width * bpp + 1;
  for (let y = 0; y < height; y++) {
    const row = y * width, o = y * stride;
    const r0 = y * rowBytes;
    if (y > 0 && bytes.compare(bytes, r0 - rowBytes, r0, r0, r0 + rowBytes) === 0) {
      out[o] = 2; // Up
      continue;
    }
    out[o] = 1; // Sub
    let prev = 0;
    for (let x = 0, d = o + 1; x < width; x++, d += bpp) {
      const w = words[row + x];
      if (w === prev) continue;
      out[d] = (w & 255) - (prev & 255);
      out[d + 1] = ((w >>> 8) & 255) - ((prev >>> 8) & 255);
      out[d + 2] = ((w >>> 16) & 255) - ((prev >>> 16) & 255);
      if (bpp === 4) out[d + 3] = (w >>> 24) - (prev >>> 24);
      prev = w;
    }
  }
}

/**
 * Encode 8-bit RGBA pixels as PNG file bytes (see the module doc for the filters and level).
 * Decoding the bytes gives back exactly `image.data` (as RGBA; an opaque image is stored as RGB).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { encodePng } from "./png.ts";
 * const data = new Uint8Array(8 * 8 * 4).fill(255);
 * const png = encodePng({ width: 8, height: 8, data });
 * assert.deepStrictEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
 * assert.strictEqual(png[25], 2); // colour type RGB: the image is opaque
 * assert.strictEqual(encodePng({ width: 8, height: 8, data }, { alpha: true })[25], 6); // RGBA
 * ```
 */
export function encodePng(image: RgbaImage, options: PngOptions = {}): Uint8Array {
  const { width, height } = image;
  if (
    !Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0 ||
    image.data.length !== width * height * 4
  ) {
    throw new RangeError(
      `encodePng: expected ${width}x${height}x4 = ${width * height * 4} RGBA bytes, ` +
        `got ${image.data.length}`,
    );
  }
  const rgba = image.data.byteOffset % 4 === 0 ? image.data : image.data.slice();
  const words = new Uint32Array(rgba.buffer, rgba.byteOffset, width * height);
  const bpp = (options.alpha ?? !allOpaque(words)) ? 4 : 3;
  const t0 = performance.now();
  const filtered = scratchZeros(height * (width * bpp + 1));
  filterRows(rgba, [width, height], bpp, filtered);
  const idat = deflateSync(filtered, { level: options.level ?? 6 });
  profileAdd("render.png_encode", performance.now() - t0);
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr.set([8, bpp === 4 ? 6 : 2, 0, 0, 0], 8);
  const parts = [
    new Uint8Array(SIGNATURE),
    chunk("IHDR", ihdr),
    chunk("IDAT", new Uint8Array(idat.buffer, idat.byteOffset, idat.byteLength)),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, o), o += p.length;
  return out;
}
