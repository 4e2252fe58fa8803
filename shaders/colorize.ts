/**
 * The `colorize.wgsl` kernel: colormapped RGBA of maps normalised to their own range, bytes
 * identical to `render/colormap.ts` `colorizeRows`.
 *
 * @module
 */

import {
  type ColorizeOptions,
  colormapWords,
  NAN_COLOR,
  rowNormalizations,
} from "../render/colormap.ts";
import { checkLength, type GpuInput, type KernelDispatcher } from "./dispatch.ts";
import { gpuReduceRows, type ReduceStrategy } from "./reduce_rows.ts";

/** Options of {@linkcode gpuColorize}. */
export interface GpuColorizeOptions extends ColorizeOptions {
  /** `[rows, width]`: `rows` maps of `width` values. */
  shape: readonly [rows: number, width: number];
  /** Strategy of the `reduce_rows` pass that finds the ranges (when they are not given). */
  strategy?: ReduceStrategy;
}

/**
 * Colormapped RGBA of `rows` maps of `width` values on the GPU.
 *
 * @example Usage
 * ```ts ignore
 * import { openGpu } from "./gpu_context.ts";
 * import { KernelDispatcher } from "./dispatch.ts";
 * import { gpuColorize } from "./colorize.ts";
 * const gpu = await openGpu();
 * if (!("reason" in gpu)) {
 *   const d = new KernelDispatcher(gpu);
 *   const rgba = await gpuColorize(d, new Float32Array([0, 1]), { shape: [1, 2] });
 *   console.log(rgba.length); // 8
 * }
 * ```
 */
export async function gpuColorize(
  d: KernelDispatcher,
  input: GpuInput,
  options: GpuColorizeOptions,
): Promise<Uint8ClampedArray> {
  const { shape } = options;
  const [rows, width] = shape;
  checkLength(input, rows * width, `${rows} maps of ${width} values`);
  const total = rows * width;
  if (total === 0) return new Uint8ClampedArray(0);
  let ranges = options.ranges;
  if (!ranges && (options.min === undefined || options.max === undefined)) {
    const m = await gpuReduceRows(d, input, { shape, strategy: options.strategy });
    ranges = {
      min: Array.from(m.min, (v, r) => options.min ?? (m.max[r] >= v ? v : NaN)),
      max: Array.from(m.max, (v, r) => options.max ?? (v >= m.min[r] ? v : NaN)),
    };
  }
  const norms = rowNormalizations(new Float32Array(0), shape, { ...options, ranges });
  const normData = new Float32Array(rows * 2);
  norms.forEach((n, r) => (normData[2 * r] = n.lo, normData[2 * r + 1] = n.scale));
  const { device } = d.gpu;
  const normBuf = device.createBuffer({
    label: "fi-colorize-norms",
    size: normData.byteLength,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(normBuf, 0, normData);
  const nan = options.nanColor ?? NAN_COLOR;
  // Units of `block` values; a workgroup colours 256 values.
  const block = Math.max(1, Math.min(256, d.maxValuesPerBinding()));
  const nanRgba = (nan[0] | (nan[1] << 8) | (nan[2] << 16) | (255 << 24)) >>> 0;
  try {
    const words = await d.run({
      file: "colorize.wgsl",
      entry: "colorize",
      input,
      units: {
        count: Math.ceil(total / block),
        start: (u) => u * block,
        end: (u) => Math.min(total, (u + 1) * block),
      },
      outBytesPerUnit: block * 4,
      unitsPerGroup: 256 / block,
      exactOutput: (seg) => (seg.e1 - seg.e0) * 4,
      extra: [
        { binding: 1, resource: { buffer: normBuf } },
        { binding: 2, resource: { buffer: lut(d, options.colormap ?? "viridis") } },
      ],
      outBinding: 3,
      paramsBinding: 4,
      params: (seg, bound, groupsX) =>
        new Uint32Array([seg.e1 - seg.e0, bound.shift, seg.e0, width, nanRgba, groupsX, 0, 0]),
    });
    return new Uint8ClampedArray(words.buffer, words.byteOffset, total * 4);
  } finally {
    normBuf.destroy();
  }
}

/** The colormap's lookup table on the device, made once per dispatcher. */
function lut(d: KernelDispatcher, name: NonNullable<ColorizeOptions["colormap"]>): GPUBuffer {
  return d.cached(`lut-${name}`, (device) => {
    const buf = device.createBuffer({
      label: `fi-lut-${name}`,
      size: 1024,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(buf, 0, colormapWords(name).buffer as ArrayBuffer);
    return buf;
  });
}
