/**
 * Natural order of file and folder names (`frame_2` before `frame_10`).
 *
 * @module
 */

/**
 * Natural order of names: digit runs compare as numbers, so `frame_2 < frame_10`.
 *
 * @example Usage
 * ```ts
 * import { naturalCompare } from "./natural_order.ts";
 * console.log(["f10.png", "f2.png", "f1.png"].sort(naturalCompare)); // ["f1.png", "f2.png", "f10.png"]
 * ```
 */
export function naturalCompare(a: string, b: string): number {
  const ra = a.match(/\d+|\D+/g) ?? [];
  const rb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    const x = ra[i], y = rb[i];
    if (x === y) continue;
    const dx = /^\d/.test(x), dy = /^\d/.test(y);
    if (dx && dy) {
      const sx = x.replace(/^0+(?=\d)/, ""), sy = y.replace(/^0+(?=\d)/, "");
      if (sx.length !== sy.length) return sx.length - sy.length;
      if (sx !== sy) return sx < sy ? -1 : 1;
      continue; // same number, different zero padding: decided by the plain order below
    }
    return x < y ? -1 : 1;
  }
  if (ra.length !== rb.length) return ra.length - rb.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
