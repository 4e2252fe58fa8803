/**
 * Read back only parts of a GPU buffer: the saved frames of a tapped tensor that stayed on
 * onnxruntime-web's WebGPU device, instead of the whole activation.
 *
 * @module
 */

import type { TimeLayout } from "./layout.ts";

/** A run of f32 values in a buffer: start index and count. */
export type FloatRange = readonly [start: number, count: number];

/**
 * Copy `ranges` of f32 values out of `buffer` with one command submission and one mapping.
 * The result holds the ranges back to back, in order.
 *
 * @example Usage
 * ```ts ignore
 * import { readRanges } from "./gpu_readback.ts";
 * const values = await readRanges(device, buffer, [[0, 16], [64, 16]]); // 32 values
 * ```
 */
export async function readRanges(
  device: GPUDevice,
  buffer: GPUBuffer,
  ranges: readonly FloatRange[],
): Promise<Float32Array> {
  const total = ranges.reduce((a, r) => a + r[1], 0);
  if (total === 0) return new Float32Array(0);
  const read = device.createBuffer({
    label: "fi-frame-readback",
    size: total * 4,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    const enc = device.createCommandEncoder();
    let at = 0;
    for (const [start, count] of ranges) {
      if (count === 0) continue;
      enc.copyBufferToBuffer(buffer, start * 4, read, at * 4, count * 4);
      at += count;
    }
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(read.getMappedRange().slice(0));
    read.unmap();
    return out;
  } finally {
    read.destroy();
  }
}

/**
 * The f32 ranges that hold frame (b, t) of a tensor in `layout`, in (C, H, W) order.
 *
 * @example Usage
 * ```ts
 * import { detectLayout } from "./layout.ts";
 * import { frameRanges } from "./gpu_readback.ts";
 * const l = detectLayout([4, 2, 3, 3], { batch: 2, time: 2, swapped: false, name: "x" });
 * console.log(frameRanges(l, 1, 0)); // [[36, 18]]
 * ```
 */
export function frameRanges(layout: TimeLayout, b: number, t: number): FloatRange[] {
  const per = layout.frameShape.reduce((a, x) => a * x, 1);
  switch (layout.kind) {
    case "bt_chw":
    case "b_t_chw":
      return [[(b * layout.time + t) * per, per]];
    case "b_chw":
      return [[b * per, per]];
    case "b_c_t_hw": {
      const C = layout.dims[1], Tp = layout.tensorTime, hw = per / C, tp = layout.timeMap[t];
      return Array.from({ length: C }, (_, c): FloatRange => [((b * C + c) * Tp + tp) * hw, hw]);
    }
    default:
      // Channel-last tensors are transposed on the host (layout.ts toChannelFirst).
      throw new Error(`internal error: no GPU frame ranges for channel-last layout ${layout.kind}`);
  }
}
