/**
 * The one list of activation statistics: what is accumulated per run, how partial results
 * merge, what is derived from them, and under which key each goes into the manifest.
 *
 * Two tables:
 *
 * - {@linkcode ACCUMULATORS}: the per-run accumulators of {@linkcode RowMoments} (what the CPU
 *   reference, the WGSL kernel and the in-graph statistics compute for one (frame, channel)
 *   run), each with its merge rule (`sum`, `min`, `max`, or `moments`: the (sum, m2) pair merged
 *   with Chan et al.'s parallel variance) and its value for an empty run. Partials of chunks
 *   (GPU), of passes (split batches) and of runs (a frame, a channel, a layer) are all merged
 *   by {@linkcode mergePart} under these rules.
 * - {@linkcode STATISTICS}: the statistics of {@linkcode SummaryStats}, each derived from merged
 *   accumulators, with its manifest keys (in a layer's `stats` / `per_frame` summaries and in
 *   its `channels`), whether it is computed per channel, and whether a non-finite value is
 *   written as `null`.
 *
 * Adding a statistic derived from the accumulators (e.g. a coefficient of variation) is one
 * entry here, plus its field in `core/manifest.ts` when it goes into the manifest. Adding an
 * accumulator also needs the kernels that compute it: the CPU loop in `moments.ts`, the WGSL
 * partial (`shaders/reduce_rows.wgsl` and its layout in `shaders/reduce_rows.ts`) and the
 * in-graph nodes (`inspector/graph_stats.ts`). The WGSL layout and the in-graph builder have a
 * table keyed by accumulator, so the compiler points at them; the CPU loop in `moments.ts` is
 * written out (it is the hot path), so a forgotten field there stays at its empty value: the
 * CPU-vs-GPU and CPU-vs-NumPy tests catch it once they compare the new field.
 *
 * @module
 */

/** Moments of many runs, struct-of-arrays, one entry per run. */
export interface RowMoments {
  /** Number of runs. */
  rows: number;
  /** Values per run. */
  width: number;
  /** Sum of finite values. */
  sum: Float64Array;
  /** Sum of squared deviations from the run's finite mean (stable, Chan et al. merge). */
  m2: Float64Array;
  /** Minimum finite value (+Infinity when none). */
  min: Float64Array;
  /** Maximum finite value (-Infinity when none). */
  max: Float64Array;
  /** Count of exact zeros. */
  zeros: Float64Array;
  /** Count of NaN and +-Inf. */
  nonfinite: Float64Array;
}

/** Summary statistics of a set of values. */
export interface SummaryStats {
  /** Mean of the finite values. */
  mean: number;
  /** Population standard deviation of the finite values. */
  std: number;
  /** Minimum finite value. */
  min: number;
  /** Maximum finite value. */
  max: number;
  /** Fraction of exact zeros among all values. */
  sparsity: number;
  /** Count of NaN and +-Inf. */
  nonfinite: number;
  /** Number of values. */
  count: number;
}

/** Per-channel statistics, one array entry per channel. */
export interface ChannelStats {
  /** Mean per channel. */
  mean: number[];
  /** Standard deviation per channel. */
  std: number[];
  /** Maximum per channel. */
  max: number[];
  /** Minimum per channel. */
  min: number[];
  /** Fraction of exact zeros per channel. */
  sparsity: number[];
}

/** Name of a per-run accumulator (a `Float64Array` field of {@linkcode RowMoments}). */
export type AccumulatorName = Exclude<keyof RowMoments, "rows" | "width">;

/** Name of a summary statistic (a field of {@linkcode SummaryStats}). */
export type StatisticName = keyof SummaryStats;

/**
 * How partial values of one accumulator combine: added, smallest, largest, or (for the sum and
 * m2 pair) the moment merge of Chan et al. over the finite values.
 */
export type MergeRule = "sum" | "min" | "max" | "moments";

/** One accumulator: its merge rule and its value for a run without values. */
export interface AccumulatorDescriptor {
  /** How partials merge. */
  merge: MergeRule;
  /** Value of an empty run (the identity of the merge). */
  empty: number;
}

/**
 * The per-run accumulators, in {@linkcode RowMoments} order.
 *
 * @example Usage
 * ```ts
 * import { ACCUMULATORS } from "./descriptors.ts";
 * console.log(ACCUMULATORS.min.merge, ACCUMULATORS.min.empty); // "min" Infinity
 * ```
 */
export const ACCUMULATORS: { readonly [K in AccumulatorName]: AccumulatorDescriptor } = {
  sum: { merge: "moments", empty: 0 },
  m2: { merge: "moments", empty: 0 },
  min: { merge: "min", empty: Infinity },
  max: { merge: "max", empty: -Infinity },
  zeros: { merge: "sum", empty: 0 },
  nonfinite: { merge: "sum", empty: 0 },
};

/**
 * The accumulator names, in {@linkcode RowMoments} order.
 *
 * @example Usage
 * ```ts
 * import { ACCUMULATOR_NAMES } from "./descriptors.ts";
 * console.log(ACCUMULATOR_NAMES.includes("zeros")); // true
 * ```
 */
export const ACCUMULATOR_NAMES: readonly AccumulatorName[] = Object.keys(
  ACCUMULATORS,
) as AccumulatorName[];

/** The accumulators of one part (a run, a chunk, a pass) and how many values it holds. */
export type Part = Record<AccumulatorName, number> & {
  /** Number of values, finite or not. */
  count: number;
};

/** Accumulators merged over several parts, with the running finite count and mean. */
export type Merged = Part & {
  /** Number of finite values merged so far. */
  n: number;
  /** Running mean of the finite values. */
  mean: number;
};

/**
 * An empty part (every accumulator at its empty value).
 *
 * @example Usage
 * ```ts
 * import { emptyPart } from "./descriptors.ts";
 * console.log(emptyPart().max, emptyPart().count); // -Infinity 0
 * ```
 */
export function emptyPart(): Part {
  const p = { count: 0 } as Part;
  for (const k of ACCUMULATOR_NAMES) p[k] = ACCUMULATORS[k].empty;
  return p;
}

/**
 * A merge with nothing in it yet.
 *
 * @example Usage
 * ```ts
 * import { emptyMerged } from "./descriptors.ts";
 * console.log(emptyMerged().n); // 0
 * ```
 */
export function emptyMerged(): Merged {
  return { ...emptyPart(), n: 0, mean: 0 };
}

/**
 * Merge one part into `acc` under each accumulator's rule. The moment rule merges (sum, m2)
 * over the part's `count - nonfinite` finite values (Chan et al.), skipping parts without any.
 *
 * @example Usage
 * ```ts
 * import { emptyMerged, mergePart } from "./descriptors.ts";
 * const acc = emptyMerged();
 * mergePart(acc, { count: 2, sum: 2, m2: 0, min: 1, max: 1, zeros: 0, nonfinite: 0 });
 * mergePart(acc, { count: 2, sum: 6, m2: 0, min: 3, max: 3, zeros: 0, nonfinite: 0 });
 * console.log(acc.mean, acc.m2, acc.min, acc.max); // 2 4 1 3
 * ```
 */
export function mergePart(acc: Merged, part: Part): void {
  acc.count += part.count;
  for (const k of RULE_SUM) acc[k] += part[k];
  for (const k of RULE_MIN) if (part[k] < acc[k]) acc[k] = part[k];
  for (const k of RULE_MAX) if (part[k] > acc[k]) acc[k] = part[k];
  const nb = part.count - part.nonfinite;
  if (nb === 0) return;
  const meanB = part.sum / nb;
  const tot = acc.n + nb;
  const d = meanB - acc.mean;
  acc.mean += d * nb / tot;
  acc.m2 += part.m2 + d * d * acc.n * nb / tot;
  acc.n = tot;
  acc.sum += part.sum;
}

/**
 * Merge runs `indices` of `m` (each holding `m.width` values) into `acc`: the same arithmetic, in
 * the same order, as {@linkcode mergePart} of each run in turn, read column by column from the
 * typed arrays (about 20x faster than a part object per run, which matters for the per-frame
 * summaries of every batch).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyMerged, mergePart, mergeRuns } from "./descriptors.ts";
 * const f = (xs: number[]) => new Float64Array(xs);
 * const m = { rows: 2, width: 2, sum: f([2, 6]), m2: f([0, 0]), min: f([1, 3]), max: f([1, 3]),
 *   zeros: f([0, 0]), nonfinite: f([0, 0]) };
 * const fast = emptyMerged(), slow = emptyMerged();
 * mergeRuns(fast, m, [0, 1]);
 * for (const r of [0, 1]) mergePart(slow, { count: 2, sum: m.sum[r], m2: 0, min: m.min[r],
 *   max: m.max[r], zeros: 0, nonfinite: 0 });
 * assert.deepEqual(fast, slow);
 * console.log(fast.mean, fast.m2); // 2 4
 * ```
 */
export function mergeRuns(acc: Merged, m: RowMoments, indices: Iterable<number>): void {
  const sums = RULE_SUM.map((k) => m[k]), mins = RULE_MIN.map((k) => m[k]);
  const maxs = RULE_MAX.map((k) => m[k]);
  const sumV = RULE_SUM.map((k) => acc[k]), minV = RULE_MIN.map((k) => acc[k]);
  const maxV = RULE_MAX.map((k) => acc[k]);
  const { sum, m2, nonfinite, width } = m;
  let { count, n, mean } = acc;
  let accM2 = acc.m2, accSum = acc.sum;
  for (const r of indices) {
    count += width;
    for (let j = 0; j < sums.length; j++) sumV[j] += sums[j][r];
    for (let j = 0; j < mins.length; j++) if (mins[j][r] < minV[j]) minV[j] = mins[j][r];
    for (let j = 0; j < maxs.length; j++) if (maxs[j][r] > maxV[j]) maxV[j] = maxs[j][r];
    const nb = width - nonfinite[r];
    if (nb === 0) continue;
    const meanB = sum[r] / nb;
    const tot = n + nb;
    const d = meanB - mean;
    mean += d * nb / tot;
    accM2 += m2[r] + d * d * n * nb / tot;
    n = tot;
    accSum += sum[r];
  }
  acc.count = count;
  acc.n = n;
  acc.mean = mean;
  acc.m2 = accM2;
  acc.sum = accSum;
  RULE_SUM.forEach((k, j) => acc[k] = sumV[j]);
  RULE_MIN.forEach((k, j) => acc[k] = minV[j]);
  RULE_MAX.forEach((k, j) => acc[k] = maxV[j]);
}

const byRule = (rule: MergeRule): AccumulatorName[] =>
  ACCUMULATOR_NAMES.filter((k) => ACCUMULATORS[k].merge === rule);
const RULE_SUM = byRule("sum"), RULE_MIN = byRule("min"), RULE_MAX = byRule("max");

/** One summary statistic: how it is derived, and where it goes in the manifest. */
export interface StatisticDescriptor {
  /** The statistic of the merged accumulators. */
  of(m: Merged): number;
  /** Key in the manifest's summaries (`stats`, `per_frame`), or null when not written. */
  manifestKey: string | null;
  /** Computed per channel ({@linkcode ChannelStats}). */
  perChannel: boolean;
  /** Key in the manifest's `channels`, or null when not written there. */
  manifestChannelKey: string | null;
  /** Written as `null` in JSON when not finite (else written as is). */
  nullable: boolean;
}

/**
 * The summary statistics, in {@linkcode SummaryStats} order (also the manifest's key order).
 *
 * @example Usage
 * ```ts
 * import { STATISTICS } from "./descriptors.ts";
 * console.log(STATISTICS.sparsity.manifestKey, STATISTICS.count.manifestKey); // "sparsity" null
 * ```
 */
export const STATISTICS = {
  mean: {
    of: (m: Merged) => m.n ? m.mean : NaN,
    manifestKey: "mean",
    perChannel: true,
    manifestChannelKey: "mean",
    nullable: true,
  },
  std: {
    of: (m: Merged) => m.n ? Math.sqrt(m.m2 / m.n) : NaN,
    manifestKey: "std",
    perChannel: true,
    manifestChannelKey: "std",
    nullable: true,
  },
  min: {
    of: (m: Merged) => m.n ? m.min : NaN,
    manifestKey: "min",
    perChannel: true,
    manifestChannelKey: null,
    nullable: true,
  },
  max: {
    of: (m: Merged) => m.n ? m.max : NaN,
    manifestKey: "max",
    perChannel: true,
    manifestChannelKey: "max",
    nullable: true,
  },
  sparsity: {
    of: (m: Merged) => m.count ? m.zeros / m.count : 0,
    manifestKey: "sparsity",
    perChannel: true,
    manifestChannelKey: "sparsity",
    nullable: false,
  },
  nonfinite: {
    of: (m: Merged) => m.nonfinite,
    manifestKey: "nonfinite",
    perChannel: false,
    manifestChannelKey: null,
    nullable: false,
  },
  count: {
    of: (m: Merged) => m.count,
    manifestKey: null,
    perChannel: false,
    manifestChannelKey: null,
    nullable: false,
  },
} as const satisfies { readonly [K in StatisticName]: StatisticDescriptor };

/**
 * The statistic names, in {@linkcode SummaryStats} order.
 *
 * @example Usage
 * ```ts
 * import { STATISTIC_NAMES } from "./descriptors.ts";
 * console.log(STATISTIC_NAMES[0]); // "mean"
 * ```
 */
export const STATISTIC_NAMES: readonly StatisticName[] = Object.keys(
  STATISTICS,
) as StatisticName[];

/** Names of the statistics computed per channel (the fields of {@linkcode ChannelStats}). */
export type ChannelStatisticName = keyof ChannelStats;

/** The statistics whose descriptor says `perChannel: true`. */
type PerChannelNames = {
  [K in StatisticName]: (typeof STATISTICS)[K]["perChannel"] extends true ? K : never;
}[StatisticName];
/** Compile-time check: the per-channel descriptors are exactly the fields of ChannelStats. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _channelsMatch: Same<PerChannelNames, ChannelStatisticName> = true;
void _channelsMatch;

/**
 * The per-channel statistics, in {@linkcode STATISTICS} order.
 *
 * @example Usage
 * ```ts
 * import { CHANNEL_STATISTIC_NAMES } from "./descriptors.ts";
 * console.log(CHANNEL_STATISTIC_NAMES); // ["mean", "std", "min", "max", "sparsity"]
 * ```
 */
export const CHANNEL_STATISTIC_NAMES: readonly ChannelStatisticName[] = STATISTIC_NAMES.filter(
  (k) => STATISTICS[k].perChannel,
) as ChannelStatisticName[];

/**
 * The summary statistics of merged accumulators.
 *
 * @example Usage
 * ```ts
 * import { emptyMerged, mergePart, summaryOf } from "./descriptors.ts";
 * const acc = emptyMerged();
 * mergePart(acc, { count: 4, sum: 2, m2: 1, min: 0, max: 1, zeros: 2, nonfinite: 0 });
 * console.log(summaryOf(acc).sparsity); // 0.5
 * ```
 */
export function summaryOf(m: Merged): SummaryStats {
  const out = {} as SummaryStats;
  for (const k of STATISTIC_NAMES) out[k] = STATISTICS[k].of(m);
  return out;
}
