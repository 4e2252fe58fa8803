/**
 * Input pipelines of real models: non-square frame sizes (`HxW`), the aspect-preserving resize
 * and centre crop of torchvision / mmaction2 (`Resize(256)` + `CenterCrop(224)`), channel order
 * (RGB or BGR), value range (`scale`) and per-channel mean/std.
 *
 * - {@linkcode parseFrameSize} reads `224` or `240x320` (height x width).
 * - {@linkcode parseResize} reads `short:256`, `long:320` or an exact `240x320`.
 * - {@linkcode resizeCropRgb} resizes (PIL bilinear, antialiased: {@linkcode resizeRgb}) and
 *   centre-crops an RGBA frame into float CHW planes in 0..255.
 * - {@linkcode preprocessImage} runs the whole pipeline into a normalised CHW tensor.
 *
 * @module
 */

import { InspectorError } from "../core/errors.ts";
import type { RgbaImage } from "../core/image.ts";
import { type PlanarRgb, resizeRgb } from "./image_io.ts";

/** A frame size in pixels. */
export interface FrameSize {
  /** Rows. */
  height: number;
  /** Columns. */
  width: number;
}

/** How a frame is resized before the crop. */
export type ResizeSpec =
  | { kind: "short"; length: number }
  | { kind: "long"; length: number }
  | { kind: "exact"; height: number; width: number };

/**
 * Parse a frame size: `N` (square) or `HxW` (height x width, e.g. `240x320`).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFrameSize } from "./preprocess.ts";
 * assert.deepEqual(parseFrameSize("240x320"), { height: 240, width: 320 });
 * assert.deepEqual(parseFrameSize("112"), { height: 112, width: 112 });
 * assert.throws(() => parseFrameSize("12x", { option: "options.crop" }), /options.crop/);
 * ```
 */
export function parseFrameSize(text: string, options: { option?: string } = {}): FrameSize {
  const option = options.option ?? "options.size";
  const m = /^\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*$/.exec(text);
  const h = m ? Number(m[1]) : NaN;
  const w = m ? Number(m[2] ?? m[1]) : NaN;
  if (!(h >= 1 && w >= 1)) {
    throw new InspectorError(
      `${option} ${
        JSON.stringify(text)
      } is not a size: give N (square) or HxW, e.g. 224 or 240x320`,
    );
  }
  return { height: h, width: w };
}

/**
 * Parse a resize rule: `short:N` (shorter side to N, aspect kept, torchvision `Resize(N)`),
 * `long:N` (longer side to N) or `HxW` / `N` (exact size, aspect not kept).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseResize } from "./preprocess.ts";
 * assert.deepEqual(parseResize("short:256"), { kind: "short", length: 256 });
 * assert.deepEqual(parseResize("240x320"), { kind: "exact", height: 240, width: 320 });
 * assert.throws(() => parseResize("side:3"), /options.resize/);
 * ```
 */
export function parseResize(text: string, options: { option?: string } = {}): ResizeSpec {
  const option = options.option ?? "options.resize";
  const m = /^\s*(short|long)\s*:\s*(\d+)\s*$/.exec(text);
  if (m) {
    const length = Number(m[2]);
    if (length >= 1) return { kind: m[1] as "short" | "long", length };
  }
  if (/^\s*\d+\s*([xX]\s*\d+)?\s*$/.test(text)) {
    const s = parseFrameSize(text, { option });
    return { kind: "exact", ...s };
  }
  throw new InspectorError(
    `${option} ${JSON.stringify(text)} is not a resize rule: give short:N, long:N or HxW, ` +
      `e.g. short:256`,
  );
}

/**
 * The size a frame of `from` pixels gets under `resize`, as torchvision's `Resize` computes it:
 * the other side is `trunc(length * other / side)`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { resizedSize } from "./preprocess.ts";
 * const s = resizedSize({ height: 480, width: 640 }, { kind: "short", length: 256 });
 * assert.deepEqual(s, { height: 256, width: 341 });
 * ```
 */
export function resizedSize(from: FrameSize, resize: ResizeSpec): FrameSize {
  if (resize.kind === "exact") return { height: resize.height, width: resize.width };
  const portrait = from.height > from.width;
  const shortSide = Math.min(from.height, from.width), longSide = Math.max(from.height, from.width);
  let s: number, l: number;
  if (resize.kind === "short") {
    s = resize.length;
    l = Math.max(1, Math.trunc(resize.length * longSide / shortSide));
  } else {
    l = resize.length;
    s = Math.max(1, Math.trunc(resize.length * shortSide / longSide));
  }
  return portrait ? { height: l, width: s } : { height: s, width: l };
}

/** Python's `round` (half to even), as torchvision's `center_crop` uses it. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Top-left corner of a centre crop of `crop` out of `from`, torchvision's
 * `top = round((H - h) / 2)`, `left = round((W - w) / 2)`; the crop must fit.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { centreCropOrigin } from "./preprocess.ts";
 * assert.deepEqual(centreCropOrigin({ height: 256, width: 341 }, { height: 224, width: 224 }), {
 *   top: 16,
 *   left: 58,
 * });
 * ```
 */
export function centreCropOrigin(
  from: FrameSize,
  crop: FrameSize,
): { top: number; left: number } {
  if (crop.height > from.height || crop.width > from.width) {
    throw new InspectorError(
      `options.crop ${crop.height}x${crop.width} is larger than the resized frame ` +
        `${from.height}x${from.width}: lower options.crop or raise options.resize`,
    );
  }
  return {
    top: roundHalfEven((from.height - crop.height) / 2),
    left: roundHalfEven((from.width - crop.width) / 2),
  };
}

/** Options of {@linkcode resizeCropRgb}. */
export interface ResizeCropOptions {
  /** Resize rule; absent: the frame keeps its size before the crop. */
  resize?: ResizeSpec;
  /** Centre crop after the resize; absent: no crop. */
  crop?: FrameSize;
}

/**
 * Resize an RGBA frame by `resize` (PIL bilinear, antialiased) and centre-crop it to `crop`,
 * into float CHW planes in 0..255 (torchvision `Resize` + `CenterCrop`).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { resizeCropRgb } from "./preprocess.ts";
 * const data = new Uint8Array(4 * 6 * 4).fill(50); // 6 wide, 4 high
 * const out = resizeCropRgb({ width: 6, height: 4, data }, {
 *   resize: { kind: "short", length: 2 },
 *   crop: { height: 2, width: 2 },
 * });
 * assert.deepEqual([out.height, out.width, out.data.length, out.data[0]], [2, 2, 12, 50]);
 * ```
 */
export function resizeCropRgb(img: RgbaImage, options: ResizeCropOptions = {}): PlanarRgb {
  const target = options.resize
    ? resizedSize({ height: img.height, width: img.width }, options.resize)
    : { height: img.height, width: img.width };
  const resized = resizeRgb(img, { width: target.width, height: target.height });
  if (!options.crop) return resized;
  const crop = options.crop;
  const { top, left } = centreCropOrigin(target, crop);
  const out = new Float32Array(3 * crop.height * crop.width);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < crop.height; y++) {
      const src = c * target.height * target.width + (top + y) * target.width + left;
      out.set(
        resized.data.subarray(src, src + crop.width),
        c * crop.height * crop.width + y * crop.width,
      );
    }
  }
  return { width: crop.width, height: crop.height, data: out };
}

/** Options of {@linkcode preprocessImage}. */
export interface PreprocessOptions extends ResizeCropOptions {
  /** Channel order of the output planes (default `"rgb"`). */
  channelOrder?: "rgb" | "bgr";
  /** Pixel values are mapped from 0..255 to 0..scale before the mean/std (default 1). */
  scale?: number;
  /** Per-channel mean in the output's channel order and 0..scale units (default 0). */
  mean?: readonly number[];
  /** Per-channel standard deviation, same units (default 1). */
  std?: readonly number[];
}

/**
 * The whole frame pipeline: resize, centre crop, channel order, `v / 255 * scale`, then
 * `(x - mean[c]) / std[c]`; a CHW float32 tensor.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { preprocessImage } from "./preprocess.ts";
 * const data = new Uint8Array([255, 0, 51, 255]); // one pixel
 * const t = preprocessImage({ width: 1, height: 1, data }, { channelOrder: "bgr", scale: 255 });
 * assert.deepEqual([...t.data], [51, 0, 255]);
 * ```
 */
export function preprocessImage(
  img: RgbaImage,
  options: PreprocessOptions = {},
): PlanarRgb {
  const planar = resizeCropRgb(img, options);
  const plane = planar.width * planar.height;
  const order = options.channelOrder ?? "rgb";
  if (order !== "rgb" && order !== "bgr") {
    throw new InspectorError(`options.channelOrder must be rgb or bgr, got ${String(order)}`);
  }
  const scale = options.scale ?? 1;
  if (!(scale > 0)) {
    throw new InspectorError(`options.scale must be a positive number, got ${scale}`);
  }
  const mean = options.mean ?? [0, 0, 0], std = options.std ?? [1, 1, 1];
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const srcC = order === "bgr" ? 2 - c : c;
    const m = mean[c], s = std[c];
    const src = planar.data.subarray(srcC * plane, (srcC + 1) * plane);
    for (let i = 0; i < plane; i++) out[c * plane + i] = (src[i] / 255 * scale - m) / s;
  }
  return { width: planar.width, height: planar.height, data: out };
}

/**
 * A frame pipeline as `inspect` records and sends it to decode workers (plain data): the
 * output size, optional resize rule and centre crop, channel order and value range.
 */
export interface FramePipeline {
  /** Output frame size (after the crop, or the resize when there is no crop). */
  size: FrameSize;
  /** Resize rule; absent: an exact resize to `size` (today's default, aspect not kept). */
  resize?: ResizeSpec;
  /** Centre crop; absent: `size` when `resize` keeps the aspect, else none. */
  crop?: FrameSize;
  /** Channel order (default rgb). */
  channelOrder?: "rgb" | "bgr";
  /** Value range 0..scale before the mean/std (default 1). */
  scale?: number;
}

/**
 * Run `pipeline` on a decoded frame with the dataset's `mean`/`std` (0..scale units, in the
 * output channel order), writing `3 * H * W` values into `out` at `offset`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { pipelineToTensor } from "./preprocess.ts";
 * const data = new Uint8Array(8 * 4 * 4).fill(255); // 8 wide, 4 high
 * const t = pipelineToTensor({ width: 8, height: 4, data }, {
 *   size: { height: 2, width: 2 },
 *   resize: { kind: "short", length: 2 },
 * }, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
 * assert.deepEqual([...t], new Array(12).fill(1));
 * ```
 */
export function pipelineToTensor(
  img: RgbaImage,
  pipeline: FramePipeline,
  options: { mean: readonly number[]; std: readonly number[]; out?: Float32Array; offset?: number },
): Float32Array {
  const resize = pipeline.resize ??
    { kind: "exact", height: pipeline.size.height, width: pipeline.size.width };
  const crop = pipeline.crop ?? (resize.kind === "exact" ? undefined : pipeline.size);
  const t = preprocessImage(img, {
    resize,
    crop,
    channelOrder: pipeline.channelOrder,
    scale: pipeline.scale,
    mean: options.mean,
    std: options.std,
  });
  if (t.height !== pipeline.size.height || t.width !== pipeline.size.width) {
    throw new InspectorError(
      `the frame pipeline gives ${t.height}x${t.width} frames, not options.size ` +
        `${pipeline.size.height}x${pipeline.size.width}: pass options.crop ` +
        `${pipeline.size.height}x${pipeline.size.width}`,
    );
  }
  if (!options.out) return t.data;
  options.out.set(t.data, options.offset ?? 0);
  return options.out;
}
