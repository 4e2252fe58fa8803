/**
 * The WGSL kernels on one device behind one object: per-run moments, fixed-edge histograms,
 * spatial maps over channels and colormapped grids, on host arrays or on buffers that already
 * live on the device. Each kernel lives in its own file beside its `.wgsl` (`reduce_rows.ts`,
 * `histogram.ts`, `spatial_maps.ts`, `colorize.ts`); the dispatching (splitting large inputs,
 * error scopes, byte counters) is `dispatch.ts`.
 *
 * Partials are computed in f32 on the GPU (corrected two-pass per chunk) and merged in f64 on the
 * host, so that results agree with the f64 CPU references in `stats/`.
 *
 * @module
 */

import type { RowMoments } from "../stats/moments.ts";
import type { Histogram } from "../stats/histogram.ts";
import type { SpatialMaps } from "../stats/spatial.ts";
import type { ColorizeOptions } from "../render/colormap.ts";
import type { GpuContext } from "./gpu_context.ts";
import { type GpuInput, KernelDispatcher } from "./dispatch.ts";
import { gpuReduceRows, type ReduceStrategy } from "./reduce_rows.ts";
import { gpuHistogram } from "./histogram.ts";
import { gpuSpatialMaps } from "./spatial_maps.ts";
import { gpuColorize } from "./colorize.ts";

export type { RowMoments } from "../stats/moments.ts";
export type { Histogram } from "../stats/histogram.ts";
export type { SpatialMaps } from "../stats/spatial.ts";
export type { ColorizeOptions } from "../render/colormap.ts";
export type { GpuInput, GpuTensor } from "./dispatch.ts";

/**
 * Kernels on one device. Pipelines are compiled once per device and cached.
 *
 * @example Usage
 * ```ts ignore
 * import { openGpu } from "./gpu_context.ts";
 * import { GpuKernels } from "./gpu_kernels.ts";
 * const gpu = await openGpu();
 * if (!("reason" in gpu)) {
 *   const k = new GpuKernels(gpu);
 *   const m = await k.reduceRows(new Float32Array([1, 2, 3, 4]), [2, 2]);
 *   console.log(m.sum); // Float64Array [3, 7]
 * }
 * ```
 */
export class GpuKernels extends KernelDispatcher {
  /**
   * How `reduceRows` spreads a row over threads: `workgroup` (256 threads per chunk of 4096
   * values, tree reductions) or `serial` (one thread per chunk of 1024 values). The default is
   * `serial` on a software adapter, where the bench shows it 5-10x faster, else `workgroup`.
   */
  readonly strategy: ReduceStrategy;

  /** Kernels on the device of `gpu`. */
  constructor(gpu: GpuContext, options: { strategy?: ReduceStrategy } = {}) {
    super(gpu);
    this.strategy = options.strategy ?? (gpu.adapter.isFallbackAdapter ? "serial" : "workgroup");
  }

  /** Moments of `rows` runs of `width` values (see `stats/moments.ts` `reduceRows`). */
  reduceRows(
    input: GpuInput,
    shape: readonly [rows: number, width: number],
  ): Promise<RowMoments> {
    return gpuReduceRows(this, input, { shape, strategy: this.strategy });
  }

  /** Count the values into the fixed bins of `edges` (see `stats/histogram.ts`). */
  histogram(input: GpuInput, edges: Float32Array): Promise<Histogram> {
    return gpuHistogram(this, input, edges);
  }

  /**
   * Mean, std and max over channels per position of `frames` (C, H*W) frames
   * (see `stats/spatial.ts`).
   */
  spatialMaps(
    input: GpuInput,
    shape: readonly [frames: number, channels: number, hw: number],
  ): Promise<SpatialMaps> {
    return gpuSpatialMaps(this, input, { shape });
  }

  /**
   * Colormapped RGBA of `rows` maps of `width` values, each normalised to its own range
   * (see `render/colormap.ts` `colorizeRows`; the bytes are identical).
   */
  colorize(
    input: GpuInput,
    shape: readonly [rows: number, width: number],
    options: ColorizeOptions = {},
  ): Promise<Uint8ClampedArray> {
    return gpuColorize(this, input, { ...options, shape, strategy: this.strategy });
  }
}
