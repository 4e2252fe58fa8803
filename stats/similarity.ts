/**
 * Similarity metrics between two activations: the numbers behind `compare`.
 *
 * Pointwise metrics (same shape): relative L2 error `||A-B|| / ||A||`, cosine similarity and
 * Pearson correlation over the flattened frame, max and mean absolute difference. They are built
 * from {@linkcode PairMoments}, float64 sums over the pairs where both values are finite, which
 * merge across frames ({@linkcode mergePairMoments}) so that the overall value over many frames is
 * exactly the metric of all paired frames concatenated.
 *
 * Representational metric: linear CKA (Kornblith et al. 2019) with channels as features and
 * spatial positions as samples, `CKA = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)` where
 * `Xc` is `positions x C_a` with centred columns. It is computed through the `C x C` Gram matrices,
 * so it costs `O(C^2 * positions)` time and `O(C^2)` extra memory besides a float64 copy of the
 * frames, and it is defined whenever both frames have the same number of positions, even when the
 * channel counts differ.
 *
 * Undefined values are `null` with a note, never NaN: `rel_l2` when `||A|| = 0`, `cosine` when a
 * norm is 0, `pearson` when either side is constant, CKA when either side is constant over
 * positions.
 *
 * @module
 */

/** Float64 moments of a set of value pairs (a, b), over the pairs where both are finite. */
export interface PairMoments {
  /** Pairs seen, finite or not. */
  total: number;
  /** Pairs where both values are finite (the pairs every metric uses). */
  count: number;
  /** Values of A that are NaN or +-Inf. */
  nonfiniteA: number;
  /** Values of B that are NaN or +-Inf. */
  nonfiniteB: number;
  /** Pairs where exactly one side is finite. */
  nonfiniteMismatch: number;
  /** Mean of A over the finite pairs. */
  meanA: number;
  /** Mean of B over the finite pairs. */
  meanB: number;
  /** Sum of squared deviations of A from its mean. */
  m2A: number;
  /** Sum of squared deviations of B from its mean. */
  m2B: number;
  /** Co-moment: sum of (a - meanA)(b - meanB). */
  cAB: number;
  /** Sum of a^2. */
  sumAA: number;
  /** Sum of b^2. */
  sumBB: number;
  /** Sum of a*b. */
  sumAB: number;
  /** Sum of (a-b)^2. */
  sumDD: number;
  /** Sum of |a-b|. */
  sumAbsD: number;
  /** Max of |a-b| (0 when there are no finite pairs). */
  maxAbsD: number;
}

/** The pointwise metrics of a pair of arrays (or of many frame pairs merged). */
export interface PairMetrics {
  /** `||A-B|| / ||A||`, or null when `||A|| = 0`. */
  rel_l2: number | null;
  /** Cosine similarity, or null when either norm is 0. */
  cosine: number | null;
  /** Pearson correlation, or null when either side is constant. */
  pearson: number | null;
  /** Largest absolute difference, or null when no pair is finite. */
  max_abs_diff: number | null;
  /** Mean absolute difference, or null when no pair is finite. */
  mean_abs_diff: number | null;
  /** `||A||` over the finite pairs. */
  norm_a: number;
  /** `||B||` over the finite pairs. */
  norm_b: number;
  /** Pairs used (both finite). */
  count: number;
  /** NaN/Inf values in A. */
  nonfinite_a: number;
  /** NaN/Inf values in B. */
  nonfinite_b: number;
  /** Pairs where exactly one side is finite (a numerical divergence by itself). */
  nonfinite_mismatch: number;
  /** Why a metric is null, or that non-finite values were skipped. */
  notes: string[];
}

/** A linear CKA value with the reason when it is undefined. */
export interface CkaResult {
  /** Linear CKA in [0, 1], or null when undefined. */
  cka: number | null;
  /** Why `cka` is null, or that positions with non-finite values were dropped. */
  note: string | null;
  /** Positions (samples) used. */
  positions: number;
}

function emptyPairMoments(): PairMoments {
  return {
    total: 0,
    count: 0,
    nonfiniteA: 0,
    nonfiniteB: 0,
    nonfiniteMismatch: 0,
    meanA: 0,
    meanB: 0,
    m2A: 0,
    m2B: 0,
    cAB: 0,
    sumAA: 0,
    sumBB: 0,
    sumAB: 0,
    sumDD: 0,
    sumAbsD: 0,
    maxAbsD: 0,
  };
}

function checkSameLength(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) {
    throw new RangeError(`pointwise metrics need equal sizes, got ${a.length} and ${b.length}`);
  }
}

/**
 * Float64 moments of the pairs `(a[i], b[i])` (two passes: exact means, then centred sums).
 *
 * @example Usage
 * ```ts
 * import { pairMoments } from "./similarity.ts";
 * const m = pairMoments(new Float32Array([1, 2, 3]), new Float32Array([1, 2, 4]));
 * console.log(m.sumDD, m.maxAbsD); // 1 1
 * ```
 */
export function pairMoments(a: ArrayLike<number>, b: ArrayLike<number>): PairMoments {
  checkSameLength(a, b);
  const m = emptyPairMoments();
  const n = a.length;
  m.total = n;
  let sa = 0, sb = 0, count = 0, badA = 0, badB = 0, mismatch = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i], y = b[i];
    const fx = Number.isFinite(x), fy = Number.isFinite(y);
    if (!fx) badA++;
    if (!fy) badB++;
    if (fx !== fy) mismatch++;
    if (fx && fy) {
      sa += x;
      sb += y;
      count++;
    }
  }
  m.count = count;
  m.nonfiniteA = badA;
  m.nonfiniteB = badB;
  m.nonfiniteMismatch = mismatch;
  if (count === 0) return m;
  const ma = sa / count, mb = sb / count;
  let m2a = 0, m2b = 0, cab = 0, saa = 0, sbb = 0, sab = 0, sdd = 0, sad = 0, mad = 0;
  const allFinite = badA === 0 && badB === 0;
  for (let i = 0; i < n; i++) {
    const x = a[i], y = b[i];
    if (!allFinite && !(Number.isFinite(x) && Number.isFinite(y))) continue;
    const dx = x - ma, dy = y - mb, d = x - y;
    m2a += dx * dx;
    m2b += dy * dy;
    cab += dx * dy;
    saa += x * x;
    sbb += y * y;
    sab += x * y;
    sdd += d * d;
    const ad = d < 0 ? -d : d;
    sad += ad;
    if (ad > mad) mad = ad;
  }
  m.meanA = ma;
  m.meanB = mb;
  m.m2A = m2a;
  m.m2B = m2b;
  m.cAB = cab;
  m.sumAA = saa;
  m.sumBB = sbb;
  m.sumAB = sab;
  m.sumDD = sdd;
  m.sumAbsD = sad;
  m.maxAbsD = mad;
  return m;
}

/**
 * Merge the moments of several sets of pairs (Chan et al.'s parallel co-moment update), as if
 * all the pairs had been one array.
 *
 * @example Usage
 * ```ts
 * import { mergePairMoments, pairMoments } from "./similarity.ts";
 * const a = new Float32Array([1, 2, 3, 4]), b = new Float32Array([2, 2, 5, 3]);
 * const whole = pairMoments(a, b);
 * const merged = mergePairMoments([pairMoments(a.slice(0, 2), b.slice(0, 2)), pairMoments(a.slice(2), b.slice(2))]);
 * console.log(Math.abs(whole.cAB - merged.cAB) < 1e-12); // true
 * ```
 */
export function mergePairMoments(parts: Iterable<PairMoments>): PairMoments {
  const m = emptyPairMoments();
  for (const p of parts) {
    m.total += p.total;
    m.nonfiniteA += p.nonfiniteA;
    m.nonfiniteB += p.nonfiniteB;
    m.nonfiniteMismatch += p.nonfiniteMismatch;
    m.sumAA += p.sumAA;
    m.sumBB += p.sumBB;
    m.sumAB += p.sumAB;
    m.sumDD += p.sumDD;
    m.sumAbsD += p.sumAbsD;
    if (p.maxAbsD > m.maxAbsD) m.maxAbsD = p.maxAbsD;
    if (p.count === 0) continue;
    const n = m.count + p.count;
    const da = p.meanA - m.meanA, db = p.meanB - m.meanB;
    const w = m.count * p.count / n;
    m.m2A += p.m2A + da * da * w;
    m.m2B += p.m2B + db * db * w;
    m.cAB += p.cAB + da * db * w;
    m.meanA += da * p.count / n;
    m.meanB += db * p.count / n;
    m.count = n;
  }
  return m;
}

/** Clamp tiny rounding excursions of a similarity into [-1, 1]. */
function clampUnit(v: number): number {
  return v > 1 ? 1 : v < -1 ? -1 : v;
}

/**
 * The pointwise metrics from moments (of one frame pair or of many merged).
 *
 * @example Usage
 * ```ts
 * import { pairMetrics, pairMoments } from "./similarity.ts";
 * const a = new Float32Array([3, 4]);
 * const r = pairMetrics(pairMoments(a, a));
 * console.log(r.rel_l2, r.cosine, r.pearson); // 0 1 1
 * ```
 */
export function pairMetrics(m: PairMoments): PairMetrics {
  const notes: string[] = [];
  const normA = Math.sqrt(m.sumAA), normB = Math.sqrt(m.sumBB);
  let relL2: number | null = null, cosine: number | null = null, pearson: number | null = null;
  if (m.count === 0) {
    notes.push("no pair of finite values: every metric is undefined");
  } else {
    if (normA > 0) relL2 = Math.sqrt(m.sumDD) / normA;
    else notes.push("rel_l2 undefined: ||A|| = 0 (A is all zeros)");
    // Equal values (sumDD = 0) are similar exactly, not up to rounding.
    const equal = m.sumDD === 0;
    if (normA > 0 && normB > 0) cosine = equal ? 1 : clampUnit(m.sumAB / (normA * normB));
    else notes.push("cosine undefined: a zero-norm side");
    if (m.m2A > 0 && m.m2B > 0) pearson = equal ? 1 : clampUnit(m.cAB / Math.sqrt(m.m2A * m.m2B));
    else notes.push("pearson undefined: a constant side");
  }
  if (m.nonfiniteA || m.nonfiniteB) {
    notes.push(
      `non-finite values: ${m.nonfiniteA} in A, ${m.nonfiniteB} in B; metrics use the ` +
        `${m.count} pairs where both are finite`,
    );
  }
  return {
    rel_l2: relL2,
    cosine,
    pearson,
    max_abs_diff: m.count ? m.maxAbsD : null,
    mean_abs_diff: m.count ? m.sumAbsD / m.count : null,
    norm_a: normA,
    norm_b: normB,
    count: m.count,
    nonfinite_a: m.nonfiniteA,
    nonfinite_b: m.nonfiniteB,
    nonfinite_mismatch: m.nonfiniteMismatch,
    notes,
  };
}

/**
 * Relative L2 error `||A-B|| / ||A||` over the finite pairs (null when `||A|| = 0`).
 *
 * @example Usage
 * ```ts
 * import { relL2 } from "./similarity.ts";
 * console.log(relL2(new Float32Array([3, 4]), new Float32Array([3, 3]))); // 0.2
 * ```
 */
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number | null {
  return pairMetrics(pairMoments(a, b)).rel_l2;
}

/**
 * Cosine similarity of the flattened arrays (null when a norm is 0).
 *
 * @example Usage
 * ```ts
 * import { cosineSimilarity } from "./similarity.ts";
 * console.log(cosineSimilarity(new Float32Array([1, 0]), new Float32Array([0, 2]))); // 0
 * ```
 */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number | null {
  return pairMetrics(pairMoments(a, b)).cosine;
}

/**
 * Pearson correlation of the flattened arrays (null when either is constant).
 *
 * @example Usage
 * ```ts
 * import { pearsonCorrelation } from "./similarity.ts";
 * console.log(pearsonCorrelation(new Float32Array([1, 2, 3]), new Float32Array([2, 4, 6]))); // 1
 * ```
 */
export function pearsonCorrelation(a: ArrayLike<number>, b: ArrayLike<number>): number | null {
  return pairMetrics(pairMoments(a, b)).pearson;
}

/**
 * Largest absolute difference over the finite pairs (null when there are none).
 *
 * @example Usage
 * ```ts
 * import { maxAbsDiff } from "./similarity.ts";
 * console.log(maxAbsDiff(new Float32Array([1, 5]), new Float32Array([2, 2]))); // 3
 * ```
 */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number | null {
  return pairMetrics(pairMoments(a, b)).max_abs_diff;
}

/**
 * Mean absolute difference over the finite pairs (null when there are none).
 *
 * @example Usage
 * ```ts
 * import { meanAbsDiff } from "./similarity.ts";
 * console.log(meanAbsDiff(new Float32Array([1, 5]), new Float32Array([2, 2]))); // 2
 * ```
 */
export function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number | null {
  return pairMetrics(pairMoments(a, b)).mean_abs_diff;
}

/** Centred float64 copy of the kept positions of a `(C, P)` channel-major frame. */
function centredRows(
  x: ArrayLike<number>,
  channels: number,
  positions: number,
  keep: Int32Array | null,
): Float64Array {
  const p = keep ? keep.length : positions;
  const out = new Float64Array(channels * p);
  for (let c = 0; c < channels; c++) {
    const src = c * positions, dst = c * p;
    let s = 0;
    if (keep) {
      for (let k = 0; k < p; k++) {
        const v = x[src + keep[k]];
        out[dst + k] = v;
        s += v;
      }
    } else {
      for (let k = 0; k < p; k++) {
        const v = x[src + k];
        out[dst + k] = v;
        s += v;
      }
    }
    const mean = s / p;
    for (let k = 0; k < p; k++) out[dst + k] -= mean;
  }
  return out;
}

/** Whether two arrays hold the same values (NaN equal to NaN). */
function sameValues(x: ArrayLike<number>, y: ArrayLike<number>): boolean {
  if (x === y) return true;
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) {
    const a = x[i], b = y[i];
    if (a !== b && !(a !== a && b !== b)) return false;
  }
  return true;
}

function dotRows(u: Float64Array, i: number, v: Float64Array, j: number, p: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const a = i * p, b = j * p;
  let k = 0;
  for (; k + 3 < p; k += 4) {
    s0 += u[a + k] * v[b + k];
    s1 += u[a + k + 1] * v[b + k + 1];
    s2 += u[a + k + 2] * v[b + k + 2];
    s3 += u[a + k + 3] * v[b + k + 3];
  }
  for (; k < p; k++) s0 += u[a + k] * v[b + k];
  return (s0 + s1) + (s2 + s3);
}

/** Squared Frobenius norm of the symmetric Gram matrix `Z Z^T` of the rows of `z`. */
function gramFrobenius2(z: Float64Array, rows: number, p: number): number {
  let s = 0;
  for (let i = 0; i < rows; i++) {
    const d = dotRows(z, i, z, i, p);
    s += d * d;
    for (let j = 0; j < i; j++) {
      const g = dotRows(z, i, z, j, p);
      s += 2 * g * g;
    }
  }
  return s;
}

/**
 * Linear CKA between two frames, with the reason when it is undefined.
 *
 * `x` and `y` are channel-major `(C, H, W)` frames flattened (as `inspect` stores them); both must
 * have `positions = H * W` values per channel, the channel counts may differ. Positions where any
 * channel of either frame is NaN/Inf are dropped (and said so in `note`).
 *
 * @example Usage
 * ```ts
 * import { linearCkaDetailed } from "./similarity.ts";
 * const x = new Float32Array([1, 2, 3, 4, 0, 1, 0, 1]); // 2 channels x 4 positions
 * console.log(linearCkaDetailed(x, x, { positions: 4 }).cka); // 1
 * ```
 */
export function linearCkaDetailed(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  options: { positions: number },
): CkaResult {
  const p = options.positions;
  if (!(p > 0) || x.length % p !== 0 || y.length % p !== 0) {
    throw new RangeError(
      `CKA needs whole channels of ${p} positions; got ${x.length} and ${y.length} values`,
    );
  }
  const cx = x.length / p, cy = y.length / p;
  let keep: Int32Array | null = null;
  let dropped = 0;
  const bad = new Uint8Array(p);
  for (const [z, c] of [[x, cx], [y, cy]] as const) {
    for (let ch = 0; ch < c; ch++) {
      const base = ch * p;
      for (let k = 0; k < p; k++) if (!Number.isFinite(z[base + k])) bad[k] = 1;
    }
  }
  for (let k = 0; k < p; k++) dropped += bad[k];
  if (dropped) {
    keep = new Int32Array(p - dropped);
    let n = 0;
    for (let k = 0; k < p; k++) if (!bad[k]) keep[n++] = k;
  }
  const used = p - dropped;
  const dropNote = dropped ? `${dropped} of ${p} positions dropped for non-finite values` : null;
  if (used < 2) {
    return { cka: null, note: `CKA undefined: fewer than 2 finite positions`, positions: used };
  }
  const xc = centredRows(x, cx, p, keep);
  // Identical frames (e.g. two runs that agree bit for bit) share one Gram matrix: CKA is exactly 1.
  const yc = cx === cy && sameValues(x, y) ? xc : centredRows(y, cy, p, keep);
  const kxx = gramFrobenius2(xc, cx, used);
  const kyy = yc === xc ? kxx : gramFrobenius2(yc, cy, used);
  if (!(kxx > 0) || !(kyy > 0)) {
    return {
      cka: null,
      note: "CKA undefined: a side is constant over positions" + (dropNote ? `; ${dropNote}` : ""),
      positions: used,
    };
  }
  let kxy = 0;
  if (yc === xc) {
    kxy = kxx;
  } else {
    for (let i = 0; i < cy; i++) {
      for (let j = 0; j < cx; j++) {
        const g = dotRows(yc, i, xc, j, used);
        kxy += g * g;
      }
    }
  }
  const cka = kxy / (Math.sqrt(kxx) * Math.sqrt(kyy));
  return { cka: cka > 1 ? 1 : cka, note: dropNote, positions: used };
}

/**
 * Linear CKA (channels as features, positions as samples) between two channel-major frames with
 * the same number of positions; null when undefined (see {@linkcode linearCkaDetailed}).
 *
 * @example Usage
 * ```ts
 * import { linearCka } from "./similarity.ts";
 * const x = new Float32Array([1, 2, 3, 4, 0, 1, 0, 1]); // 2 channels x 4 positions
 * const y = new Float32Array([2, 4, 6, 8]); // 1 channel x 4 positions
 * console.log(linearCka(x, y, { positions: 4 }) !== null); // true
 * ```
 */
export function linearCka(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  options: { positions: number },
): number | null {
  return linearCkaDetailed(x, y, options).cka;
}
