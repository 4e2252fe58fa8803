/**
 * Saliency metrics of a spatial map against fixation points, as defined by the MIT/Tuebingen
 * saliency benchmark (Bylinskii et al. 2019, "What do different evaluation metrics tell us about
 * saliency models?"). Maps are row-major `height x width` arrays; fixations are integer pixels.
 *
 * - NSS: mean of the z-scored map (population std) at the fixation pixels.
 *
 * NSS and AUC-Judd use each fixated pixel once (the benchmark's binary fixation map: several gaze
 * samples on one pixel count once); the blurred fixation map of CC and SIM weights a pixel by its
 * number of samples (dwell).
 * - AUC-Judd: thresholds are the map values at the fixations; TP rate = fixations above each
 *   threshold / fixations, FP rate = other pixels above / (pixels - fixations); trapezoid area.
 * - CC: Pearson correlation between the map and the blurred fixation map.
 * - SIM: sum of the pixelwise minimum of both maps, each normalised to sum 1.
 *
 * The fixation map is a Gaussian blur of the fixation points with `sigma` in pixels; for a screen
 * of `W` pixels spanning `D` degrees, `sigma_px = sigma_deg * W / D`.
 *
 * @module
 */

/** A fixation point in pixels (column x, row y). */
export interface Fixation {
  /** Column. */
  x: number;
  /** Row. */
  y: number;
}

function _inside(f: Fixation, w: number, h: number): [number, number] | null {
  const x = Math.round(f.x), y = Math.round(f.y);
  return x >= 0 && y >= 0 && x < w && y < h ? [x, y] : null;
}

/**
 * The distinct pixels (row-major indices `y * width + x`, ascending) that the fixations fall on,
 * rounded to the nearest pixel; points outside the map are dropped.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { fixationPixels } from "./saliency.ts";
 * assert.deepEqual(fixationPixels([{ x: 1, y: 1 }, { x: 1.2, y: 0.9 }, { x: 9, y: 0 }], 3, 2), [4]);
 * ```
 */
export function fixationPixels(
  fixations: readonly Fixation[],
  width: number,
  height: number,
): number[] {
  const set = new Set<number>();
  for (const f of fixations) {
    const p = _inside(f, width, height);
    if (p) set.add(p[1] * width + p[0]);
  }
  return [...set].sort((a, b) => a - b);
}

/**
 * Normalized scanpath saliency: the mean z-score of `map` at the fixations, `null` if the map is
 * constant or no fixation falls inside.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { nss } from "./saliency.ts";
 * assert.ok(Math.abs(nss(new Float64Array([0, 0, 0, 4]), 2, 2, [{ x: 1, y: 1 }])! - Math.sqrt(3)) < 1e-12);
 * ```
 */
export function nss(
  map: ArrayLike<number>,
  width: number,
  height: number,
  fixations: readonly Fixation[],
): number | null {
  const n = width * height;
  let s = 0, ss = 0;
  for (let i = 0; i < n; i++) s += map[i];
  const mean = s / n;
  for (let i = 0; i < n; i++) ss += (map[i] - mean) ** 2;
  const std = Math.sqrt(ss / n);
  if (!(std > 0)) return null;
  let t = 0;
  const px = fixationPixels(fixations, width, height);
  for (const i of px) t += (map[i] - mean) / std;
  return px.length ? t / px.length : null;
}

/**
 * AUC-Judd of `map` against the fixations (0.5 = chance), `null` when no fixation is inside.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { aucJudd } from "./saliency.ts";
 * assert.equal(aucJudd(new Float64Array([0, 1, 2, 3]), 2, 2, [{ x: 1, y: 1 }]), 1);
 * ```
 */
export function aucJudd(
  map: ArrayLike<number>,
  width: number,
  height: number,
  fixations: readonly Fixation[],
): number | null {
  const n = width * height;
  const fixVals = fixationPixels(fixations, width, height).map((i) => map[i]);
  const nf = fixVals.length;
  if (!nf || nf >= n) return null;
  const all = Float64Array.from({ length: n }, (_, i) => map[i]).sort().reverse();
  const th = [...fixVals].sort((a, b) => b - a);
  const tp = [0], fp = [0];
  for (let k = 0; k < nf; k++) {
    let above = 0;
    for (let i = 0; i < n && all[i] >= th[k]; i++) above++;
    tp.push((k + 1) / nf);
    fp.push((above - (k + 1)) / (n - nf));
  }
  tp.push(1);
  fp.push(1);
  let area = 0;
  for (let i = 1; i < tp.length; i++) area += (fp[i] - fp[i - 1]) * (tp[i] + tp[i - 1]) / 2;
  return area;
}

/**
 * The fixation map: unit impulses at the fixations blurred by a Gaussian of `sigma` pixels
 * (separable, truncated at 3 sigma, zero padding).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { fixationMap } from "./saliency.ts";
 * const m = fixationMap(5, 5, [{ x: 2, y: 2 }], { sigma: 1 });
 * assert.ok(m[12] > m[11] && m[11] > m[10]);
 * ```
 */
export function fixationMap(
  width: number,
  height: number,
  fixations: readonly Fixation[],
  options: { sigma: number },
): Float64Array {
  const src = new Float64Array(width * height);
  for (const f of fixations) {
    const p = _inside(f, width, height);
    if (p) src[p[1] * width + p[0]] += 1;
  }
  const sigma = options.sigma;
  if (!(sigma > 0)) return src;
  const r = Math.ceil(3 * sigma);
  const k = Float64Array.from(
    { length: 2 * r + 1 },
    (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)),
  );
  // Few fixations: add each one's truncated separable kernel directly (the same sums as the
  // separable convolution below, in another order); many: the separable convolution.
  const points: number[] = [];
  for (let i = 0; i < src.length; i++) if (src[i]) points.push(i);
  if (points.length * (2 * r + 1) < 2 * width * height) {
    const out = new Float64Array(width * height);
    for (const i of points) {
      const px = i % width, py = (i - px) / width, c = src[i];
      const x0 = Math.max(0, px - r), x1 = Math.min(width - 1, px + r);
      for (let y = Math.max(0, py - r); y <= Math.min(height - 1, py + r); y++) {
        const ky = c * k[y - py + r], row = y * width;
        for (let x = x0; x <= x1; x++) out[row + x] += ky * k[x - px + r];
      }
    }
    return out;
  }
  const tmp = new Float64Array(width * height), out = new Float64Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let d = -r; d <= r; d++) {
        const xx = x + d;
        if (xx >= 0 && xx < width) s += k[d + r] * src[y * width + xx];
      }
      tmp[y * width + x] = s;
    }
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let d = -r; d <= r; d++) {
        const yy = y + d;
        if (yy >= 0 && yy < height) s += k[d + r] * tmp[yy * width + x];
      }
      out[y * width + x] = s;
    }
  }
  return out;
}

/**
 * Pearson correlation (CC) of two maps of equal size, `null` if either is constant.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { cc } from "./saliency.ts";
 * assert.equal(cc([1, 2, 3], [2, 4, 6]), 1);
 * ```
 */
export function cc(a: ArrayLike<number>, b: ArrayLike<number>): number | null {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) (ma += a[i], mb += b[i]);
  ma /= n;
  mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - ma, db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : null;
}

/**
 * Similarity (SIM, histogram intersection) of two maps: each is shifted to min 0 and scaled to
 * sum 1, then the pixelwise minimum is summed. `null` if either sums to 0 after the shift.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { sim } from "./saliency.ts";
 * assert.equal(sim([0, 1], [0, 1]), 1);
 * ```
 */
export function sim(a: ArrayLike<number>, b: ArrayLike<number>): number | null {
  const na = _unitSum(a), nb = _unitSum(b);
  if (!na || !nb) return null;
  let s = 0;
  for (let i = 0; i < na.length; i++) s += Math.min(na[i], nb[i]);
  return s;
}

function _unitSum(a: ArrayLike<number>): Float64Array | null {
  let min = Infinity;
  for (let i = 0; i < a.length; i++) min = Math.min(min, a[i]);
  const out = Float64Array.from({ length: a.length }, (_, i) => a[i] - min);
  const s = out.reduce((p, v) => p + v, 0);
  if (!(s > 0)) return null;
  for (let i = 0; i < out.length; i++) out[i] /= s;
  return out;
}

/**
 * Bilinear upsampling of a `w x h` map to `width x height` (pixel centres aligned, as
 * `align_corners=False`), to score a layer's spatial map at frame resolution.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { upsampleBilinear } from "./saliency.ts";
 * const up = upsampleBilinear([1, 1, 1, 1], { w: 2, h: 2 }, { width: 4, height: 4 });
 * assert.ok(up.every((v) => Math.abs(v - 1) < 1e-12));
 * ```
 */
export function upsampleBilinear(
  map: ArrayLike<number>,
  from: { w: number; h: number },
  to: { width: number; height: number },
): Float64Array {
  const { w, h } = from, { width, height } = to;
  const out = new Float64Array(width * height);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(Math.max((y + 0.5) * h / height - 0.5, 0), h - 1);
    const y0 = Math.floor(sy), y1 = Math.min(y0 + 1, h - 1), fy = sy - y0;
    for (let x = 0; x < width; x++) {
      const sx = Math.min(Math.max((x + 0.5) * w / width - 0.5, 0), w - 1);
      const x0 = Math.floor(sx), x1 = Math.min(x0 + 1, w - 1), fx = sx - x0;
      const top = map[y0 * w + x0] * (1 - fx) + map[y0 * w + x1] * fx;
      const bot = map[y1 * w + x0] * (1 - fx) + map[y1 * w + x1] * fx;
      out[y * width + x] = top * (1 - fy) + bot * fy;
    }
  }
  return out;
}

/**
 * A map prepared once for scoring against many fixation sets (its own frame's gaze and the
 * shuffled baseline's): moments, sorted values and the unit-sum copy.
 */
export interface PreparedMap {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** The map values (row-major). */
  values: Float64Array;
  /** Mean of the values. */
  mean: number;
  /** Population standard deviation. */
  std: number;
  /** The values in ascending order. */
  sorted: Float64Array;
  /** Shifted to min 0 and scaled to sum 1 (SIM), or null when constant. */
  unit: Float64Array | null;
}

/**
 * Prepare a `width x height` map for {@linkcode saliencyScores} (non-finite values must have been
 * replaced).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { prepareMap } from "./saliency.ts";
 * const p = prepareMap(new Float32Array([3, 1, 2, 2]), { width: 2, height: 2 });
 * assert.equal(p.mean, 2);
 * assert.deepEqual([...p.sorted], [1, 2, 2, 3]);
 * ```
 */
export function prepareMap(
  map: ArrayLike<number>,
  size: { width: number; height: number },
): PreparedMap {
  const { width, height } = size;
  const n = width * height;
  if (map.length !== n) {
    throw new RangeError(`a ${width}x${height} map needs ${n} values, got ${map.length}`);
  }
  const values = Float64Array.from({ length: n }, (_, i) => map[i]);
  let s = 0;
  for (let i = 0; i < n; i++) s += values[i];
  const mean = s / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i] - mean) ** 2;
  return {
    width,
    height,
    values,
    mean,
    std: Math.sqrt(ss / n),
    sorted: values.slice().sort(),
    unit: _unitSum(values),
  };
}

/** The four benchmark metrics of one map against one frame's fixations (`null`: undefined). */
export interface SaliencyScores {
  /** Normalized scanpath saliency (chance 0). */
  nss: number | null;
  /** AUC-Judd (chance 0.5). */
  auc: number | null;
  /** Pearson correlation with the blurred fixation map (chance 0). */
  cc: number | null;
  /** Histogram intersection with the blurred fixation map (0..1). */
  sim: number | null;
}

/** Index of the first value >= `v` in ascending `a`. */
function _lowerBound(a: Float64Array, v: number): number {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * NSS, AUC-Judd, CC and SIM of a prepared map against `fixations` (pixels) and their blurred
 * fixation map `density` (see {@linkcode fixationMap}; pass a prepared one to reuse it). The same
 * numbers as {@linkcode nss}, {@linkcode aucJudd}, {@linkcode cc} and {@linkcode sim}, with the
 * per-map work (moments, sorting) done once in {@linkcode prepareMap}.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { fixationMap, prepareMap, saliencyScores } from "./saliency.ts";
 * const map = new Float32Array([0, 0, 0, 4]);
 * const fix = [{ x: 1, y: 1 }];
 * const s = saliencyScores(
 *   prepareMap(map, { width: 2, height: 2 }),
 *   fix,
 *   prepareMap(fixationMap(2, 2, fix, { sigma: 0 }), { width: 2, height: 2 }),
 * );
 * assert.ok(Math.abs(s.nss! - Math.sqrt(3)) < 1e-12);
 * assert.equal(s.auc, 1);
 * assert.ok(Math.abs(s.cc! - 1) < 1e-12);
 * assert.ok(Math.abs(s.sim! - 1) < 1e-12);
 * ```
 */
export function saliencyScores(
  map: PreparedMap,
  fixations: readonly Fixation[],
  density: PreparedMap,
): SaliencyScores {
  const { width, height } = map;
  if (density.width !== width || density.height !== height) {
    throw new RangeError(
      `fixation map ${density.width}x${density.height} does not match the map ${width}x${height}`,
    );
  }
  const n = width * height, v = map.values;
  const px = fixationPixels(fixations, width, height);
  const nf = px.length;
  let nssV: number | null = null, auc: number | null = null;
  if (nf && map.std > 0) {
    let t = 0;
    for (const i of px) t += (v[i] - map.mean) / map.std;
    nssV = t / nf;
  }
  if (nf && nf < n) {
    const th = px.map((i) => v[i]).sort((a, b) => b - a);
    let area = 0, tpPrev = 0, fpPrev = 0;
    for (let k = 0; k <= nf; k++) {
      const tp = k < nf ? (k + 1) / nf : 1;
      const fp = k < nf ? (n - _lowerBound(map.sorted, th[k]) - (k + 1)) / (n - nf) : 1;
      area += (fp - fpPrev) * (tp + tpPrev) / 2;
      tpPrev = tp;
      fpPrev = fp;
    }
    auc = area;
  }
  let ccV: number | null = null;
  if (map.std > 0 && density.std > 0) {
    let sab = 0;
    const d = density.values;
    for (let i = 0; i < n; i++) sab += (v[i] - map.mean) * (d[i] - density.mean);
    ccV = sab / (n * map.std * density.std);
  }
  let simV: number | null = null;
  if (map.unit && density.unit) {
    let s = 0;
    const a = map.unit, b = density.unit;
    for (let i = 0; i < n; i++) s += a[i] < b[i] ? a[i] : b[i];
    simV = s;
  }
  return { nss: nssV, auc, cc: ccV, sim: simV };
}
