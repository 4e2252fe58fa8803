/**
 * The `histogram.wgsl` kernel: counts into fixed bins (see `stats/histogram.ts`), one shared
 * counts buffer for every dispatch.
 *
 * @module
 */

import { type Histogram, MAX_BINS } from "../stats/histogram.ts";
import { type GpuInput, inputLength, type KernelDispatcher } from "./dispatch.ts";
import { alignUp } from "./plan.ts";

/** Values per histogram workgroup. */
const HIST_BLOCK = 4096;

/**
 * Count the values into the fixed bins of `edges` on the GPU.
 *
 * @example Usage
 * ```ts ignore
 * import { openGpu } from "./gpu_context.ts";
 * import { KernelDispatcher } from "./dispatch.ts";
 * import { gpuHistogram } from "./histogram.ts";
 * const gpu = await openGpu();
 * if (!("reason" in gpu)) {
 *   const d = new KernelDispatcher(gpu);
 *   const h = await gpuHistogram(d, new Float32Array([0.5, 1.5]), new Float32Array([0, 1, 2]));
 *   console.log(h.counts); // Float64Array [1, 1]
 * }
 * ```
 */
export async function gpuHistogram(
  d: KernelDispatcher,
  input: GpuInput,
  edges: Float32Array,
): Promise<Histogram> {
  const nb = edges.length - 1;
  if (nb < 1 || nb > MAX_BINS) {
    throw new RangeError(`histogram needs 2..${MAX_BINS + 1} edges, got ${edges.length}`);
  }
  const { device } = d.gpu;
  const count = inputLength(input);
  const block = Math.max(1, Math.min(HIST_BLOCK, d.maxValuesPerBinding()));
  const edgeBuf = device.createBuffer({
    label: "fi-hist-edges",
    size: alignUp(edges.byteLength, 4),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(
    edgeBuf,
    0,
    edges.buffer as ArrayBuffer,
    edges.byteOffset,
    edges.byteLength,
  );
  const counts = device.createBuffer({
    label: "fi-hist-counts",
    size: alignUp((nb + 3) * 4, 16),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  try {
    const raw = await d.run({
      file: "histogram.wgsl",
      entry: "histogram",
      input,
      units: {
        count: Math.ceil(count / block),
        start: (u) => u * block,
        end: (u) => Math.min(count, (u + 1) * block),
      },
      outBytesPerUnit: 0,
      unitsPerGroup: 1,
      fixedOutput: counts,
      extra: [{ binding: 1, resource: { buffer: edgeBuf } }],
      outBinding: 2,
      paramsBinding: 3,
      params: (seg, bound, groupsX) =>
        new Uint32Array([seg.e1 - seg.e0, bound.shift, block, nb, groupsX, 0, 0, 0]),
    });
    const c = new Uint32Array(raw.buffer, raw.byteOffset, nb + 3);
    return {
      edges,
      counts: Float64Array.from(c.subarray(0, nb)),
      below: c[nb],
      above: c[nb + 1],
      nonfinite: c[nb + 2],
    };
  } finally {
    edgeBuf.destroy();
    counts.destroy();
  }
}
