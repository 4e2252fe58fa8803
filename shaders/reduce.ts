/**
 * One entry point for activation statistics, on the GPU or on the CPU.
 *
 * {@linkcode createReducer} decides where reductions run (`--gpu on|off|auto`) and returns a
 * {@linkcode Reducer} whose methods take host values (`Float32Array`) or tensors that already
 * live on the GPU ({@linkcode GpuTensor}, e.g. onnxruntime-web outputs with
 * `preferredOutputLocation: "gpu-buffer"`, on ORT's own device). Results are the same types as
 * the CPU references in `stats/moments.ts`, `stats/histogram.ts`, `stats/spatial.ts` and
 * `render/colormap.ts`.
 *
 * `auto`: the WGSL kernels run on a hardware adapter, and on any adapter for data that is already
 * on the GPU; host arrays on a software adapter (llvmpipe) use the CPU reference, which the bench
 * shows to be faster there. Without an adapter, the CPU reference runs and `onInfo` receives one
 * line saying so.
 *
 * @module
 */

import { InspectorError } from "../core/errors.ts";
import { reduceRows as cpuReduceRows, type RowMoments } from "../stats/moments.ts";
import { type Histogram, histogram as cpuHistogram } from "../stats/histogram.ts";
import { type SpatialMaps, spatialMaps as cpuSpatialMaps } from "../stats/spatial.ts";
import { type ColorizeOptions, colorizeRows } from "../render/colormap.ts";
import { type GpuContext, openGpu } from "./gpu_context.ts";
import { downloadTensor, type GpuTensor } from "./dispatch.ts";
import { GpuKernels } from "./gpu_kernels.ts";

export type { GpuTensor } from "./dispatch.ts";
export type { RowMoments } from "../stats/moments.ts";
export type { Histogram } from "../stats/histogram.ts";
export type { SpatialMaps } from "../stats/spatial.ts";
export type { ColorizeOptions } from "../render/colormap.ts";

/** Where statistics may run: `on` (WebGPU, error without it), `off` (CPU), `auto`. */
export type GpuMode = "on" | "off" | "auto";

/** Host values or a tensor on the reducer's device. */
export type ReducerInput = Float32Array | GpuTensor;

/** Where a reducer runs, for the manifest and the console. */
export interface ReducerInfo {
  /** Where host arrays are reduced. */
  where: "webgpu" | "cpu";
  /** Where tensors already on the GPU are reduced (`cpu` means: read back first). */
  whereDeviceTensors: "webgpu" | "cpu";
  /** Adapter description, or null without one. */
  adapter: string | null;
  /** Whether the adapter is a software (fallback) one such as llvmpipe. */
  fallbackAdapter: boolean;
  /** One line explaining the choice. */
  reason: string;
  /** Where the calls so far actually ran (`none` before the first call). */
  ran: "webgpu" | "cpu" | "webgpu+cpu" | "none";
}

/** What a reducer has done so far. */
export interface ReducerUsage {
  /** Kernel calls that ran on the GPU. */
  webgpu: number;
  /** Calls that ran the CPU reference. */
  cpu: number;
  /** Bytes read back from the GPU (statistics, maps, RGBA, and any full tensor readback). */
  bytesReadBack: number;
  /** Bytes uploaded to the GPU. */
  bytesUploaded: number;
}

/** Options of {@linkcode createReducer}. */
export interface ReducerOptions {
  /** `on`, `off` or `auto` (default). */
  gpu?: GpuMode;
  /** Run on this device, e.g. `await ort.env.webgpu.device`, where the tensors live. */
  device?: GPUDevice;
  /** Receives one-line notes, e.g. that the CPU reference runs because there is no adapter. */
  onInfo?: (line: string) => void;
  /** Narrow the storage binding limit (bytes) to test splitting. */
  maxBindingBytes?: number;
  /** Narrow the workgroups-per-dimension limit to test 2D dispatches. */
  maxWorkgroupsPerDimension?: number;
}

/** Statistics kernels behind one policy; dispose it (`await using`) to free the device. */
export interface Reducer extends AsyncDisposable {
  /** Where things run and why. */
  readonly info: ReducerInfo;
  /** Counters: calls per backend and bytes moved. */
  usage(): ReducerUsage;
  /** Moments of `rows` runs of `width` values (see `stats/moments.ts` `reduceRows`). */
  reduceRows(
    input: ReducerInput,
    shape: readonly [rows: number, width: number],
  ): Promise<RowMoments>;
  /** Fixed-edge histogram (see `stats/histogram.ts`). */
  histogram(input: ReducerInput, edges: Float32Array): Promise<Histogram>;
  /** Mean, std and max over channels per position (see `stats/spatial.ts`). */
  spatialMaps(
    input: ReducerInput,
    shape: readonly [frames: number, channels: number, hw: number],
  ): Promise<SpatialMaps>;
  /** Colormapped RGBA of `rows` maps of `width` values (see `colormap.ts` `colorizeRows`). */
  colorize(
    input: ReducerInput,
    shape: readonly [rows: number, width: number],
    options?: ColorizeOptions,
  ): Promise<Uint8ClampedArray>;
  /**
   * Upload host values once for several calls when they will run on the GPU (returns the array
   * itself when host arrays run on the CPU). Free with {@linkcode Reducer.release}.
   */
  upload(data: Float32Array): ReducerInput;
  /** Free a tensor made by {@linkcode Reducer.upload} (no-op for host arrays). */
  release(input: ReducerInput): void;
  /** Free the device (if the reducer opened it). */
  close(): Promise<void>;
}

/**
 * Create a reducer under the `--gpu` policy.
 *
 * @example Usage
 * ```ts
 * import { createReducer } from "./reduce.ts";
 * await using reducer = await createReducer({ gpu: "off" });
 * const m = await reducer.reduceRows(new Float32Array([1, 2, 3, 4]), [2, 2]);
 * console.log(m.sum, reducer.info.where); // Float64Array [3, 7] "cpu"
 * ```
 */
export async function createReducer(options: ReducerOptions = {}): Promise<Reducer> {
  const mode = options.gpu ?? "auto";
  if (mode !== "on" && mode !== "off" && mode !== "auto") {
    throw new InspectorError(`options.gpu must be on, off or auto, got "${String(mode)}"`);
  }
  if (mode === "off") {
    return new HybridReducer(undefined, options.device, {
      where: "cpu",
      whereDeviceTensors: "cpu",
      adapter: null,
      fallbackAdapter: false,
      reason: "--gpu off: the CPU reference computes statistics",
    });
  }
  const gpu = await openGpu({
    device: options.device,
    maxBindingBytes: options.maxBindingBytes,
    maxWorkgroupsPerDimension: options.maxWorkgroupsPerDimension,
  });
  if ("reason" in gpu) {
    if (mode === "on") {
      throw new InspectorError(
        `options.gpu on, but ${gpu.reason}: run with options.gpu auto or options.gpu off to use the CPU reference`,
      );
    }
    const reason = `${gpu.reason}: statistics use the CPU reference`;
    options.onInfo?.(reason);
    return new HybridReducer(undefined, undefined, {
      where: "cpu",
      whereDeviceTensors: "cpu",
      adapter: null,
      fallbackAdapter: false,
      reason,
    });
  }
  const soft = gpu.adapter.isFallbackAdapter;
  const hostOnGpu = mode === "on" || !soft;
  const reason = mode === "on"
    ? `--gpu on: WGSL kernels on ${gpu.adapter.description}`
    : soft
    ? `software adapter ${gpu.adapter.description}: WGSL kernels for tensors already on the ` +
      `GPU, the CPU reference (faster there) for host arrays`
    : `WGSL kernels on ${gpu.adapter.description}`;
  return new HybridReducer(new GpuKernels(gpu), gpu.device, {
    where: hostOnGpu ? "webgpu" : "cpu",
    whereDeviceTensors: "webgpu",
    adapter: gpu.adapter.description,
    fallbackAdapter: soft,
    reason,
  });
}

class HybridReducer implements Reducer {
  readonly #info: Omit<ReducerInfo, "ran">;
  #kernels?: GpuKernels;
  #device?: GPUDevice;
  #webgpu = 0;
  #cpu = 0;
  #downloaded = 0;
  #closedReadBack = 0;
  #closedUploaded = 0;
  #uploaded = new Set<GPUBuffer>();

  constructor(
    kernels: GpuKernels | undefined,
    device: GPUDevice | undefined,
    info: Omit<ReducerInfo, "ran">,
  ) {
    this.#kernels = kernels;
    this.#device = device;
    this.#info = info;
  }

  get info(): ReducerInfo {
    const g = this.#webgpu > 0, c = this.#cpu > 0;
    return { ...this.#info, ran: g && c ? "webgpu+cpu" : g ? "webgpu" : c ? "cpu" : "none" };
  }

  usage(): ReducerUsage {
    return {
      webgpu: this.#webgpu,
      cpu: this.#cpu,
      bytesReadBack: (this.#kernels?.bytesReadBack ?? 0) + this.#closedReadBack + this.#downloaded,
      bytesUploaded: (this.#kernels?.bytesUploaded ?? 0) + this.#closedUploaded,
    };
  }

  /** The kernels to use for this input, or undefined for the CPU path. */
  #gpuFor(input: ReducerInput): GpuKernels | undefined {
    if (!this.#kernels) return undefined;
    if (input instanceof Float32Array) {
      return this.info.where === "webgpu" ? this.#kernels : undefined;
    }
    return this.#kernels;
  }

  async #host(input: ReducerInput): Promise<Float32Array> {
    if (input instanceof Float32Array) return input;
    const device = this.#device;
    if (!device) {
      throw new InspectorError(
        "a GPU tensor was given to a reducer without a device: pass `device` to createReducer",
      );
    }
    const data = await downloadTensor(device, input);
    this.#downloaded += data.byteLength;
    return data;
  }

  async reduceRows(
    input: ReducerInput,
    shape: readonly [rows: number, width: number],
  ): Promise<RowMoments> {
    const k = this.#gpuFor(input);
    if (k) {
      this.#webgpu++;
      return await k.reduceRows(input, shape);
    }
    this.#cpu++;
    return cpuReduceRows(await this.#host(input), shape[0], shape[1]);
  }

  async histogram(input: ReducerInput, edges: Float32Array): Promise<Histogram> {
    const k = this.#gpuFor(input);
    if (k) {
      this.#webgpu++;
      return await k.histogram(input, edges);
    }
    this.#cpu++;
    return cpuHistogram(await this.#host(input), edges);
  }

  async spatialMaps(
    input: ReducerInput,
    shape: readonly [frames: number, channels: number, hw: number],
  ): Promise<SpatialMaps> {
    const k = this.#gpuFor(input);
    if (k) {
      this.#webgpu++;
      return await k.spatialMaps(input, shape);
    }
    this.#cpu++;
    return cpuSpatialMaps(await this.#host(input), shape);
  }

  async colorize(
    input: ReducerInput,
    shape: readonly [rows: number, width: number],
    options: ColorizeOptions = {},
  ): Promise<Uint8ClampedArray> {
    const k = this.#gpuFor(input);
    if (k) {
      this.#webgpu++;
      return await k.colorize(input, shape, options);
    }
    this.#cpu++;
    return colorizeRows(await this.#host(input), shape, options);
  }

  upload(data: Float32Array): ReducerInput {
    const k = this.#kernels;
    if (!k || this.info.where !== "webgpu" || data.byteLength > k.gpu.limits.maxBufferBytes) {
      return data;
    }
    const t = k.upload(data);
    this.#uploaded.add(t.buffer);
    return t;
  }

  release(input: ReducerInput): void {
    if (input instanceof Float32Array) return;
    if (this.#uploaded.delete(input.buffer)) input.buffer.destroy();
  }

  close(): Promise<void> {
    if (this.#kernels) {
      this.#closedReadBack += this.#kernels.bytesReadBack;
      this.#closedUploaded += this.#kernels.bytesUploaded;
    }
    for (const b of this.#uploaded) b.destroy();
    this.#uploaded.clear();
    this.#kernels?.destroy();
    this.#kernels = undefined;
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The GPU context type, re-exported for callers that open devices themselves. */
export type { GpuContext };

/** The parts of a runtime output tensor that {@linkcode tensorInput} reads. */
export interface TensorLike {
  /** Where the values are. */
  location: string;
  /** Shape. */
  dims: readonly number[];
  /** Values when on the CPU. */
  data?: Float32Array;
  /** Buffer when kept on the GPU (float32, C order; may be larger than the tensor). */
  gpuBuffer?: GPUBuffer;
}

/**
 * The reducer input of a runtime output: its GPU buffer when it stayed on the GPU, else its
 * host values.
 *
 * @example Usage
 * ```ts
 * import { tensorInput } from "./reduce.ts";
 * const input = tensorInput({ location: "cpu", dims: [2], data: new Float32Array([1, 2]) });
 * console.log(input instanceof Float32Array); // true
 * ```
 */
export function tensorInput(tensor: TensorLike): ReducerInput {
  const length = tensor.dims.reduce((a, b) => a * b, 1);
  if (tensor.location === "gpu-buffer" && tensor.gpuBuffer) {
    return { buffer: tensor.gpuBuffer, byteOffset: 0, length };
  }
  if (!tensor.data) {
    throw new RangeError(`tensor at "${tensor.location}" has neither data nor a GPU buffer`);
  }
  return tensor.data;
}
