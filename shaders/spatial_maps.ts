/**
 * The `spatial_maps.wgsl` kernel: mean, std and max over channels per position (see
 * `stats/spatial.ts`), as f32 partials per (frame, channel group), merged in f64 on the host.
 *
 * @module
 */

import type { SpatialMaps } from "../stats/spatial.ts";
import { checkLength, type GpuInput, type KernelDispatcher } from "./dispatch.ts";

/** Bytes of one position's partial (8 words). */
const PARTIAL_BYTES = 32;

/**
 * Mean, std and max over channels per position of `frames` (C, H*W) frames, on the GPU.
 *
 * @example Usage
 * ```ts ignore
 * import { openGpu } from "./gpu_context.ts";
 * import { KernelDispatcher } from "./dispatch.ts";
 * import { gpuSpatialMaps } from "./spatial_maps.ts";
 * const gpu = await openGpu();
 * if (!("reason" in gpu)) {
 *   const d = new KernelDispatcher(gpu);
 *   const s = await gpuSpatialMaps(d, new Float32Array([1, 3]), { shape: [1, 2, 1] });
 *   console.log(s.mean); // Float32Array [2]
 * }
 * ```
 */
export async function gpuSpatialMaps(
  d: KernelDispatcher,
  input: GpuInput,
  options: { shape: readonly [frames: number, channels: number, hw: number] },
): Promise<SpatialMaps> {
  const { shape } = options;
  const [frames, channels, hw] = shape;
  checkLength(input, frames * channels * hw, `spatial maps of (${frames}, ${channels}, ${hw})`);
  const { limits } = d.gpu;
  const slack = Math.max(0, limits.alignment - 4);
  const fit = Math.floor((limits.maxBindingBytes - slack) / (hw * 4));
  if (fit < 1) {
    throw new RangeError(
      `one ${hw}-value channel map exceeds the ${limits.maxBindingBytes}-byte binding limit`,
    );
  }
  const group = Math.min(channels, fit);
  const gpf = Math.ceil(channels / group);
  const result: SpatialMaps = {
    frames,
    hw,
    mean: new Float32Array(frames * hw),
    std: new Float32Array(frames * hw),
    max: new Float32Array(frames * hw),
  };
  if (frames * hw === 0) return result;
  if (channels === 0) {
    result.mean.fill(NaN), result.std.fill(NaN), result.max.fill(NaN);
    return result;
  }
  const parts = await d.run({
    file: "spatial_maps.wgsl",
    entry: "spatial_maps",
    input,
    units: {
      count: frames * gpf,
      start: (u) => (Math.floor(u / gpf) * channels + (u % gpf) * group) * hw,
      end: (u) => (Math.floor(u / gpf) * channels + Math.min(channels, (u % gpf + 1) * group)) * hw,
    },
    outBytesPerUnit: hw * PARTIAL_BYTES,
    unitsPerGroup: 64 / hw,
    params: (seg, bound, groupsX) =>
      new Uint32Array([
        hw,
        channels,
        group,
        gpf,
        seg.u0,
        seg.u1 - seg.u0,
        Math.floor(seg.u0 / gpf),
        seg.u0 % gpf,
        bound.shift,
        groupsX,
        0,
        0,
      ]),
  });
  mergeSpatialPartials(parts, result, gpf);
  return result;
}

/** Merge per-(frame, channel group) partials into spatial maps in f64. */
function mergeSpatialPartials(bytes: Uint8Array, out: SpatialMaps, gpf: number): void {
  const u = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const f = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const hw = out.hw;
  for (let fr = 0; fr < out.frames; fr++) {
    for (let p = 0; p < hw; p++) {
      let n = 0, mean = 0, m2 = 0, mx = -Infinity;
      for (let g = 0; g < gpf; g++) {
        const o = ((fr * gpf + g) * hw + p) * 8;
        const nb = u[o];
        if (nb === 0) continue;
        const sd = f[o + 2];
        const meanB = f[o + 1] + sd / nb;
        const m2B = Math.max(0, f[o + 3] - sd * sd / nb);
        if (f[o + 4] > mx) mx = f[o + 4];
        const tot = n + nb;
        const d = meanB - mean;
        mean += d * nb / tot;
        m2 += m2B + d * d * n * nb / tot;
        n = tot;
      }
      const i = fr * hw + p;
      out.mean[i] = n ? mean : NaN;
      out.std[i] = n ? Math.sqrt(m2 / n) : NaN;
      out.max[i] = n ? mx : NaN;
    }
  }
}
