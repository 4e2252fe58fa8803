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

const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;
const range = (a: number, b: number): string => `${Math.round(100 * a)}–${Math.round(100 * b)} %`;
const num = (x: number): string =>
  Math.abs(x) >= 1e-3 || x === 0 ? String(Number(x.toPrecision(3))) : x.toExponential(2);

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
            message: `mean activation ${num(s.mean)} is below ${t.meanLow}, but the layer has ` +
              `negative values (a Conv/BN output before its ReLU), where a mean near 0 is normal.`,
          }
          : {
            level: "warn",
            code: "low_mean",
            message: `mean activation ${num(s.mean)} is below ${t.meanLow}: the layer is mostly ` +
              `inactive (dead units, a too-strong negative bias, or vanishing signal).`,
          },
      );
    } else if (Number.isFinite(s.mean) && s.mean > t.meanHigh) {
      flags.push({
        level: "warn",
        code: "high_mean",
        message: `mean activation ${num(s.mean)} is above ${t.meanHigh}: activations may be ` +
          `saturated or exploding (check normalisation and learning rate).`,
      });
    }
    if (s.sparsity > t.sparsityHigh) {
      flags.push({
        level: "warn",
        code: "too_sparse",
        message: `${pct(s.sparsity)} of the activations are exactly zero (healthy ${
          range(t.sparsityLow, t.sparsityHigh)
        }): too sparse, many units are switched off (dying ReLUs).`,
      });
    } else if (s.sparsity < t.sparsityLow) {
      flags.push({
        level: signed && s.sparsity === 0 ? "info" : "warn",
        code: "too_dense",
        message: `only ${pct(s.sparsity)} of the activations are exactly zero (healthy ${
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
