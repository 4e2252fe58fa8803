/**
 * Count the GPU buffers alive on a device: a leak check for long-running use (one inspector,
 * many batches). Wraps `device.createBuffer` once; every buffer created afterwards is counted
 * until it is destroyed.
 *
 * @module
 */

const trackers = new WeakMap<GPUDevice, { live: number }>();

/**
 * Start counting live buffers on `device` (idempotent) and return a reader of the count.
 *
 * @example Usage
 * ```ts ignore
 * import { trackGpuBuffers } from "./gpu_tracking.ts";
 * const live = trackGpuBuffers(device);
 * const b = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
 * console.log(live()); // 1
 * b.destroy();
 * console.log(live()); // 0
 * ```
 */
export function trackGpuBuffers(device: GPUDevice): () => number {
  let t = trackers.get(device);
  if (!t) {
    const state = { live: 0 };
    t = state;
    trackers.set(device, state);
    const create = device.createBuffer.bind(device);
    device.createBuffer = (desc: GPUBufferDescriptor): GPUBuffer => {
      const buf = create(desc);
      state.live++;
      const destroy = buf.destroy.bind(buf);
      let done = false;
      buf.destroy = () => {
        if (!done) {
          done = true;
          state.live--;
        }
        destroy();
      };
      return buf;
    };
  }
  const s = t;
  return () => s.live;
}
