/**
 * The WebGPU device the kernels run on, its limits, and compiled pipelines (once per device).
 *
 * {@linkcode openGpu} either wraps a device that already exists (onnxruntime-web's, so that its
 * output buffers can be read in place) or requests the system's adapter with the largest buffer
 * and binding limits it offers. Limits can be narrowed for tests (`maxBindingBytes`,
 * `maxWorkgroupsPerDimension`) to exercise the splitting of large tensors.
 *
 * @module
 */

import reduceRowsWgsl from "./reduce_rows.wgsl" with { type: "text" };
import histogramWgsl from "./histogram.wgsl" with { type: "text" };
import spatialMapsWgsl from "./spatial_maps.wgsl" with { type: "text" };
import colorizeWgsl from "./colorize.wgsl" with { type: "text" };

/** What is known about the adapter behind a device. */
export interface AdapterDescription {
  /** Human-readable description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  /** Vendor string or id. */
  vendor: string;
  /** Architecture, when reported. */
  architecture: string;
  /** True for a software (fallback) adapter such as llvmpipe. */
  isFallbackAdapter: boolean;
}

/** The limits the kernels plan their dispatches with. */
export interface GpuLimits {
  /** Largest storage binding in bytes. */
  maxBindingBytes: number;
  /** Alignment of storage binding offsets in bytes. */
  alignment: number;
  /** Alignment of uniform binding offsets in bytes. */
  uniformAlignment: number;
  /** Largest workgroup count per dispatch dimension. */
  maxWorkgroupsPerDimension: number;
  /** Largest buffer in bytes. */
  maxBufferBytes: number;
}

/** A device with its adapter description and limits. */
export interface GpuContext {
  /** The device. */
  device: GPUDevice;
  /** The adapter behind it. */
  adapter: AdapterDescription;
  /** Limits used for planning (possibly narrowed). */
  limits: GpuLimits;
  /** Whether this context created the device (and should destroy it). */
  owned: boolean;
}

/** Options of {@linkcode openGpu}. */
export interface OpenGpuOptions {
  /** Use this device (e.g. `await ort.env.webgpu.device`) instead of requesting one. */
  device?: GPUDevice;
  /** Narrow the storage binding limit (bytes), e.g. to test splitting. */
  maxBindingBytes?: number;
  /** Narrow the per-dimension workgroup limit, e.g. to test 2D dispatches. */
  maxWorkgroupsPerDimension?: number;
}

/** Why no device could be had. */
export interface NoGpu {
  /** One line saying why. */
  reason: string;
}

/**
 * What `XDG_RUNTIME_DIR` is set to when it is unset or not an absolute path: absolute (which is
 * all libwayland-client checks), and a path under which no Wayland socket can exist
 * (`/dev/null/wayland-0` fails with ENOTDIR), so that nothing becomes reachable that was not.
 */
export const NO_RUNTIME_DIR = "/dev/null";

/**
 * Keep libwayland-client from printing `error: XDG_RUNTIME_DIR is invalid or not set in the
 * environment.` when WebGPU adapters are requested on a headless machine, although nothing failed.
 *
 * Mesa's Vulkan device-selection layer (`VK_LAYER_MESA_device_select`) calls
 * `wl_display_connect(NULL)` whenever the adapters are enumerated, to find the compositor's GPU;
 * libwayland-client prints that line when `XDG_RUNTIME_DIR` is unset or not absolute (it checks
 * nothing else: no directory is needed). Call this before requesting an adapter: such a value
 * becomes {@linkcode NO_RUNTIME_DIR} for the rest of the process (onnxruntime-web's WebGPU EP
 * requests adapters of its own later). Needs env permission for `XDG_RUNTIME_DIR` only; without
 * it nothing changes and nothing prompts. Returns whether the variable now holds an absolute path.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { quietWaylandProbe } from "./gpu_context.ts";
 * if (quietWaylandProbe()) assert.ok(Deno.env.get("XDG_RUNTIME_DIR")!.startsWith("/"));
 * ```
 */
export function quietWaylandProbe(): boolean {
  const variable = "XDG_RUNTIME_DIR";
  try {
    if (Deno.permissions.querySync({ name: "env", variable }).state !== "granted") return false;
    if (Deno.env.get(variable)?.startsWith("/")) return true;
    Deno.env.set(variable, NO_RUNTIME_DIR);
    return true;
  } catch {
    return false; // no Deno.permissions (another runtime) or the variable refused: leave it
  }
}

/**
 * Open a device for the kernels, or say why none is available.
 *
 * @example Usage
 * ```ts ignore
 * import { openGpu } from "./gpu_context.ts";
 * const gpu = await openGpu();
 * if ("reason" in gpu) console.log(gpu.reason);
 * else console.log(gpu.adapter.description, gpu.limits.maxBindingBytes);
 * ```
 */
export async function openGpu(options: OpenGpuOptions = {}): Promise<GpuContext | NoGpu> {
  let device = options.device;
  let owned = false;
  let adapterInfo: GPUAdapterInfo | undefined;
  if (!device) {
    const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
    if (!gpu) return { reason: "WebGPU is not available in this runtime (navigator.gpu missing)" };
    let adapter: GPUAdapter | null = null;
    try {
      quietWaylandProbe();
      adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
    } catch (err) {
      return { reason: `requesting a WebGPU adapter failed: ${(err as Error).message}` };
    }
    if (!adapter) return { reason: "no WebGPU adapter found" };
    adapterInfo = adapter.info;
    const want = adapter.limits;
    try {
      device = await adapter.requestDevice({
        requiredLimits: {
          maxStorageBufferBindingSize: want.maxStorageBufferBindingSize,
          maxBufferSize: want.maxBufferSize,
          maxComputeWorkgroupsPerDimension: want.maxComputeWorkgroupsPerDimension,
        },
      });
    } catch (err) {
      return { reason: `requesting a WebGPU device failed: ${(err as Error).message}` };
    }
    owned = true;
  } else {
    adapterInfo = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  }
  const l = device.limits;
  const limits: GpuLimits = {
    maxBindingBytes: Math.min(
      l.maxStorageBufferBindingSize,
      l.maxBufferSize,
      options.maxBindingBytes ?? Infinity,
    ),
    alignment: l.minStorageBufferOffsetAlignment,
    uniformAlignment: l.minUniformBufferOffsetAlignment,
    maxWorkgroupsPerDimension: Math.min(
      l.maxComputeWorkgroupsPerDimension,
      options.maxWorkgroupsPerDimension ?? Infinity,
    ),
    maxBufferBytes: l.maxBufferSize,
  };
  // Keep bindings a multiple of the alignment so that planned offsets stay valid.
  limits.maxBindingBytes = Math.floor(limits.maxBindingBytes / limits.alignment) *
    limits.alignment;
  return { device, adapter: describeAdapter(adapterInfo), limits, owned };
}

function describeAdapter(info: GPUAdapterInfo | undefined): AdapterDescription {
  if (!info) {
    return {
      description: "unknown adapter",
      vendor: "",
      architecture: "",
      isFallbackAdapter: false,
    };
  }
  const i = info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const description = i.description || [i.vendor, i.architecture, i.device].filter(Boolean)
    .join(" ") ||
    "unknown adapter";
  return {
    description,
    vendor: i.vendor ?? "",
    architecture: i.architecture ?? "",
    isFallbackAdapter: i.isFallbackAdapter === true ||
      /llvmpipe|swiftshader|warp/i.test(description),
  };
}

const pipelines = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();

/** The kernels' WGSL sources (text imports: part of the module graph, so `deno compile` keeps them). */
const SOURCES: Record<string, string> = {
  "reduce_rows.wgsl": reduceRowsWgsl,
  "histogram.wgsl": histogramWgsl,
  "spatial_maps.wgsl": spatialMapsWgsl,
  "colorize.wgsl": colorizeWgsl,
};

/**
 * The source of one of the kernels' `.wgsl` files.
 *
 * @example Usage
 * ```ts
 * import { shaderSource } from "./gpu_context.ts";
 * console.log(shaderSource("reduce_rows.wgsl").startsWith("// reduce_rows.wgsl")); // true
 * ```
 */
export function shaderSource(file: string): string {
  const src = SOURCES[file];
  if (src === undefined) throw new RangeError(`unknown shader ${file}`);
  return src;
}

/**
 * The compute pipeline of `entryPoint` in `file`, compiled once per device and cached.
 *
 * @example Usage
 * ```ts ignore
 * import { openGpu, pipeline } from "./gpu_context.ts";
 * const gpu = await openGpu();
 * if (!("reason" in gpu)) await pipeline(gpu.device, "reduce_rows.wgsl", "reduce_small");
 * ```
 */
export function pipeline(
  device: GPUDevice,
  file: string,
  entryPoint: string,
): Promise<GPUComputePipeline> {
  let perDevice = pipelines.get(device);
  if (!perDevice) pipelines.set(device, perDevice = new Map());
  const key = `${file}#${entryPoint}`;
  let p = perDevice.get(key);
  if (!p) {
    p = (async () => {
      const code = shaderSource(file);
      const module = device.createShaderModule({ code, label: file });
      const info = await module.getCompilationInfo();
      const errors = info.messages.filter((m) => m.type === "error");
      if (errors.length) {
        const where = errors.map((m) => `${file}:${m.lineNum}:${m.linePos}: ${m.message}`);
        throw new Error(`WGSL compilation failed: ${where.join("; ")}`);
      }
      device.pushErrorScope("validation");
      const pipe = await device.createComputePipelineAsync({
        label: key,
        layout: "auto",
        compute: { module, entryPoint },
      });
      const err = await device.popErrorScope();
      if (err) throw new Error(`compiling ${key} failed: ${err.message}`);
      return pipe;
    })();
    perDevice.set(key, p);
    p.catch(() => perDevice.delete(key));
  }
  return p;
}
