/**
 * Image decoding and antialiased resizing for video frames (PNG encoding is
 * `encodePng` in `render/png.ts`).
 *
 * - {@linkcode decodeImage} reads PNG (pngjs) and JPEG (jpeg-js) bytes, detected by their magic
 *   bytes rather than the file name, into 8-bit RGBA.
 * - {@linkcode resizeRgb} resizes the RGB channels to a new width and height with PIL's
 *   separable triangle ("bilinear") filter, antialiased when downscaling, into float CHW planes.
 *
 * @module
 */

import * as jpeg from "npm:jpeg-js@0.4.4";
import { InspectorError } from "../core/errors.ts";
import type { RgbaImage } from "../core/image.ts";
import { decodePngStrict, pngSize } from "./_png_decode.ts";

export type { RgbaImage };

/**
 * The most pixels (width x height) a PNG or JPEG frame may declare: 100 megapixels, jpeg-js'
 * own default limit, applied to PNGs too. A larger frame is refused from its header, before any
 * pixel is decoded (a 57-byte PNG can declare 60000x60000 pixels, 14 GB of RGBA).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_FRAME_PIXELS } from "./image_io.ts";
 * assert.ok(7680 * 4320 <= MAX_FRAME_PIXELS); // an 8K frame fits
 * ```
 */
export const MAX_FRAME_PIXELS = 100_000_000;

/** A float RGB image stored as three planes (CHW): `data[c * height * width + y * width + x]`. */
export interface PlanarRgb {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** The three planes R, G, B; values in the source's 0..255 range, not rounded. */
  data: Float32Array;
}

/** Options of {@linkcode decodeImage}. */
export interface DecodeOptions {
  /** File name used in error messages (e.g. the frame's path). */
  name?: string;
}

/** The image formats {@linkcode decodeImage} understands. */
export type ImageFormat = "png" | "jpeg";

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Tell PNG from JPEG by the file's first bytes; `null` for anything else.
 *
 * @example Usage
 * ```ts
 * import { detectImageFormat } from "./image_io.ts";
 * console.log(detectImageFormat(new Uint8Array([0xff, 0xd8, 0xff, 0xe0]))); // "jpeg"
 * ```
 */
export function detectImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && PNG_MAGIC.every((b, i) => bytes[i] === b)) return "png";
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    return "jpeg";
  }
  return null;
}

/**
 * Decode PNG or JPEG bytes into 8-bit RGBA pixels.
 *
 * The format comes from the magic bytes, not the file name. Grey, palette and 16-bit PNGs are
 * converted to 8-bit RGBA by pngjs; grey and CMYK JPEGs to RGBA by jpeg-js. Unknown formats,
 * frames declaring more than {@linkcode MAX_FRAME_PIXELS} pixels (checked from the header,
 * before decoding) and corrupt or truncated data (PNG: bad chunk CRCs, an incomplete or
 * corrupt data stream) raise an {@linkcode InspectorError} that names the file.
 *
 * @example Usage
 * ```ts
 * import { encodePng } from "../render/png.ts";
 * import { decodeImage } from "./image_io.ts";
 * const png = encodePng({ width: 1, height: 1, data: new Uint8Array([255, 0, 0, 255]) });
 * const img = decodeImage(png, { name: "red.png" });
 * console.log(img.width, img.height, img.data); // 1 1 Uint8Array [255, 0, 0, 255]
 * ```
 */
export function decodeImage(bytes: Uint8Array, options: DecodeOptions = {}): RgbaImage {
  const name = options.name ?? "image";
  const format = detectImageFormat(bytes);
  if (format === null) {
    throw new InspectorError(
      `cannot read frame ${name}: not a PNG or JPEG file (unrecognised first bytes); ` +
        `convert it to PNG/JPEG or remove it from the clip folder`,
    );
  }
  const size = format === "png" ? pngSize(bytes) : jpegSize(bytes);
  if (size && size.width * size.height > MAX_FRAME_PIXELS) {
    throw new InspectorError(
      `frame ${name}: ${format.toUpperCase()} declares ${size.width}x${size.height} pixels, ` +
        `over the limit of ${MAX_FRAME_PIXELS} (${MAX_FRAME_PIXELS / 1e6} megapixels); ` +
        `downscale it (e.g. with ffmpeg -vf scale=1920:-1) or remove it from the clip folder`,
    );
  }
  try {
    if (format === "png") return checked(decodePngStrict(bytes), name);
    const img = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: MAX_FRAME_PIXELS / 1e6,
    });
    return checked({ width: img.width, height: img.height, data: img.data as Uint8Array }, name);
  } catch (err) {
    if (err instanceof InspectorError) throw err;
    const why = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new InspectorError(
      `cannot decode frame ${name}: corrupt or truncated ${format.toUpperCase()} (${why}); ` +
        `re-extract the frame or remove it from the clip folder`,
      { cause: err },
    );
  }
}

/** SOFn markers (baseline, progressive, lossless, arithmetic): not DHT (C4), JPG (C8), DAC (CC). */
const SOF_MARKERS = new Set([
  0xc0,
  0xc1,
  0xc2,
  0xc3,
  0xc5,
  0xc6,
  0xc7,
  0xc9,
  0xca,
  0xcb,
  0xcd,
  0xce,
  0xcf,
]);

/**
 * Width and height from a JPEG's frame header (SOFn), scanning the marker segments before the
 * first scan; `null` when there is none (jpeg-js then reports the file as corrupt).
 */
function jpegSize(bytes: Uint8Array): { width: number; height: number } | null {
  let p = 2; // after SOI
  while (p + 4 <= bytes.length) {
    if (bytes[p] !== 0xff) return null;
    const marker = bytes[p + 1];
    if (marker === 0xff) { // fill byte
      p++;
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) { // no length
      p += 2;
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return null; // scan or end before any frame header
    const len = (bytes[p + 2] << 8) | bytes[p + 3];
    if (SOF_MARKERS.has(marker)) {
      if (p + 9 > bytes.length) return null;
      const height = (bytes[p + 5] << 8) | bytes[p + 6];
      const width = (bytes[p + 7] << 8) | bytes[p + 8];
      return { width, height };
    }
    p += 2 + len;
  }
  return null;
}

function checked(img: RgbaImage, name: string): RgbaImage {
  if (
    !(img.width > 0) || !(img.height > 0) || img.data.length !== img.width * img.height * 4
  ) {
    throw new InspectorError(
      `cannot decode frame ${name}: decoded to an empty or inconsistent image ` +
        `(${img.width}x${img.height}, ${img.data.length} bytes); re-extract the frame`,
    );
  }
  return img;
}

/** Options of {@linkcode resizeRgb}. */
export interface ResizeOptions {
  /** Output width in pixels. */
  width: number;
  /** Output height in pixels. */
  height: number;
  /**
   * Array to write the 3 output planes into (CHW) at {@linkcode ResizeOptions.offset};
   * a new one is allocated when absent.
   */
  out?: Float32Array;
  /** Element offset of the R plane inside `out` (default 0). */
  offset?: number;
}

/** The sampling weights of one axis: output pixel `i` reads `count[i]` inputs from `start[i]`. */
export interface AxisWeights {
  /** First input index read by each output pixel. */
  start: Int32Array;
  /** How many inputs each output pixel reads. */
  count: Int32Array;
  /** Weights, `kernelSize` per output pixel (only the first `count[i]` are used), each row sums to 1. */
  weights: Float64Array;
  /** Stride of `weights` per output pixel. */
  kernelSize: number;
}

/**
 * The resampling weights of one axis, exactly PIL's `precompute_coeffs` for the bilinear filter
 * (also what torchvision's `Resize(..., antialias=True)` uses):
 *
 * ```
 * scale = inSize / outSize;  fs = max(scale, 1);  support = 1 * fs
 * center_i = (i + 0.5) * scale
 * start_i = max(trunc(center_i - support + 0.5), 0);  end_i = min(trunc(center_i + support + 0.5), inSize)
 * w_ij = tri((j - center_i + 0.5) / fs)  for j in [start_i, end_i),  tri(x) = max(0, 1 - |x|)
 * then w_ij /= sum_j w_ij
 * ```
 *
 * Upscaling (`fs = 1`) is ordinary bilinear interpolation with half-pixel centres (PyTorch's
 * `align_corners=False`, edges clamped). Downscaling widens the triangle by the scale factor, so
 * every input pixel contributes (an area-like, antialiased average).
 *
 * @example Usage
 * ```ts
 * import { axisWeights } from "./image_io.ts";
 * const w = axisWeights(4, 2); // halve 4 pixels
 * console.log(w.start, w.count); // Int32Array [0, 1] Int32Array [3, 3]
 * ```
 */
export function axisWeights(inSize: number, outSize: number): AxisWeights {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1 * filterScale;
  const kernelSize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * kernelSize);
  const ss = 1 / filterScale;
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    const n = hi - lo;
    let total = 0;
    const base = i * kernelSize;
    for (let k = 0; k < n; k++) {
      const w = Math.max(0, 1 - Math.abs((k + lo - center + 0.5) * ss));
      weights[base + k] = w;
      total += w;
    }
    if (total !== 0) { for (let k = 0; k < n; k++) weights[base + k] /= total; }
    start[i] = lo;
    count[i] = n;
  }
  return { start, count, weights, kernelSize };
}

/**
 * Resize the RGB channels of an RGBA image (alpha is dropped, as PIL's `convert("RGB")` does)
 * to `width x height`, into three float planes (CHW) with values in 0..255.
 *
 * The resampling is PIL's `Image.resize(..., BILINEAR)` / torchvision's
 * `Resize((h, w), antialias=True)`: a separable triangle filter whose width grows with the
 * downscaling factor (see {@linkcode axisWeights}), applied horizontally and then vertically,
 * in float64 with no rounding to 8 bits in between or at the end (PIL rounds its 8-bit output,
 * a difference of at most 0.5/255). An axis whose size does not change is copied unchanged.
 *
 * @example Usage
 * ```ts
 * import { resizeRgb } from "./image_io.ts";
 * const rgba = new Uint8Array(4 * 4 * 4).fill(100);
 * const small = resizeRgb({ width: 4, height: 4, data: rgba }, { width: 2, height: 2 });
 * console.log(small.data.length, small.data[0]); // 12 100
 * ```
 */
export function resizeRgb(image: RgbaImage, options: ResizeOptions): PlanarRgb {
  const { width: inW, height: inH, data: src } = image;
  const { width: outW, height: outH } = options;
  if (!(Number.isInteger(outW) && Number.isInteger(outH) && outW > 0 && outH > 0)) {
    throw new RangeError(`resizeRgb: bad output size ${outW}x${outH}`);
  }
  if (src.length !== inW * inH * 4) {
    throw new RangeError(`resizeRgb: expected ${inW * inH * 4} RGBA bytes, got ${src.length}`);
  }
  const offset = options.offset ?? 0;
  const out = options.out ?? new Float32Array(3 * outW * outH);
  const planeOut = outW * outH;
  if (offset < 0 || offset + 3 * planeOut > out.length) {
    throw new RangeError(`resizeRgb: output array too small for 3x${outH}x${outW} at ${offset}`);
  }

  // Horizontal pass: RGBA rows (inH x inW) -> planar float rows tmp[c][y][x'] (inH x outW).
  const tmp = new Float64Array(3 * inH * outW);
  const planeTmp = inH * outW;
  if (outW === inW) {
    for (let y = 0; y < inH; y++) {
      for (let x = 0; x < inW; x++) {
        const s = (y * inW + x) * 4;
        const d = y * outW + x;
        tmp[d] = src[s];
        tmp[planeTmp + d] = src[s + 1];
        tmp[2 * planeTmp + d] = src[s + 2];
      }
    }
  } else {
    const { start, count, weights, kernelSize } = axisWeights(inW, outW);
    for (let y = 0; y < inH; y++) {
      const row = y * inW;
      for (let x = 0; x < outW; x++) {
        const n = count[x];
        const wb = x * kernelSize;
        let s = (row + start[x]) * 4;
        let r = 0, g = 0, b = 0;
        for (let k = 0; k < n; k++, s += 4) {
          const w = weights[wb + k];
          r += w * src[s];
          g += w * src[s + 1];
          b += w * src[s + 2];
        }
        const d = y * outW + x;
        tmp[d] = r;
        tmp[planeTmp + d] = g;
        tmp[2 * planeTmp + d] = b;
      }
    }
  }

  // Vertical pass: tmp (inH x outW per plane) -> out (outH x outW per plane).
  if (outH === inH) {
    for (let i = 0; i < 3 * planeOut; i++) out[offset + i] = tmp[i];
  } else {
    const { start, count, weights, kernelSize } = axisWeights(inH, outH);
    const acc = new Float64Array(outW);
    for (let c = 0; c < 3; c++) {
      const tBase = c * planeTmp;
      const oBase = offset + c * planeOut;
      for (let y = 0; y < outH; y++) {
        acc.fill(0);
        const n = count[y];
        const wb = y * kernelSize;
        for (let k = 0; k < n; k++) {
          const w = weights[wb + k];
          const rowBase = tBase + (start[y] + k) * outW;
          for (let x = 0; x < outW; x++) acc[x] += w * tmp[rowBase + x];
        }
        out.set(acc, oBase + y * outW);
      }
    }
  }
  return { width: outW, height: outH, data: out.subarray(offset, offset + 3 * planeOut) };
}

/** Options of {@linkcode frameToTensor}. */
export interface FrameTensorOptions {
  /** File name for error messages. */
  name?: string;
  /** Output width and height (square frames). */
  size: number;
  /** Per-channel RGB mean subtracted after scaling to [0, 1]. */
  mean: readonly number[];
  /** Per-channel RGB standard deviation divided by after subtracting the mean. */
  std: readonly number[];
  /** Array to write the 3 planes into; a new one of `3 * size * size` when absent. */
  out?: Float32Array;
  /** Element offset inside `out` (default 0). */
  offset?: number;
}

/**
 * Decode a PNG/JPEG frame and turn it into a normalised CHW float tensor: RGB, resized to
 * `size x size` ({@linkcode resizeRgb}), scaled to [0, 1], then `(v - mean[c]) / std[c]`
 * (torchvision's `ToTensor()` + `Normalize(mean, std)`). Returns the `3 * size * size` values.
 *
 * @example Usage
 * ```ts
 * import { encodePng } from "../render/png.ts";
 * import { frameToTensor } from "./image_io.ts";
 * const png = encodePng({ width: 8, height: 8, data: new Uint8Array(8 * 8 * 4).fill(255) });
 * const t = frameToTensor(png, { size: 4, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
 * console.log(t.length, t[0]); // 48 1
 * ```
 */
export function frameToTensor(bytes: Uint8Array, options: FrameTensorOptions): Float32Array {
  return imageToTensor(decodeImage(bytes, { name: options.name }), options);
}

/**
 * {@linkcode frameToTensor} on a decoded image: RGB resized to `size x size`, scaled to [0, 1],
 * then `(v - mean[c]) / std[c]`. Returns the `3 * size * size` values.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { imageToTensor } from "./image_io.ts";
 * const img = { width: 8, height: 8, data: new Uint8Array(8 * 8 * 4).fill(255) };
 * const t = imageToTensor(img, { size: 4, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
 * assert.equal(t.length, 48);
 * assert.equal(t[0], 1);
 * ```
 */
export function imageToTensor(img: RgbaImage, options: FrameTensorOptions): Float32Array {
  const { size, mean, std } = options;
  const offset = options.offset ?? 0;
  const planar = resizeRgb(img, { width: size, height: size, out: options.out, offset });
  const data = planar.data;
  const plane = size * size;
  for (let c = 0; c < 3; c++) {
    const m = mean[c], s = std[c];
    const base = c * plane;
    for (let i = 0; i < plane; i++) data[base + i] = (data[base + i] / 255 - m) / s;
  }
  return data;
}
