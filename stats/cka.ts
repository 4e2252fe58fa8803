/**
 * Minibatch linear CKA with the unbiased HSIC estimator (Nguyen et al. 2021, "Do wide and deep
 * networks learn the same things?"). For each minibatch of `n` samples (rows) the linear Gram
 * matrices `K = X X^T`, `L = Y Y^T` give the unbiased HSIC of Song et al. (2012):
 * `HSIC_1(K, L) = [tr(K~L~) + 1^T K~ 1 1^T L~ 1 / ((n-1)(n-2)) - 2/(n-2) 1^T K~ L~ 1] / (n(n-3))`
 * with `K~`, `L~` the Grams with the diagonal zeroed. CKA over batches is
 * `sum HSIC(K,L) / sqrt(sum HSIC(K,K) * sum HSIC(L,L))`. The accumulator is three sums, so two
 * accumulators merge by adding them ({@linkcode mergeCka}), which is what dataset mode needs.
 *
 * @module
 */

import { InspectorError } from "../core/errors.ts";

/** Running sums of unbiased HSIC over minibatches. */
export interface CkaAccumulator {
  /** Sum of HSIC(K, L). */
  xy: number;
  /** Sum of HSIC(K, K). */
  xx: number;
  /** Sum of HSIC(L, L). */
  yy: number;
  /** Minibatches added. */
  batches: number;
}

/**
 * An empty accumulator.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyCka } from "./cka.ts";
 * assert.equal(emptyCka().batches, 0);
 * ```
 */
export function emptyCka(): CkaAccumulator {
  return { xy: 0, xx: 0, yy: 0, batches: 0 };
}

/**
 * The linear Gram matrix `X X^T` of `n` samples (rows of `x`, `n x d` row-major) with its diagonal
 * zeroed, as {@linkcode hsicUnbiased} takes it.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { linearGram } from "./cka.ts";
 * assert.deepEqual([...linearGram([1, 2, 3, 4], { n: 2, d: 2 })], [0, 11, 11, 0]);
 * ```
 */
export function linearGram(x: ArrayLike<number>, dims: { n: number; d: number }): Float64Array {
  return _gram(x, dims.n, dims.d);
}

function _gram(x: ArrayLike<number>, n: number, d: number): Float64Array {
  const k = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += x[i * d + c] * x[j * d + c];
      k[i * n + j] = s;
      k[j * n + i] = s;
    }
  }
  for (let i = 0; i < n; i++) k[i * n + i] = 0;
  return k;
}

/**
 * Unbiased HSIC of two zero-diagonal Gram matrices of `n x n` (n > 3).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { hsicUnbiased } from "./cka.ts";
 * const k = new Float64Array(16).map((_, i) => (i % 5 === 0 ? 0 : 1));
 * assert.ok(Math.abs(hsicUnbiased(k, k, 4)) < 1e-12);
 * ```
 */
export function hsicUnbiased(k: Float64Array, l: Float64Array, n: number): number {
  let tr = 0, sk = 0, sl = 0, kl1 = 0;
  const rk = new Float64Array(n), rl = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const a = k[i * n + j], b = l[i * n + j];
      tr += a * b;
      rk[i] += a;
      rl[i] += b;
    }
  }
  for (let i = 0; i < n; i++) (sk += rk[i], sl += rl[i], kl1 += rk[i] * rl[i]);
  return (tr + sk * sl / ((n - 1) * (n - 2)) - 2 / (n - 2) * kl1) / (n * (n - 3));
}

/**
 * Adds one minibatch: `x` is `n x dx` row-major, `y` is `n x dy`, the same `n` samples (n > 3).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { addCkaBatch, ckaValue, emptyCka } from "./cka.ts";
 * const x = [1, 0, 0, 1, 2, 3, 5, 1, 4, 4];
 * const acc = addCkaBatch(emptyCka(), { x, dx: 2, y: x.map((v) => 3 * v), dy: 2 });
 * assert.ok(Math.abs(ckaValue(acc)! - 1) < 1e-12);
 * ```
 */
export function addCkaBatch(
  acc: CkaAccumulator,
  batch: { x: ArrayLike<number>; dx: number; y: ArrayLike<number>; dy: number },
): CkaAccumulator {
  const n = batch.x.length / batch.dx;
  if (n !== batch.y.length / batch.dy || n < 4) {
    const m = batch.y.length / batch.dy;
    throw new InspectorError(
      `batch.x and batch.y must hold the same number (at least 4) of samples, got ${n} and ${m}: pass matching minibatches`,
    );
  }
  const k = _gram(batch.x, n, batch.dx), l = _gram(batch.y, n, batch.dy);
  return {
    xy: acc.xy + hsicUnbiased(k, l, n),
    xx: acc.xx + hsicUnbiased(k, k, n),
    yy: acc.yy + hsicUnbiased(l, l, n),
    batches: acc.batches + 1,
  };
}

/**
 * Merges two accumulators (e.g. from two clips of a dataset).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyCka, mergeCka } from "./cka.ts";
 * assert.equal(mergeCka(emptyCka(), { xy: 1, xx: 1, yy: 1, batches: 1 }).batches, 1);
 * ```
 */
export function mergeCka(a: CkaAccumulator, b: CkaAccumulator): CkaAccumulator {
  return { xy: a.xy + b.xy, xx: a.xx + b.xx, yy: a.yy + b.yy, batches: a.batches + b.batches };
}

/**
 * The CKA of the accumulated batches, `null` if either self-HSIC is not positive.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { ckaValue, emptyCka } from "./cka.ts";
 * assert.equal(ckaValue(emptyCka()), null);
 * ```
 */
export function ckaValue(acc: CkaAccumulator): number | null {
  return acc.xx > 0 && acc.yy > 0 ? acc.xy / Math.sqrt(acc.xx * acc.yy) : null;
}
