/**
 * Sessions: one {@linkcode ModelSession} API over every execution provider of the backend table
 * (`backends.ts`: onnxruntime-web's WebGPU and multi-threaded WASM, the native CPU EP of
 * onnxruntime-node), and the choice of a backend for `auto`.
 *
 * @module
 */

import { InspectorError } from "../core/errors.ts";
import {
  AUTO_ORDER,
  type BackendName,
  BACKENDS,
  EP_CHOICES,
  type EpChoice,
  type GpuProbe,
  isBackendName,
  orList,
  probeGpu,
  suggest,
} from "./backends.ts";
import {
  type OrtModuleLike,
  type OrtSessionLike,
  type OrtTensorLike,
  shortOrtMessage,
} from "./_ort.ts";

export type { BackendName, EpChoice, GpuProbe };
export { loadNativeOrt, probeGpu } from "./backends.ts";
export { shortOrtMessage } from "./_ort.ts";

/** The execution provider a session actually runs on, and why. */
export interface BackendInfo {
  /** The EP in use. */
  ep: BackendName;
  /** What was asked for. */
  requested: EpChoice;
  /** GPU adapter description (WebGPU only; also filled for `auto` when one was probed). */
  adapter: string | null;
  /** Whether that adapter is a software/fallback adapter (llvmpipe, SwiftShader...). */
  fallbackAdapter: boolean | null;
  /** CPU threads the EP uses (intra-op threads for `cpu`, WASM threads for `wasm`). */
  threads: number;
  /** One line saying why this EP was chosen (for `auto`) or that it was requested. */
  reason: string;
}

/** A float32 input tensor in C order. */
export interface FeedTensor {
  /** Values, C order. */
  data: Float32Array;
  /** Shape. */
  dims: number[];
}

/** One graph output of a run, on the CPU or left on ORT's WebGPU device. */
export interface OutputTensor {
  /** Graph output name (for tapped tensors: the ONNX tensor name). */
  name: string;
  /** Shape. */
  dims: number[];
  /** ONNX element type of the output (`float32`, `float16`, `int64`...). */
  type: string;
  /** Where the values are. */
  location: "cpu" | "gpu-buffer";
  /** Values as float32 when on the CPU. */
  data?: Float32Array;
  /** The exact values of a `double` output on the CPU (`data` holds them rounded to float32). */
  float64?: Float64Array;
  /** The GPU buffer (on {@linkcode ModelSession.device}) when kept on the GPU; float32 C order. */
  gpuBuffer?: GPUBuffer;
  /** The values as float32 (reads back from the GPU when needed; counted in the stats). */
  download(): Promise<Float32Array>;
  /** Release the tensor (frees the GPU buffer). Safe to call twice. */
  dispose(): void;
}

/** Counters of a session, for the bench and the manifest. */
export interface SessionStats {
  /** Completed runs. */
  runs: number;
  /** Bytes read back from the GPU to the CPU by this session (WebGPU only). */
  gpuBytesRead: number;
  /** Milliseconds spent in `run` (forward pass including output transfer), summed. */
  runMs: number;
}

/** Options of {@linkcode ModelSession.run}. */
export interface RunOptions {
  /** Output names to leave as GPU buffers when the EP is WebGPU (ignored otherwise). */
  keepOnGpu?: string[];
}

/** A loaded model on one execution provider, reused for every batch. */
export interface ModelSession extends AsyncDisposable {
  /** Backend in use. */
  readonly info: BackendInfo;
  /** Graph input names. */
  readonly inputNames: string[];
  /** Graph output names (the model's outputs plus the tapped tensors). */
  readonly outputNames: string[];
  /** ORT's WebGPU device (WebGPU EP only), on which kept outputs live. */
  readonly device: GPUDevice | null;
  /** Run the model; returns every graph output. */
  run(
    feeds: Record<string, FeedTensor>,
    options?: RunOptions,
  ): Promise<Record<string, OutputTensor>>;
  /** Counters so far. */
  stats(): SessionStats;
  /** Release the session. */
  close(): Promise<void>;
}

/** Options of {@linkcode createSession}. */
export interface CreateSessionOptions {
  /** Execution provider (default `auto`). */
  ep?: EpChoice;
  /**
   * CPU threads (default: `navigator.hardwareConcurrency` for `cpu`, 1 for `wasm`, where more
   * threads are opt-in). WASM's count is fixed by the first WASM session of the process.
   */
  threads?: number;
  /** Receives one-line notes (the chosen backend, fallbacks). */
  onInfo?: (line: string) => void;
  /** External-data files of the model (`location` as written in the model, and bytes); onnxruntime-web only. */
  externalData?: { path: string; data: Uint8Array }[];
  /**
   * The folder the model's external-data `location`s are relative to, for bytes whose weights
   * onnxruntime reads from files (`onnx_model.ts` `modelWithFileWeights`); the native `cpu`
   * backend only (onnxruntime's `session.model_external_initializers_file_folder_path`).
   */
  externalDataDir?: string;
  /**
   * Trade forward speed for memory: graph optimizations stop at onnxruntime's `extended` level,
   * without the layout transforms of `all` that keep a second, blocked (NCHWc) copy of the
   * convolution weights. On the ResNet-18 of the whole-commands bench: about 90 MiB less peak
   * memory and a quicker session start, a forward about 20 % slower. For one-batch runs; default
   * false.
   */
  lean?: boolean;
  /**
   * The CPU outputs of a run are valid only until the second run of this session after it
   * (default false): the native `cpu` backend then writes every float32 output into two sets of
   * arrays in turn, which saves it an allocation and the page faults of fresh memory per output
   * (dataset mode, whose statistics read a run's outputs while at most the next run computes;
   * see docs/performance.md). Other backends ignore it.
   */
  reuseOutputs?: boolean;
}

function toFloat32(data: unknown, type: string): Float32Array {
  if (data instanceof Float32Array) return data;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    return Float32Array.from(data as ArrayLike<bigint>, (v) => Number(v));
  }
  if (ArrayBuffer.isView(data) && !(data instanceof DataView)) {
    if (type === "float16" && data instanceof Uint16Array) return halfToFloat32(data);
    return Float32Array.from(data as unknown as ArrayLike<number>);
  }
  throw new InspectorError(`output of type ${type} is not numeric; it cannot be inspected`);
}

function halfToFloat32(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const x = h[i], s = x & 0x8000 ? -1 : 1, e = (x >> 10) & 0x1f, f = x & 0x3ff;
    out[i] = e === 0
      ? s * f * 2 ** -24
      : e === 31
      ? (f ? NaN : s * Infinity)
      : s * (1 + f / 1024) * 2 ** (e - 15);
  }
  return out;
}

function byteSizeOf(type: string, n: number): number {
  const sizes: Record<string, number> = {
    float32: 4,
    float16: 2,
    int64: 8,
    uint64: 8,
    int32: 4,
    uint32: 4,
    int16: 2,
    uint16: 2,
    int8: 1,
    uint8: 1,
    bool: 1,
    float64: 8,
  };
  return (sizes[type] ?? 4) * n;
}

/**
 * Pick the execution provider for `auto` (or check a requested one) without loading a model.
 *
 * `auto` picks WebGPU only on a hardware adapter; otherwise the native CPU EP when
 * onnxruntime-node loads, else multi-threaded WASM.
 *
 * @example Usage
 * ```ts ignore
 * import { chooseBackend } from "./runtime.ts";
 * const c = await chooseBackend("auto");
 * console.log(c.ep, c.reason); // "cpu" "no hardware GPU adapter (llvmpipe ...); native onnxruntime CPU EP"
 * ```
 */
export async function chooseBackend(
  ep: EpChoice = "auto",
): Promise<{ ep: BackendName; reason: string; gpu: GpuProbe | null }> {
  if (isBackendName(ep)) {
    const gpu = await BACKENDS[ep].require();
    return { ep, reason: `requested with --ep ${ep}`, gpu };
  }
  if (ep !== "auto") {
    throw new InspectorError(`options.ep ${ep} is not known; use ${orList(EP_CHOICES)}`);
  }
  const gpu = await probeGpu();
  let why = "";
  for (const name of AUTO_ORDER) {
    const verdict = await BACKENDS[name].auto(why, gpu);
    if (verdict.pick) return { ep: name, reason: verdict.reason, gpu };
    why = verdict.why;
  }
  throw new Error(`internal error: no backend accepted --ep auto (${why})`);
}

/**
 * Load a model (bytes, taps already appended as graph outputs) on an execution provider.
 *
 * @example Usage
 * ```ts ignore
 * import { createSession } from "./runtime.ts";
 * await using s = await createSession(await Deno.readFile("model.onnx"), { ep: "auto" });
 * const out = await s.run({ frames: { data: new Float32Array(2 * 8 * 3 * 112 * 112), dims: [2, 8, 3, 112, 112] } });
 * console.log(s.info.ep, out.logits.dims);
 * ```
 */
export async function createSession(
  model: Uint8Array,
  options: CreateSessionOptions = {},
): Promise<ModelSession> {
  const requested = options.ep ?? "auto";
  const choice = await chooseBackend(requested);
  const spec = BACKENDS[choice.ep];
  const { ort, threads, device: deviceOf } = await spec.load({
    threads: options.threads,
    gpu: choice.gpu,
  });
  const sessionOptions = spec.sessionOptions(threads);
  if (options.lean && sessionOptions.graphOptimizationLevel === "all") {
    sessionOptions.graphOptimizationLevel = "extended";
  }
  if (options.externalData?.length) {
    if (!spec.capabilities.externalData) {
      throw new InspectorError(
        `the model keeps its weights in external data files, which options.ep ${choice.ep} cannot ` +
          `take from memory; use ${suggest(choice.ep, (b) => b.capabilities.externalData)}`,
      );
    }
    sessionOptions.externalData = options.externalData;
  }
  if (options.externalDataDir !== undefined) {
    if (!spec.capabilities.native) {
      throw new InspectorError(
        `options.externalDataDir needs the native cpu backend, not ${choice.ep}; give the model ` +
          "with its weights instead",
      );
    }
    const extra = (sessionOptions.extra ?? {}) as Record<string, Record<string, unknown>>;
    sessionOptions.extra = {
      ...extra,
      session: {
        ...extra.session,
        model_external_initializers_file_folder_path: options.externalDataDir,
      },
    };
  }
  let session: OrtSessionLike;
  try {
    session = await ort.InferenceSession.create(model, sessionOptions);
  } catch (err) {
    const msg = shortOrtMessage(err);
    if (/external data|external_data|\.bin|data file/i.test(msg)) {
      throw new InspectorError(
        `the model's external data could not be loaded (${msg}); keep the data file(s) next to ` +
          "the .onnx file under the name the model records",
        { cause: err },
      );
    }
    throw new InspectorError(
      `onnxruntime (${choice.ep}) cannot load the model: ${msg}. Check that it is a valid ` +
        "ONNX file (re-export it with torch.onnx.export)",
      { cause: err },
    );
  }
  const device = await deviceOf();
  const info: BackendInfo = {
    ep: choice.ep,
    requested,
    adapter: choice.gpu?.description ?? null,
    fallbackAdapter: choice.gpu?.fallback ?? null,
    threads,
    reason: choice.reason,
  };
  options.onInfo?.(
    `backend: ${info.ep} (${info.reason}), ${info.threads} thread${info.threads > 1 ? "s" : ""}` +
      (spec.capabilities.usesAdapter ? `, adapter ${info.adapter}` : ""),
  );
  return new OrtModelSession(session, ort, info, device, !!options.reuseOutputs);
}

class OrtModelSession implements ModelSession {
  readonly inputNames: string[];
  readonly outputNames: string[];
  #stats: SessionStats = { runs: 0, gpuBytesRead: 0, runMs: 0 };
  #closed = false;
  constructor(
    private readonly session: OrtSessionLike,
    private readonly ort: OrtModuleLike,
    readonly info: BackendInfo,
    readonly device: GPUDevice | null,
    private readonly reuse: boolean,
  ) {
    this.inputNames = [...session.inputNames];
    this.outputNames = [...session.outputNames];
  }

  stats(): SessionStats {
    return { ...this.#stats };
  }

  async run(
    feeds: Record<string, FeedTensor>,
    options: RunOptions = {},
  ): Promise<Record<string, OutputTensor>> {
    if (this.#closed) throw new Error("session is closed");
    const t0 = performance.now();
    const ortFeeds: Record<string, unknown> = {};
    for (const name of this.inputNames) {
      const f = feeds[name];
      if (!f) {
        throw new InspectorError(
          `the model needs input '${name}' (inputs: ${this.inputNames.join(", ")}); pass it ` +
            `with options.input ${name}=file.npy`,
        );
      }
      const n = f.dims.reduce((a, b) => a * b, 1);
      if (n !== f.data.length) {
        throw new InspectorError(
          `input '${name}' has ${f.data.length} values but shape (${f.dims.join(", ")}) needs ${n}`,
        );
      }
      ortFeeds[name] = new this.ort.Tensor("float32", f.data, f.dims);
    }
    let raw: Record<string, OrtTensorLike>;
    try {
      raw = this.reuse && this.session.runReusing
        ? await this.session.runReusing(ortFeeds)
        : await this.session.run(ortFeeds);
    } catch (err) {
      const shapes = Object.entries(feeds).map(([k, v]) => `${k} (${v.dims.join(", ")})`);
      throw new InspectorError(
        `the model rejected the input ${shapes.join(", ")}: ${shortOrtMessage(err)}. Check ` +
          "options.size, options.maxLen and options.batchSize against the model's input shape (listLayers())",
        { cause: err },
      );
    }
    const keep = new Set(options.keepOnGpu ?? []);
    const out: Record<string, OutputTensor> = {};
    try {
      for (const [name, t] of Object.entries(raw)) {
        if (t.location === "gpu-buffer" && keep.has(name) && t.type === "float32") {
          out[name] = this.#gpuOutput(name, t);
        } else if (t.location === "gpu-buffer") {
          const bytes = byteSizeOf(t.type, t.dims.reduce((a, b) => a * b, 1));
          const data = toFloat32(await t.getData(true), t.type);
          this.#stats.gpuBytesRead += bytes;
          out[name] = cpuOutput(name, [...t.dims], t.type, data);
        } else {
          out[name] = cpuOutput(name, [...t.dims], t.type, toFloat32(t.data, t.type));
          if (t.data instanceof Float64Array) out[name].float64 = t.data;
        }
      }
    } catch (err) {
      for (const t of Object.values(raw)) t.dispose();
      throw err;
    }
    this.#stats.runs++;
    this.#stats.runMs += performance.now() - t0;
    return out;
  }

  #gpuOutput(name: string, t: OrtTensorLike): OutputTensor {
    const stats = this.#stats;
    let disposed = false;
    const dims = [...t.dims];
    return {
      name,
      dims,
      type: t.type,
      location: "gpu-buffer",
      gpuBuffer: t.gpuBuffer,
      async download(): Promise<Float32Array> {
        if (disposed) throw new Error(`output ${name} was disposed`);
        const data = toFloat32(await t.getData(false), t.type);
        stats.gpuBytesRead += data.byteLength;
        return data;
      },
      dispose(): void {
        if (!disposed) t.dispose();
        disposed = true;
      },
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.session.release();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function cpuOutput(name: string, dims: number[], type: string, data: Float32Array): OutputTensor {
  return {
    name,
    dims,
    type,
    location: "cpu",
    data,
    download: () => Promise.resolve(data),
    dispose: () => {},
  };
}
