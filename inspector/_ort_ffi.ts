/**
 * Private: the native onnxruntime of the `cpu` backend called through its C API with Deno FFI,
 * as an {@linkcode OrtModuleLike}.
 *
 * onnxruntime-node's N-API binding copies every output into a new `ArrayBuffer`: for the
 * tensors `inspect` taps that is one more pass over tens of megabytes per batch, and fresh pages
 * the kernel has to fault in (on the dataset bench's ResNet-18, a batch's forward took 205-217 ms
 * with its 7 tapped tensors handed back, 170-175 ms without; see docs/performance.md). The C API
 * takes preallocated outputs instead: onnxruntime writes each tapped tensor straight into a
 * `Float32Array` we hold. With `reuseOutputs` (a session whose caller is done with a run's
 * outputs before the run after next, as dataset mode is) two sets of arrays serve every run in
 * turn, so the pages are faulted in once.
 *
 * The library is the one onnxruntime-node ships (`libonnxruntime.so.1`), found by its soname once
 * the binding has loaded it. Where it cannot be opened so (another OS), {@linkcode openFfiOrt}
 * returns null and the binding serves the backend.
 *
 * Memory rules of Deno FFI kept here: every buffer whose address onnxruntime keeps or reads
 * during a non-blocking call lives in an `ArrayBuffer` of its own (never a small typed array,
 * whose bytes V8 may move), and stays referenced until the call has returned.
 *
 * @module
 */

import type { OrtModuleLike, OrtSessionLike, OrtTensorLike } from "./_ort.ts";

/** `OrtApi` members used, by their index in the struct (`onnxruntime_c_api.h`, append-only). */
const API = {
  GetErrorMessage: 2,
  CreateEnv: 3,
  CreateSessionFromArray: 8,
  Run: 9,
  CreateSessionOptions: 10,
  SetSessionExecutionMode: 13,
  SetSessionLogSeverityLevel: 22,
  SetSessionGraphOptimizationLevel: 23,
  SetIntraOpNumThreads: 24,
  SetInterOpNumThreads: 25,
  SessionGetInputCount: 30,
  SessionGetOutputCount: 31,
  SessionGetInputName: 36,
  SessionGetOutputName: 37,
  CreateTensorWithDataAsOrtValue: 49,
  GetTensorMutableData: 51,
  GetTensorElementType: 60,
  GetDimensionsCount: 61,
  GetDimensions: 62,
  GetTensorShapeElementCount: 64,
  GetTensorTypeAndShape: 65,
  CreateCpuMemoryInfo: 69,
  AllocatorFree: 76,
  GetAllocatorWithDefaultOptions: 78,
  ReleaseStatus: 93,
  ReleaseSession: 95,
  ReleaseValue: 96,
  ReleaseTensorTypeAndShapeInfo: 99,
  ReleaseSessionOptions: 100,
  AddSessionConfigEntry: 130,
} as const;

/** The C API version asked for (any onnxruntime since 1.14 serves it; members are append-only). */
const API_VERSION = 14;

/** A typed-array constructor over a whole `ArrayBuffer`. */
interface ArrayOf {
  new (buffer: ArrayBuffer): ArrayBufferView;
  readonly BYTES_PER_ELEMENT: number;
}

/** ONNX element types: the name onnxruntime's JavaScript API uses, and the array they come in. */
const ELEMENT_TYPES: Readonly<Record<number, { name: string; array: ArrayOf }>> = {
  1: { name: "float32", array: Float32Array },
  2: { name: "uint8", array: Uint8Array },
  3: { name: "int8", array: Int8Array },
  4: { name: "uint16", array: Uint16Array },
  5: { name: "int16", array: Int16Array },
  6: { name: "int32", array: Int32Array },
  7: { name: "int64", array: BigInt64Array },
  9: { name: "bool", array: Uint8Array },
  10: { name: "float16", array: Uint16Array },
  11: { name: "float64", array: Float64Array },
  12: { name: "uint32", array: Uint32Array },
  13: { name: "uint64", array: BigUint64Array },
};

const P = "pointer" as const;
const B = "buffer" as const;
const SIGNATURES = {
  GetErrorMessage: { parameters: [P], result: P },
  CreateEnv: { parameters: ["i32", B, B], result: P },
  CreateSessionFromArray: { parameters: [P, B, "usize", P, B], result: P },
  Run: { parameters: [P, P, B, B, "usize", B, "usize", B], result: P, nonblocking: true },
  CreateSessionOptions: { parameters: [B], result: P },
  SetSessionExecutionMode: { parameters: [P, "i32"], result: P },
  SetSessionLogSeverityLevel: { parameters: [P, "i32"], result: P },
  SetSessionGraphOptimizationLevel: { parameters: [P, "i32"], result: P },
  SetIntraOpNumThreads: { parameters: [P, "i32"], result: P },
  SetInterOpNumThreads: { parameters: [P, "i32"], result: P },
  SessionGetInputCount: { parameters: [P, B], result: P },
  SessionGetOutputCount: { parameters: [P, B], result: P },
  SessionGetInputName: { parameters: [P, "usize", P, B], result: P },
  SessionGetOutputName: { parameters: [P, "usize", P, B], result: P },
  CreateTensorWithDataAsOrtValue: { parameters: [P, B, "usize", B, "usize", "i32", B], result: P },
  GetTensorMutableData: { parameters: [P, B], result: P },
  GetTensorElementType: { parameters: [P, B], result: P },
  GetDimensionsCount: { parameters: [P, B], result: P },
  GetDimensions: { parameters: [P, B, "usize"], result: P },
  GetTensorShapeElementCount: { parameters: [P, B], result: P },
  GetTensorTypeAndShape: { parameters: [P, B], result: P },
  CreateCpuMemoryInfo: { parameters: ["i32", "i32", B], result: P },
  AllocatorFree: { parameters: [P, P], result: P },
  GetAllocatorWithDefaultOptions: { parameters: [B], result: P },
  ReleaseStatus: { parameters: [P], result: "void" },
  ReleaseSession: { parameters: [P], result: "void" },
  ReleaseValue: { parameters: [P], result: "void" },
  ReleaseTensorTypeAndShapeInfo: { parameters: [P], result: "void" },
  ReleaseSessionOptions: { parameters: [P], result: "void" },
  AddSessionConfigEntry: { parameters: [P, B, B], result: P },
} as const satisfies Record<keyof typeof API, Deno.ForeignFunction>;

type Api = { [K in keyof typeof SIGNATURES]: Deno.UnsafeFnPointer<(typeof SIGNATURES)[K]> };

/** The loaded library: its functions, the process's environment, CPU memory info, allocator. */
interface Runtime {
  api: Api;
  env: Deno.PointerObject;
  cpu: Deno.PointerObject;
  allocator: Deno.PointerObject;
}

let runtime: Runtime | null | undefined;

/** An 8-byte out-parameter in an `ArrayBuffer` of its own. */
function slot(): BigUint64Array {
  return new BigUint64Array(new ArrayBuffer(8));
}

function pointerAt(cell: BigUint64Array, i = 0): Deno.PointerObject {
  const p = Deno.UnsafePointer.create(cell[i]);
  if (!p) throw new Error("onnxruntime returned a null pointer");
  return p;
}

function cString(text: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(new ArrayBuffer(bytes.length + 1));
  out.set(bytes);
  return out;
}

function check(api: Api, status: Deno.PointerValue): void {
  if (status === null) return;
  const msg = api.GetErrorMessage.call(status);
  const text = msg ? Deno.UnsafePointerView.getCString(msg) : "unknown error";
  api.ReleaseStatus.call(status);
  throw new Error(text);
}

function load(): Runtime | null {
  let lib;
  try {
    lib = Deno.dlopen("libonnxruntime.so.1", {
      OrtGetApiBase: { parameters: [], result: P },
    });
  } catch {
    return null;
  }
  const base = lib.symbols.OrtGetApiBase();
  if (!base) return null;
  const getApi = new Deno.UnsafeFnPointer(new Deno.UnsafePointerView(base).getPointer(0)!, {
    parameters: ["u32"],
    result: P,
  });
  const table = getApi.call(API_VERSION);
  if (!table) return null;
  const view = new Deno.UnsafePointerView(table);
  const api = {} as Record<string, unknown>;
  for (const [name, index] of Object.entries(API)) {
    const fn = view.getPointer(index * 8);
    if (!fn) return null;
    api[name] = new Deno.UnsafeFnPointer(
      fn as Deno.PointerObject<never>,
      SIGNATURES[name as keyof typeof API],
    );
  }
  const a = api as Api;
  const out = slot();
  // Warnings and above from the environment; each session sets its own level.
  check(a, a.CreateEnv.call(2, cString("feature-inspector"), out));
  const env = pointerAt(out);
  check(a, a.CreateCpuMemoryInfo.call(0, /* device allocator */ 0, /* default */ out));
  const cpu = pointerAt(out);
  check(a, a.GetAllocatorWithDefaultOptions.call(out));
  return { api: a, env, cpu, allocator: pointerAt(out) };
}

/**
 * The native onnxruntime through FFI, or null when its library cannot be opened by soname (load
 * onnxruntime-node first: its binding brings the library into the process).
 */
export function openFfiOrt(): OrtModuleLike | null {
  if (runtime === undefined) {
    try {
      runtime = load();
    } catch {
      runtime = null;
    }
  }
  const rt = runtime;
  if (!rt) return null;
  return {
    InferenceSession: {
      create: (model, options) => Promise.resolve(FfiSession.create(rt, model, options ?? {})),
    },
    Tensor: FfiTensor,
  };
}

/** A float32 input as the session takes it. */
class FfiTensor {
  constructor(
    readonly type: "float32",
    readonly data: Float32Array,
    readonly dims: readonly number[],
  ) {}
}

const OPT_LEVELS: Readonly<Record<string, number>> = {
  disabled: 0,
  basic: 1,
  extended: 2,
  layout: 3,
  all: 99,
};

function applyOptions(rt: Runtime, opts: Deno.PointerObject, options: Record<string, unknown>) {
  const { api } = rt;
  for (const [key, value] of Object.entries(options)) {
    if (key === "executionProviders") {
      const eps = value as unknown[];
      if (eps.some((e) => e !== "cpu")) throw new Error(`only the cpu EP is served here`);
    } else if (key === "intraOpNumThreads") {
      check(api, api.SetIntraOpNumThreads.call(opts, Number(value)));
    } else if (key === "interOpNumThreads") {
      check(api, api.SetInterOpNumThreads.call(opts, Number(value)));
    } else if (key === "executionMode") {
      check(api, api.SetSessionExecutionMode.call(opts, value === "parallel" ? 1 : 0));
    } else if (key === "graphOptimizationLevel") {
      const level = OPT_LEVELS[String(value)];
      if (level === undefined) throw new Error(`graphOptimizationLevel ${value} is not known`);
      check(api, api.SetSessionGraphOptimizationLevel.call(opts, level));
    } else if (key === "logSeverityLevel") {
      check(api, api.SetSessionLogSeverityLevel.call(opts, Number(value)));
    } else if (key === "extra") {
      for (const [k, v] of flatten(value as Record<string, unknown>, "")) {
        check(api, api.AddSessionConfigEntry.call(opts, cString(k), cString(v)));
      }
    } else if (value !== undefined) {
      throw new Error(`session option ${key} is not served by the FFI session`);
    }
  }
}

function flatten(obj: Record<string, unknown>, prefix: string): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (v && typeof v === "object") {
      out.push(...flatten(v as Record<string, unknown>, `${prefix}${k}.`));
    } else out.push([`${prefix}${k}`, String(v)]);
  }
  return out;
}

/** Null-terminated names and the array of their addresses, each in an `ArrayBuffer` of its own. */
class NameTable {
  readonly #strings: Uint8Array[];
  readonly pointers: BigUint64Array;
  constructor(readonly names: readonly string[]) {
    this.#strings = names.map(cString);
    this.pointers = new BigUint64Array(new ArrayBuffer(8 * Math.max(1, names.length)));
    this.#strings.forEach((s, i) => {
      this.pointers[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(s)));
    });
  }
}

/** What a run learned of the outputs for one set of input shapes. */
interface OutputShapes {
  key: string;
  dims: (number[] | null)[];
}

class FfiSession implements OrtSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  #inputs: NameTable;
  #outputs: NameTable;
  #shapes: OutputShapes | null = null;
  /** The arrays of reusing runs, two sets used in turn (see `runReusing`). */
  #kept: (Float32Array | null)[][];
  #slot = 0;
  #session: Deno.PointerObject | null;

  private constructor(private readonly rt: Runtime, session: Deno.PointerObject) {
    this.#session = session;
    this.inputNames = this.#names(rt.api.SessionGetInputCount, rt.api.SessionGetInputName);
    this.outputNames = this.#names(rt.api.SessionGetOutputCount, rt.api.SessionGetOutputName);
    this.#inputs = new NameTable(this.inputNames);
    this.#outputs = new NameTable(this.outputNames);
    this.#kept = [0, 1].map(() => this.outputNames.map(() => null));
  }

  static create(rt: Runtime, model: Uint8Array, options: Record<string, unknown>): FfiSession {
    const { api } = rt;
    const out = slot();
    check(api, api.CreateSessionOptions.call(out));
    const opts = pointerAt(out);
    try {
      applyOptions(rt, opts, options);
      check(api, api.CreateSessionFromArray.call(rt.env, model, BigInt(model.length), opts, out));
    } finally {
      api.ReleaseSessionOptions.call(opts);
    }
    return new FfiSession(rt, pointerAt(out));
  }

  #names(
    count: Api["SessionGetInputCount"],
    name: Api["SessionGetInputName"],
  ): string[] {
    const { api, allocator } = this.rt;
    const n = slot();
    check(api, count.call(this.#session, n));
    const out: string[] = [];
    for (let i = 0; i < Number(n[0]); i++) {
      const cell = slot();
      check(api, name.call(this.#session, BigInt(i), allocator, cell));
      const p = pointerAt(cell);
      out.push(Deno.UnsafePointerView.getCString(p));
      check(api, api.AllocatorFree.call(allocator, p));
    }
    return out;
  }

  #tensor(data: ArrayBufferView, dims: readonly number[], type: number): Deno.PointerObject {
    const { api, cpu } = this.rt;
    const shape = new BigInt64Array(new ArrayBuffer(8 * Math.max(1, dims.length)));
    dims.forEach((d, i) => shape[i] = BigInt(d));
    const out = slot();
    check(
      api,
      api.CreateTensorWithDataAsOrtValue.call(
        cpu,
        data,
        BigInt(data.byteLength),
        shape,
        BigInt(dims.length),
        type,
        out,
      ),
    );
    return pointerAt(out);
  }

  /** Run with fresh output arrays. */
  run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensorLike>> {
    return this.#run(feeds, false);
  }

  /**
   * Run writing the float32 outputs into the arrays of the reusing run before the previous one
   * (two sets in turn): a run's outputs stay valid while the next run computes.
   */
  runReusing(feeds: Record<string, unknown>): Promise<Record<string, OrtTensorLike>> {
    return this.#run(feeds, true);
  }

  async #run(
    feeds: Record<string, unknown>,
    reuse: boolean,
  ): Promise<Record<string, OrtTensorLike>> {
    if (!this.#session) throw new Error("session is released");
    const { api } = this.rt;
    const values: Deno.PointerObject[] = [];
    const inputs = new BigUint64Array(new ArrayBuffer(8 * Math.max(1, this.inputNames.length)));
    const held: ArrayBufferView[] = [];
    const kept = this.#kept[this.#slot];
    if (reuse) this.#slot ^= 1;
    try {
      this.inputNames.forEach((name, i) => {
        const t = feeds[name];
        if (!(t instanceof FfiTensor)) throw new Error(`input '${name}' is missing`);
        // Small typed arrays may live on V8's heap, where the collector moves them.
        const data = t.data.byteLength <= 4096 ? copyOffHeap(t.data) : t.data;
        held.push(data);
        const v = this.#tensor(data, t.dims, 1);
        values.push(v);
        inputs[i] = BigInt(Deno.UnsafePointer.value(v));
      });
      const key = this.inputNames.map((n) => (feeds[n] as FfiTensor).dims.join("x")).join(",");
      const known = this.#shapes?.key === key ? this.#shapes.dims : null;
      const outputs = new BigUint64Array(new ArrayBuffer(8 * Math.max(1, this.outputNames.length)));
      const arrays: (Float32Array | null)[] = this.outputNames.map((_, i) => {
        const dims = known?.[i];
        if (!dims) return null;
        const n = dims.reduce((a, b) => a * b, 1);
        const mine = kept[i];
        const data = reuse && mine && mine.length === n ? mine : new Float32Array(n);
        const v = this.#tensor(data, dims, 1);
        values.push(v);
        outputs[i] = BigInt(Deno.UnsafePointer.value(v));
        return data;
      });
      check(
        api,
        await api.Run.call(
          this.#session,
          null,
          this.#inputs.pointers,
          inputs,
          BigInt(this.inputNames.length),
          this.#outputs.pointers,
          BigInt(this.outputNames.length),
          outputs,
        ),
      );
      const result: Record<string, OrtTensorLike> = {};
      const dims: (number[] | null)[] = [];
      this.outputNames.forEach((name, i) => {
        const own = arrays[i];
        const ownDims = known?.[i];
        if (own && ownDims) {
          if (reuse) kept[i] = own;
          dims.push(ownDims);
          result[name] = cpuTensor(own, ownDims, "float32");
          return;
        }
        const v = pointerAt(outputs, i);
        values.push(v);
        const t = this.#read(v);
        // A float32 output is preallocated from the next run on with these input shapes.
        dims.push(t.type === "float32" ? t.dims : null);
        if (reuse && t.data instanceof Float32Array) kept[i] = t.data;
        result[name] = cpuTensor(t.data, t.dims, t.type);
      });
      this.#shapes = { key, dims };
      return result;
    } catch (err) {
      // Shapes that changed under a preallocated output: learn them again next run.
      this.#shapes = null;
      throw err;
    } finally {
      for (const v of values) api.ReleaseValue.call(v);
      held.length = 0;
    }
  }

  /** Type, shape and a copy of the values of an output onnxruntime allocated. */
  #read(v: Deno.PointerObject): { type: string; dims: number[]; data: ArrayBufferView } {
    const { api } = this.rt;
    const cell = slot();
    check(api, api.GetTensorTypeAndShape.call(v, cell));
    const info = pointerAt(cell);
    let type: number, dims: number[];
    try {
      const t = new Int32Array(new ArrayBuffer(4));
      check(api, api.GetTensorElementType.call(info, t));
      type = t[0];
      check(api, api.GetDimensionsCount.call(info, cell));
      const rank = Number(cell[0]);
      const d = new BigInt64Array(new ArrayBuffer(8 * Math.max(1, rank)));
      check(api, api.GetDimensions.call(info, d, BigInt(rank)));
      dims = [...d.subarray(0, rank)].map(Number);
    } finally {
      api.ReleaseTensorTypeAndShapeInfo.call(info);
    }
    const spec = ELEMENT_TYPES[type];
    if (!spec) throw new Error(`output element type ${type} is not supported`);
    const n = dims.reduce((a, b) => a * b, 1);
    const bytes = new Uint8Array(n * spec.array.BYTES_PER_ELEMENT);
    if (n > 0) {
      check(api, api.GetTensorMutableData.call(v, cell));
      new Deno.UnsafePointerView(pointerAt(cell)).copyInto(bytes);
    }
    return { type: spec.name, dims, data: new spec.array(bytes.buffer) };
  }

  release(): Promise<void> {
    if (this.#session) this.rt.api.ReleaseSession.call(this.#session);
    this.#session = null;
    this.#kept = [0, 1].map(() => this.outputNames.map(() => null));
    return Promise.resolve();
  }
}

function copyOffHeap(data: Float32Array): Float32Array {
  const out = new Float32Array(new ArrayBuffer(Math.max(4, data.byteLength)), 0, data.length);
  out.set(data);
  return out;
}

function cpuTensor(data: ArrayBufferView, dims: readonly number[], type: string): OrtTensorLike {
  return {
    dims,
    type,
    location: "cpu",
    data,
    getData: () => Promise.resolve(data),
    dispose: () => {},
  };
}
