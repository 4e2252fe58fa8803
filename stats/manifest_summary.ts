/**
 * Statistics as written to the manifest: the conversion from {@linkcode SummaryStats} and
 * {@linkcode ChannelStats} to the manifest's `stats`/`per_frame` and `channels` entries, driven
 * by the descriptor list (`descriptors.ts`: manifest keys, and which values become `null` when
 * not finite). The manifest types themselves are the file format and live in `core/manifest.ts`.
 *
 * @module
 */

import type { ManifestChannels, ManifestSummary } from "../core/manifest.ts";
import {
  type ChannelStats,
  STATISTIC_NAMES,
  type StatisticName,
  STATISTICS,
  type SummaryStats,
} from "./descriptors.ts";

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Desc = typeof STATISTICS;
/** Manifest summary keys the descriptors declare. */
type SummaryKeys = { [K in StatisticName]: Desc[K]["manifestKey"] }[StatisticName];
/** Manifest channel keys the descriptors declare. */
type ChannelKeys = { [K in StatisticName]: Desc[K]["manifestChannelKey"] }[StatisticName];
// Compile-time checks: the descriptors' manifest keys are exactly the fields of the format.
const _summaryMatches: Same<Exclude<SummaryKeys, null>, keyof ManifestSummary> = true;
const _channelsMatch: Same<Exclude<ChannelKeys, null>, keyof ManifestChannels> = true;
void _summaryMatches, void _channelsMatch;

const SUMMARY_FIELDS = STATISTIC_NAMES.flatMap((name) => {
  const d: { manifestKey: string | null; nullable: boolean } = STATISTICS[name];
  return d.manifestKey === null ? [] : [{ name, key: d.manifestKey, nullable: d.nullable }];
});
const CHANNEL_FIELDS = STATISTIC_NAMES.flatMap((name) => {
  const d: { manifestChannelKey: string | null; nullable: boolean; perChannel: boolean } =
    STATISTICS[name];
  return d.manifestChannelKey === null || !d.perChannel
    ? []
    : [{ name: name as keyof ChannelStats, key: d.manifestChannelKey, nullable: d.nullable }];
});

const json = (v: number, nullable: boolean): number | null =>
  nullable && !Number.isFinite(v) ? null : v;

/**
 * Convert summary statistics for the manifest (keys and nulls as the descriptors say).
 *
 * @example Usage
 * ```ts
 * import { manifestSummary } from "./manifest_summary.ts";
 * const s = manifestSummary({ mean: NaN, std: 0, min: 1, max: 1, sparsity: 0, nonfinite: 0, count: 4 });
 * console.log(s.mean, s.std, "count" in s); // null 0 false
 * ```
 */
export function manifestSummary(s: SummaryStats): ManifestSummary {
  const out: Record<string, number | null> = {};
  for (const f of SUMMARY_FIELDS) out[f.key] = json(s[f.name], f.nullable);
  return out as unknown as ManifestSummary;
}

/**
 * Convert per-channel statistics for the manifest (only the channel keys the descriptors list).
 *
 * @example Usage
 * ```ts
 * import { manifestChannels } from "./manifest_summary.ts";
 * const c = manifestChannels({ mean: [1, NaN], std: [0, 0], max: [1, 2], min: [1, 2], sparsity: [0, 1] });
 * console.log(c.mean, "min" in c); // [1, null] false
 * ```
 */
export function manifestChannels(c: ChannelStats): ManifestChannels {
  const out: Record<string, (number | null)[]> = {};
  for (const f of CHANNEL_FIELDS) {
    out[f.key] = f.nullable ? c[f.name].map((v) => json(v, true)) : c[f.name];
  }
  return out as unknown as ManifestChannels;
}
