/**
 * The execution providers, one table entry each: how its onnxruntime package is loaded, the
 * session options, how it is checked when requested and when `auto` considers it, and what it
 * can do (statistics inside the graph, outputs left on the GPU, the memory model the batch
 * planner uses). The session factory (`runtime.ts`), the engine (`feature_map_inspector.ts`),
 * the batch planner (`batch_plan.ts`), the CLIs and the bench read this table; none of them
 * compares backend names.
 *
 * Which package serves which EP in Deno (all pinned in deno.json):
 * - `wasm`: `onnxruntime-web` resolves, under Deno's `node` export condition, to its Node build
 *   (`ort.node.min.mjs`). That build starts its WASM threads with `worker_threads` on the file URL
 *   of `ort-wasm-simd-threaded.mjs`, which works in Deno, so `numThreads > 1` is real
 *   multi-threading (the browser bundles preload the script into a `blob:` URL that Deno's
 *   `worker_threads` refuses).
 * - `webgpu`: `onnxruntime-web/webgpu` (the browser bundle with the JSEP WebGPU kernels) on Deno's
 *   `navigator.gpu`; its CPU side runs single-threaded for the reason above.
 * - `cpu`: `onnxruntime-node`, the native onnxruntime as an N-API addon. Deno loads it without its
 *   install script; it needs `--allow-ffi` (and `--allow-read`). When it cannot be loaded, `auto`
 *   falls back to `wasm` and says why. Sessions then call the library the binding loaded
 *   (`libonnxruntime.so.1`) through its C API (`_ort_ffi.ts`), which writes the outputs into
 *   arrays we hold instead of copying each into a new one; where that library cannot be opened
 *   by name, the binding's own sessions serve.
 *
 * Adding a backend: its name in {@linkcode BackendName} and {@linkcode BACKEND_NAMES}, its entry in {@linkcode BACKENDS}
 * (and its place in {@linkcode AUTO_ORDER}), its package in deno.json.
 *
 * @module
 */

import { InspectorError } from "../core/errors.ts";
import { type OrtModuleLike, shortOrtMessage } from "./_ort.ts";
import { openFfiOrt } from "./_ort_ffi.ts";
import { quietWaylandProbe } from "../shaders/gpu_context.ts";

/**
 * Every backend, in the order `--ep` lists them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { BACKEND_NAMES, EP_CHOICES } from "./backends.ts";
 * assert.deepEqual(BACKEND_NAMES, ["webgpu", "wasm", "cpu"]);
 * assert.equal(EP_CHOICES.join(" | "), "auto | webgpu | wasm | cpu");
 * ```
 */
export const BACKEND_NAMES: readonly BackendName[] = ["webgpu", "wasm", "cpu"];

/** An execution provider a session runs on (each has its entry in {@linkcode BACKENDS}). */
export type BackendName = "webgpu" | "wasm" | "cpu";

/** Execution provider requested by the user (`--ep`): a backend, or `auto`. */
export type EpChoice = "auto" | BackendName;

/** The values `--ep` takes: `auto`, then every backend. */
export const EP_CHOICES: readonly EpChoice[] = ["auto", ...BACKEND_NAMES];

/** The order in which `auto` considers the backends: the first that accepts is used. */
export const AUTO_ORDER: readonly BackendName[] = ["webgpu", "cpu", "wasm"];

/** Result of probing Deno's WebGPU. */
export interface GpuProbe {
  /** The adapter, or null when there is none. */
  adapter: GPUAdapter | null;
  /** Adapter description ("llvmpipe (LLVM 19.1.7, 256 bits)", "NVIDIA H200"...). */
  description: string | null;
  /** Software/fallback adapter? */
  fallback: boolean | null;
  /** Why there is no adapter, when there is none. */
  why?: string;
}

/** What a backend can do; read instead of its name. */
export interface BackendCapabilities {
  /** The statistics and the saved frames can be computed inside the ONNX graph (see `graph_stats.ts`). */
  inGraphStatistics: boolean;
  /** Outputs can stay on the GPU (`preferredOutputLocation`) for the WGSL kernels. */
  outputsOnGpu: boolean;
  /** Runs on a WebGPU adapter (named in the backend line). */
  usesAdapter: boolean;
  /** Takes a model's external data files from memory. */
  externalData: boolean;
  /** The native onnxruntime: the bench's reference forward pass. */
  native: boolean;
}

/** How a forward pass uses memory on a backend, for `batch_plan.ts`. */
export interface HeapModel {
  /** Copies of the model's weights in the process (WASM copies the model into its heap). */
  modelCopies: number;
  /** Copies of each tapped output in the process (the runtime's and the JavaScript one). */
  outputCopies: number;
  /** A fixed heap that one pass must fit in (WASM's 4 GiB), or null. */
  heapBytes: number | null;
  /** One tensor must fit in the device's largest buffer (WebGPU). */
  deviceBuffers: boolean;
}

/** A backend's onnxruntime package, loaded. */
export interface LoadedBackend {
  /** The package. */
  ort: OrtModuleLike;
  /** CPU threads it uses. */
  threads: number;
  /** ORT's WebGPU device once a session exists, or null for CPU backends. */
  device(): Promise<GPUDevice | null>;
}

/** Whether `auto` takes a backend: yes with the reason, or no with what to say about it. */
export type AutoVerdict = { pick: true; reason: string } | { pick: false; why: string };

/** One execution provider. */
export interface BackendSpec {
  /** Name in messages ("WASM's 4 GiB heap"). */
  label: string;
  /** What it can do. */
  capabilities: BackendCapabilities;
  /** Its memory model. */
  heap: HeapModel;
  /**
   * Check a request for it (`--ep <name>`), throwing a one-line {@linkcode InspectorError} when
   * it cannot run; returns the GPU probe when it used one.
   */
  require(): Promise<GpuProbe | null>;
  /**
   * Whether `auto` takes it, given what was said about the backends before it (`why`) and the
   * GPU probe.
   */
  auto(why: string, gpu: GpuProbe): Promise<AutoVerdict>;
  /** Whether it can run here at all (the bench measures those that can). */
  available(): Promise<boolean>;
  /** Load its package (`threads`: what was asked for; each backend has its own default). */
  load(options: { threads?: number; gpu: GpuProbe | null }): Promise<LoadedBackend>;
  /** The `InferenceSession.create` options on `threads` threads. */
  sessionOptions(threads: number): Record<string, unknown>;
}

let gpuProbe: Promise<GpuProbe> | null = null;

/**
 * Find Deno's WebGPU adapter once per process and say whether it is real hardware.
 *
 * @example Usage
 * ```ts ignore
 * import { probeGpu } from "./runtime.ts";
 * const g = await probeGpu();
 * console.log(g.description, g.fallback); // "llvmpipe (...)" true
 * ```
 */
export function probeGpu(): Promise<GpuProbe> {
  gpuProbe ??= (async (): Promise<GpuProbe> => {
    const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
    if (!gpu) {
      return {
        adapter: null,
        description: null,
        fallback: null,
        why: "this Deno has no navigator.gpu",
      };
    }
    let adapter: GPUAdapter | null = null;
    try {
      quietWaylandProbe();
      adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
    } catch (err) {
      return { adapter: null, description: null, fallback: null, why: shortOrtMessage(err) };
    }
    if (!adapter) {
      return { adapter: null, description: null, fallback: null, why: "no WebGPU adapter found" };
    }
    const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
    const description = info.description ||
      [info.vendor, info.architecture, info.device].filter((s) => s).join(" ") ||
      "unknown adapter";
    const soft = /llvmpipe|lavapipe|swiftshader|software|warp/i.test(description);
    return { adapter, description, fallback: info.isFallbackAdapter === true || soft };
  })();
  return gpuProbe;
}

let nodeOrt: Promise<OrtModuleLike> | null = null;

/**
 * Load onnxruntime-node (native CPU EP) once; rejects with a one-line reason when it cannot.
 *
 * @example Usage
 * ```ts ignore
 * import { loadNativeOrt } from "./runtime.ts";
 * const ok = await loadNativeOrt().then(() => true, () => false);
 * ```
 */
export async function loadNativeOrt(): Promise<void> {
  await nativeModule();
}

function nativeModule(): Promise<OrtModuleLike> {
  nodeOrt ??= (async (): Promise<OrtModuleLike> => {
    try {
      const m = await import("npm:onnxruntime-node@1.30.0");
      // The binding has brought the library in; its C API through FFI takes preallocated outputs.
      return openFfiOrt() ?? (m.default ?? m) as unknown as OrtModuleLike;
    } catch (err) {
      const msg = shortOrtMessage(err);
      if (/ffi|NotCapable|permission/i.test(msg) || err instanceof Deno.errors.NotCapable) {
        throw new Error("onnxruntime-node needs --allow-ffi");
      }
      throw new Error(`onnxruntime-node could not be loaded: ${msg}`);
    }
  })();
  return nodeOrt;
}

let wasmOrt: Promise<{ ort: OrtModuleLike; threads: number }> | null = null;

function loadWasmOrt(threads: number): Promise<{ ort: OrtModuleLike; threads: number }> {
  wasmOrt ??= (async () => {
    const m = await import("npm:onnxruntime-web@1.30.0");
    m.env.wasm.numThreads = threads;
    m.env.logLevel = "error";
    return { ort: m as unknown as OrtModuleLike, threads };
  })();
  return wasmOrt;
}

interface WebGpuOrt {
  ort: OrtModuleLike;
  env: { webgpu: { device: Promise<GPUDevice> } };
}
let webgpuOrt: Promise<WebGpuOrt> | null = null;

function loadWebGpuOrt(adapter: GPUAdapter): Promise<WebGpuOrt> {
  webgpuOrt ??= (async () => {
    const m = await import("npm:onnxruntime-web@1.30.0/webgpu");
    m.env.wasm.numThreads = 1;
    m.env.logLevel = "error";
    (m.env.webgpu as { adapter: unknown }).adapter = adapter;
    return {
      ort: m as unknown as OrtModuleLike,
      env: m.env as unknown as { webgpu: { device: Promise<GPUDevice> } },
    };
  })();
  return webgpuOrt;
}

function defaultThreads(): number {
  const n = navigator.hardwareConcurrency;
  return Number.isInteger(n) && n > 0 ? Math.min(n, 16) : 1;
}

const noDevice = (): Promise<GPUDevice | null> => Promise.resolve(null);

const GiB = 1024 ** 3;

/**
 * The table: every backend's loader, session options, checks and capabilities.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { BACKENDS } from "./backends.ts";
 * assert.equal(BACKENDS.wasm.capabilities.inGraphStatistics, true);
 * assert.equal(BACKENDS.webgpu.capabilities.outputsOnGpu, true);
 * assert.equal(BACKENDS.wasm.heap.heapBytes, 4 * 1024 ** 3);
 * assert.equal(BACKENDS.cpu.sessionOptions(4).intraOpNumThreads, 4);
 * ```
 */
export const BACKENDS: Readonly<Record<BackendName, BackendSpec>> = {
  webgpu: {
    label: "WebGPU",
    capabilities: {
      inGraphStatistics: false,
      outputsOnGpu: true,
      usesAdapter: true,
      externalData: true,
      native: false,
    },
    heap: { modelCopies: 1, outputCopies: 1, heapBytes: null, deviceBuffers: true },
    async require() {
      const gpu = await probeGpu();
      if (!gpu.adapter) {
        throw new InspectorError(
          `options.ep webgpu: ${gpu.why ?? "no WebGPU adapter"}; use ${
            suggest("webgpu")
          }, or options.ep auto`,
        );
      }
      return gpu;
    },
    auto(_why, gpu) {
      if (gpu.adapter && gpu.fallback === false) {
        return Promise.resolve({ pick: true, reason: `hardware GPU adapter: ${gpu.description}` });
      }
      return Promise.resolve({
        pick: false,
        why: gpu.adapter
          ? `only a software GPU adapter (${gpu.description})`
          : `no GPU adapter (${gpu.why ?? "none found"})`,
      });
    },
    async available() {
      return (await probeGpu()).adapter !== null;
    },
    async load({ gpu }) {
      const adapter = (gpu ?? await probeGpu()).adapter;
      if (!adapter) {
        throw new InspectorError("options.ep webgpu: no WebGPU adapter; use options.ep auto");
      }
      const w = await loadWebGpuOrt(adapter);
      return { ort: w.ort, threads: 1, device: () => w.env.webgpu.device };
    },
    sessionOptions: () => ({
      executionProviders: ["webgpu"],
      graphOptimizationLevel: "all",
      logSeverityLevel: 3,
      preferredOutputLocation: "gpu-buffer",
    }),
  },
  wasm: {
    label: "WASM",
    capabilities: {
      inGraphStatistics: true,
      outputsOnGpu: false,
      usesAdapter: false,
      externalData: true,
      native: false,
    },
    heap: { modelCopies: 2, outputCopies: 2, heapBytes: 4 * GiB, deviceBuffers: false },
    require: () => Promise.resolve(null),
    auto: (why) => Promise.resolve({ pick: true, reason: `${why}; WASM` }),
    available: () => Promise.resolve(true),
    async load({ threads }) {
      // Multi-threaded WASM is opt-in (--threads N): in Deno its worker threads have been seen to
      // stall the session for minutes on some models (e.g. the quantized MobileNetV2 in
      // ../shared/real), so the default is one thread, which never does. The first WASM session
      // of the process fixes the count.
      const w = await loadWasmOrt(Math.max(1, Math.floor(threads ?? 1)));
      return { ort: w.ort, threads: w.threads, device: noDevice };
    },
    sessionOptions: () => ({
      executionProviders: ["wasm"],
      graphOptimizationLevel: "all",
      logSeverityLevel: 3,
    }),
  },
  cpu: {
    label: "native CPU",
    capabilities: {
      inGraphStatistics: true,
      outputsOnGpu: false,
      usesAdapter: false,
      externalData: false,
      native: true,
    },
    heap: { modelCopies: 1, outputCopies: 2, heapBytes: null, deviceBuffers: false },
    async require() {
      try {
        await loadNativeOrt();
      } catch (err) {
        throw new InspectorError(
          `options.ep cpu (native onnxruntime) is unavailable: ${
            (err as Error).message
          }. Run with ` +
            "--allow-ffi (the deno tasks grant it), or use options.ep wasm",
        );
      }
      return null;
    },
    async auto(why) {
      try {
        await loadNativeOrt();
        return { pick: true, reason: `${why}; native onnxruntime CPU EP` };
      } catch (err) {
        return {
          pick: false,
          why: `${why}; native CPU EP unavailable (${(err as Error).message})`,
        };
      }
    },
    available: () => loadNativeOrt().then(() => true, () => false),
    async load({ threads }) {
      const ort = await nativeModule();
      return {
        ort,
        threads: Math.max(1, Math.floor(threads ?? defaultThreads())),
        device: noDevice,
      };
    },
    sessionOptions: (threads) => ({
      executionProviders: ["cpu"],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
      logSeverityLevel: 3,
      // Idle pool threads sleep instead of spinning: a spinning thread takes the core the
      // statistics and the frame decoding run on between forward passes. On the dataset bench
      // (2 cores) the CPU time per batch went from 457-490 to 401-408 ms, the bare forward
      // unchanged (137-149 ms either way).
      extra: { session: { intra_op: { allow_spinning: "0" } } },
    }),
  },
};

/**
 * The backends to suggest instead of `except` (those that pass `filter`), as `--ep` flags for a
 * message: the ones that need no GPU first.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { suggest } from "./backends.ts";
 * assert.equal(suggest("webgpu"), "options.ep wasm or options.ep cpu");
 * assert.equal(suggest("cpu", (b) => b.capabilities.externalData), "options.ep wasm or options.ep webgpu");
 * ```
 */
export function suggest(except: BackendName, filter?: (spec: BackendSpec) => boolean): string {
  const names = BACKEND_NAMES.filter((n) => n !== except && (filter?.(BACKENDS[n]) ?? true));
  const ordered = [
    ...names.filter((n) => !BACKENDS[n].capabilities.usesAdapter),
    ...names.filter((n) => BACKENDS[n].capabilities.usesAdapter),
  ];
  return orList(ordered.map((n) => `options.ep ${n}`));
}

/**
 * `a, b or c`: a list for a message.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { orList } from "./backends.ts";
 * assert.equal(orList(["auto", "webgpu", "wasm", "cpu"]), "auto, webgpu, wasm or cpu");
 * assert.equal(orList(["cpu"]), "cpu");
 * ```
 */
export function orList(items: readonly string[]): string {
  return items.length <= 1
    ? items.join("")
    : `${items.slice(0, -1).join(", ")} or ${items[items.length - 1]}`;
}

/**
 * Whether `name` is a backend (a value of `--ep` other than `auto`).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { isBackendName } from "./backends.ts";
 * assert.equal(isBackendName("wasm"), true);
 * assert.equal(isBackendName("tpu"), false);
 * ```
 */
export function isBackendName(name: string): name is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(name);
}
