/**
 * A small deterministic PRNG (mulberry32), for seeded sampling in the statistics and in tests.
 *
 * @module
 */

/**
 * Uniform numbers in [0, 1) from `seed`, the same sequence on every machine.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { prng } from "./prng.ts";
 * const a = prng(7), b = prng(7);
 * assert.equal(a(), b());
 * ```
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
