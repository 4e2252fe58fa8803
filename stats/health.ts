/**
 * Health flags of a layer's activations, from the original toolkit's guide:
 *
 * | check | healthy | flag |
 * | --- | --- | --- |
 * | mean activation | 0.1 – 2.0 | below: mostly dead / inactive; above: saturated / exploding |
 * | sparsity (exact zeros) | 30 – 70 % | above: too sparse (dying ReLUs); below: too dense |
 * | dead channels | none | channels that are exactly zero in every saved frame |
 * | non-finite values | none | NaN or +-Inf present |
 *
 * Each flag is a short sentence a person understands, with a level and a stable code.
 *
 * @module
 */

/** One health finding. */
export interface HealthFlag {
  /** `error` (broken), `warn` (outside the healthy range) or `info`. */
  level: "error" | "warn" | "info";
  /** Stable code: `low_mean`, `high_mean`, `too_sparse`, `too_dense`, `dead_channels`, `all_dead`, `nonfinite`. */
  code: string;
  /** The finding in one sentence. */
  message: string;
}

/** Thresholds of {@linkcode healthFlags} (defaults from the original guide). */
export interface HealthThresholds {
  /** Lowest healthy mean activation (0.1). */
  meanLow: number;
  /** Highest healthy mean activation (2.0). */
  meanHigh: number;
  /** Lowest healthy sparsity (0.3). */
  sparsityLow: number;
  /** Highest healthy sparsity (0.7). */
  sparsityHigh: number;
}

/** The guide's thresholds. */
export const DEFAULT_THRESHOLDS: Readonly<HealthThresholds> = {
  meanLow: 0.1,
  meanHigh: 2.0,
  sparsityLow: 0.3,
  sparsityHigh: 0.7,
};

/** What {@linkcode healthFlags} looks at. */
export interface HealthInput {
  /** Mean of the finite values. */
  mean: number;
  /** Fraction of exact zeros. */
  sparsity: number;
  /** Count of NaN / +-Inf. */
  nonfinite: number;
  /** Minimum finite value: a negative minimum marks a pre-activation layer (before a ReLU). */
  min?: number;
  /** Number of values. */
  count: number;
  /** Number of channels. */
  channels: number;
  /** Channels that are all zero. */
  deadChannels: readonly number[];
}

/** -1 below the band, 0 inside (bounds included), 1 above. */
const side = (x: number, lo: number, hi: number): number => x < lo ? -1 : x > hi ? 1 : 0;

/**
 * A fraction as a percentage (`"48.2 %"`) with one decimal, or more where one decimal would put
 * the printed value on the other side of a band edge than the true value: 0.29984 with the
 * healthy band 0.3–0.7 prints `"29.98 %"`, never `"30.0 %"`. The rule every health message and
 * report table uses for sparsity, so a flagged value never reads as inside the band.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { bandPercent } from "./health.ts";
 * assert.equal(bandPercent(0.4821), "48.2 %");
 * assert.equal(bandPercent(0.29984), "29.98 %");
 * assert.equal(bandPercent(0.70004), "70.004 %");
 * ```
 */
export function bandPercent(
  x: number,
  band: readonly [number, number] = [
    DEFAULT_THRESHOLDS.sparsityLow,
    DEFAULT_THRESHOLDS.sparsityHigh,
  ],
): string {
  if (!Number.isFinite(x)) return "n/a";
  const want = side(x, band[0], band[1]);
  let d = 1;
  while (d < 8 && side(Number((100 * x).toFixed(d)) / 100, band[0], band[1]) !== want) d++;
  return `${(100 * x).toFixed(d)} %`;
}

/**
 * A number with 3 significant digits (exponent below 1e-3), or more where 3 would put the
 * printed value on the other side of a band edge than the true value (0.09996 with the healthy
 * mean band 0.1–2 prints `"0.09996"`, never `"0.1"`).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { bandNumber } from "./health.ts";
 * assert.equal(bandNumber(0.0344), "0.0344");
 * assert.equal(bandNumber(0.09996), "0.09996");
 * ```
 */
export function bandNumber(
  x: number,
  band: readonly [number, number] = [DEFAULT_THRESHOLDS.meanLow, DEFAULT_THRESHOLDS.meanHigh],
): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "n/a" : x > 0 ? "inf" : "-inf";
  if (Math.abs(x) < 1e-3 && x !== 0) return x.toExponential(2);
  const want = side(x, band[0], band[1]);
  let p = 3;
  while (p < 12 && side(Number(x.toPrecision(p)), band[0], band[1]) !== want) p++;
  return String(Number(x.toPrecision(p)));
}

/** A share that is flagged whenever it is above zero (NaN/Inf values, dead channels). */
const pct = (x: number): string => bandPercent(x, [0, 0]);
const range = (a: number, b: number): string => `${Math.round(100 * a)}–${Math.round(100 * b)} %`;

function listChannels(ch: readonly number[]): string {
  const shown = ch.slice(0, 12).join(", ");
  return ch.length > 12 ? `${shown}, … (+${ch.length - 12} more)` : shown;
}

/**
 * Flag a layer whose statistics leave the guide's healthy ranges.
 *
 * @example Usage
 * ```ts
 * import { healthFlags } from "./health.ts";
 * const flags = healthFlags({
 *   mean: 0.02, sparsity: 0.95, nonfinite: 0, count: 1000, channels: 8, deadChannels: [3],
 * });
 * console.log(flags.map((f) => f.code)); // ["low_mean", "too_sparse", "dead_channels"]
 * ```
 */
export function healthFlags(
  s: HealthInput,
  thresholds: Partial<HealthThresholds> = {},
): HealthFlag[] {
  const t = { ...DEFAULT_THRESHOLDS, ...thresholds };
  const flags: HealthFlag[] = [];
  if (s.nonfinite > 0) {
    flags.push({
      level: "error",
      code: "nonfinite",
      message: `${s.nonfinite} of ${s.count} values are NaN or infinite (${
        pct(s.nonfinite / s.count)
      }): the forward pass overflowed or the weights are broken; statistics use the finite values.`,
    });
  }
  if (s.channels > 0 && s.deadChannels.length === s.channels) {
    flags.push({
      level: "error",
      code: "all_dead",
      message:
        `all ${s.channels} channels are exactly zero in every saved frame: the layer is dead.`,
    });
  } else {
    const signed = s.min !== undefined && s.min < 0;
    if (Number.isFinite(s.mean) && s.mean < t.meanLow) {
      flags.push(
        signed
          ? {
            level: "info",
            code: "low_mean",
            message:
              `mean activation ${
                bandNumber(s.mean, [t.meanLow, t.meanHigh])
              } is below ${t.meanLow}, but the layer has ` +
              `negative values (a Conv/BN output before its ReLU), where a mean near 0 is normal.`,
          }
          : {
            level: "warn",
            code: "low_mean",
            message:
              `mean activation ${
                bandNumber(s.mean, [t.meanLow, t.meanHigh])
              } is below ${t.meanLow}: the layer is mostly ` +
              `inactive (dead units, a too-strong negative bias, or vanishing signal).`,
          },
      );
    } else if (Number.isFinite(s.mean) && s.mean > t.meanHigh) {
      flags.push({
        level: "warn",
        code: "high_mean",
        message:
          `mean activation ${
            bandNumber(s.mean, [t.meanLow, t.meanHigh])
          } is above ${t.meanHigh}: activations may be ` +
          `saturated or exploding (check normalisation and learning rate).`,
      });
    }
    if (s.sparsity > t.sparsityHigh) {
      flags.push({
        level: "warn",
        code: "too_sparse",
        message: `${
          bandPercent(s.sparsity, [t.sparsityLow, t.sparsityHigh])
        } of the activations are exactly zero (healthy ${
          range(t.sparsityLow, t.sparsityHigh)
        }): too sparse, many units are switched off (dying ReLUs).`,
      });
    } else if (s.sparsity < t.sparsityLow) {
      flags.push({
        level: signed && s.sparsity === 0 ? "info" : "warn",
        code: "too_dense",
        message: `only ${
          bandPercent(s.sparsity, [t.sparsityLow, t.sparsityHigh])
        } of the activations are exactly zero (healthy ${
          range(t.sparsityLow, t.sparsityHigh)
        }): too dense, little selectivity (normal before a ReLU).`,
      });
    }
    if (s.deadChannels.length > 0) {
      flags.push({
        level: "warn",
        code: "dead_channels",
        message: `${s.deadChannels.length} of ${s.channels} channels (${
          pct(s.deadChannels.length / s.channels)
        }) are exactly zero in every saved frame: ${listChannels(s.deadChannels)}.`,
      });
    }
  }
  return flags;
}
