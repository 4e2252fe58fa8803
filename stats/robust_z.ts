/**
 * Robust z-scores (Iglewicz and Hoaglin's modified z-score): `(x - median) / (1.4826 * MAD)`,
 * MAD being the median of `|x - median|`. One extreme value barely moves the median and the
 * MAD, so it stands out where a plain z-score would hide it in the std it inflates. When the MAD
 * is 0 (more than half the values equal), the scale falls back to `1.2533 * mean |x - median|`;
 * when that is 0 too, every z is 0.
 *
 * @module
 */

/** Usual flag threshold on `|z|`. */
export const ROBUST_Z_THRESHOLD = 3.5;

/** Result of {@linkcode robustZ}. */
export interface RobustZ {
  /** Median of the finite values. */
  median: number;
  /** Median absolute deviation from the median. */
  mad: number;
  /** The divisor used: `1.4826 * mad`, or the fallback (see the module doc), or 0. */
  scale: number;
  /** z per value (null for a non-finite value). */
  z: (number | null)[];
}

/** Median of sorted values (mean of the middle two for an even count, as NumPy). */
function medianSorted(v: readonly number[]): number {
  const n = v.length;
  if (n === 0) return NaN;
  return n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/**
 * Robust z-scores of `values` (non-finite values are left out of the median and MAD).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { robustZ } from "./robust_z.ts";
 * const r = robustZ([1, 2, 3, 4, 100]);
 * assert.equal(r.median, 3);
 * assert.equal(r.mad, 1);
 * assert.equal(r.z[4], 97 / 1.4826);
 * assert.equal(r.z[2], 0);
 * ```
 */
export function robustZ(values: readonly number[]): RobustZ {
  const finite = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const median = medianSorted(finite);
  const dev = finite.map((x) => Math.abs(x - median)).sort((a, b) => a - b);
  const mad = medianSorted(dev);
  let scale = 1.4826 * mad;
  if (!(scale > 0)) {
    const meanAd = dev.length ? dev.reduce((a, b) => a + b, 0) / dev.length : 0;
    scale = meanAd > 0 ? 1.2533 * meanAd : 0;
  }
  const z = values.map((x) => !Number.isFinite(x) ? null : scale > 0 ? (x - median) / scale : 0);
  return {
    median: Number.isFinite(median) ? median : 0,
    mad: Number.isFinite(mad) ? mad : 0,
    scale,
    z,
  };
}
