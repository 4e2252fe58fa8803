/**
 * In-place ascending sort of a `Float32Array`, in exactly `Float32Array.prototype.sort()`'s order
 * (-0 before +0; NaN last), by an LSD radix sort on the float bits: three passes of 11, 11 and 10
 * bits, linear in the length. On the 800 000 activations of a ResNet-18 conv1 frame it takes
 * about 12 ms where the built-in sort takes 75-115 ms (analyze sorts every layer for its exact
 * quantiles).
 *
 * @module
 */

/** Below this length the built-in sort is as fast. */
const RADIX_MIN = 2048;

let scratch = new Uint32Array(0);

/**
 * Sort `values` ascending in place, in the built-in sort's order; returns `values`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { sortFloat32 } from "./_sort_f32.ts";
 * const a = Float32Array.from({ length: 5000 }, (_, i) => (i * 7919) % 5000 - 2500);
 * assert.deepEqual(sortFloat32(a.slice()), a.slice().sort());
 * assert.deepEqual([...sortFloat32(new Float32Array([2, 0, -0, NaN, -1]))], [-1, -0, 0, 2, NaN]);
 * ```
 */
export function sortFloat32(values: Float32Array): Float32Array {
  const n = values.length;
  if (n < RADIX_MIN) return values.sort();
  const keys = new Uint32Array(values.buffer, values.byteOffset, n);
  // Order-preserving keys: flip every bit of a negative number, only the sign bit of a positive
  // one (so -0 = 0x7fffffff sorts before +0 = 0x80000000). Every NaN, whatever its sign and
  // payload, gets the largest key: the built-in order puts NaN last.
  for (let i = 0; i < n; i++) {
    const k = keys[i];
    keys[i] = (k & 0x7fffffff) > 0x7f800000 ? 0xffffffff : k & 0x80000000 ? ~k : k | 0x80000000;
  }
  if (scratch.length < n) scratch = new Uint32Array(n);
  let src: Uint32Array = keys, dst: Uint32Array = scratch.subarray(0, n);
  const counts = new Uint32Array(2048);
  for (const [shift, bits] of [[0, 11], [11, 11], [22, 10]]) {
    const mask = (1 << bits) - 1;
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[(src[i] >>> shift) & mask]++;
    let sum = 0;
    for (let d = 0; d <= mask; d++) {
      const c = counts[d];
      counts[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const k = src[i];
      dst[counts[(k >>> shift) & mask]++] = k;
    }
    const t = src;
    src = dst;
    dst = t;
  }
  // Three passes: the sorted keys are in `scratch`; undo the key transform into `values`.
  for (let i = 0; i < n; i++) {
    const k = src[i];
    keys[i] = k & 0x80000000 ? k & 0x7fffffff : ~k;
  }
  return values;
}
