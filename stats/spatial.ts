/**
 * Spatial maps over channels: the CPU reference of `shaders/spatial_maps.wgsl`.
 *
 * For each frame `(C, H, W)` and each position, the mean, population std and max over the
 * channels' finite values (NaN when a position has none), the maps that `analyze` draws as
 * `<layer>_spatial_patterns.png`.
 *
 * @module
 */

/** Mean, std and max over channels, each `frames * H * W` values (frame-major). */
export interface SpatialMaps {
  /** Frames. */
  frames: number;
  /** Positions per frame (H * W). */
  hw: number;
  /** Mean over channels per position. */
  mean: Float32Array;
  /** Population standard deviation over channels per position. */
  std: Float32Array;
  /** Maximum over channels per position. */
  max: Float32Array;
}

/**
 * Spatial maps of `frames` frames of `channels` maps of `hw` values each (the CPU reference).
 * Accumulates in f64, two passes (mean, then squared deviations).
 *
 * @example Usage
 * ```ts
 * import { spatialMaps } from "./spatial.ts";
 * // one frame, 2 channels of 1 x 2
 * const m = spatialMaps(new Float32Array([1, 2, 3, 6]), [1, 2, 2]);
 * console.log(Array.from(m.mean), Array.from(m.std), Array.from(m.max)); // [2, 4] [1, 2] [3, 6]
 * ```
 */
export function spatialMaps(
  data: Float32Array,
  shape: readonly [frames: number, channels: number, hw: number],
): SpatialMaps {
  const [frames, channels, hw] = shape;
  if (frames * channels * hw > data.length) {
    throw new RangeError(
      `spatial maps of (${frames}, ${channels}, ${hw}) need ${frames * channels * hw} values, ` +
        `got ${data.length}`,
    );
  }
  const mean = new Float32Array(frames * hw);
  const std = new Float32Array(frames * hw);
  const max = new Float32Array(frames * hw);
  const n = new Float64Array(hw), sum = new Float64Array(hw), mx = new Float64Array(hw);
  const m2 = new Float64Array(hw);
  for (let f = 0; f < frames; f++) {
    n.fill(0), sum.fill(0), mx.fill(-Infinity), m2.fill(0);
    const base = f * channels * hw;
    for (let c = 0; c < channels; c++) {
      const off = base + c * hw;
      for (let p = 0; p < hw; p++) {
        const v = data[off + p];
        if (!Number.isFinite(v)) continue;
        n[p]++;
        sum[p] += v;
        if (v > mx[p]) mx[p] = v;
      }
    }
    for (let p = 0; p < hw; p++) sum[p] = n[p] ? sum[p] / n[p] : NaN; // sum now holds the mean
    for (let c = 0; c < channels; c++) {
      const off = base + c * hw;
      for (let p = 0; p < hw; p++) {
        const v = data[off + p];
        if (!Number.isFinite(v)) continue;
        const d = v - sum[p];
        m2[p] += d * d;
      }
    }
    for (let p = 0; p < hw; p++) {
      const o = f * hw + p;
      mean[o] = sum[p];
      std[o] = n[p] ? Math.sqrt(m2[p] / n[p]) : NaN;
      max[o] = n[p] ? mx[p] : NaN;
    }
  }
  return { frames, hw, mean, std, max };
}
