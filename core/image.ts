/**
 * Image types shared by the frame decoders (`inspector/`) and the figure renderers (`render/`).
 *
 * @module
 */

/**
 * An 8-bit image with interleaved RGBA pixels, row-major, `data.length === width * height * 4`.
 *
 * @example Usage
 * ```ts
 * import type { RgbaImage } from "./image.ts";
 * import assert from "node:assert/strict";
 * const img: RgbaImage = { width: 2, height: 1, data: new Uint8Array(8) };
 * assert.equal(img.data.length, img.width * img.height * 4);
 * ```
 */
export interface RgbaImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Interleaved RGBA bytes. */
  data: Uint8Array;
}
