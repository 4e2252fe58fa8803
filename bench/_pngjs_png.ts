/**
 * Benchmark baseline only: PNG encoding with the pngjs library (every filter tried on every row,
 * zlib level 9, always RGBA), as `encodePng` in `inspector/image_io.ts` did before
 * `render/png.ts` became the one encoder. `render_bench.ts` times the two side by side.
 *
 * @module
 */

import pngjs from "npm:pngjs@7.0.0";
import type { RgbaImage } from "../core/image.ts";

const { PNG } = pngjs;

/**
 * Encode 8-bit RGBA pixels as PNG bytes with pngjs' defaults.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { encodePngPngjs } from "./_pngjs_png.ts";
 * const png = encodePngPngjs({ width: 2, height: 2, data: new Uint8Array(16).fill(255) });
 * assert.strictEqual(png[25], 6); // always RGBA
 * ```
 */
export function encodePngPngjs(image: RgbaImage): Uint8Array {
  const png = new PNG({ width: image.width, height: image.height });
  png.data.set(image.data);
  const out = PNG.sync.write(png);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
