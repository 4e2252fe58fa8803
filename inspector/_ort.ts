/**
 * Private: the parts of onnxruntime's JavaScript API this project uses, typed structurally (the
 * packages share onnxruntime-common's API; typing them here keeps `any` out of the modules that
 * load them), and the one-line form of its error messages.
 *
 * @module
 */

/** A tensor as onnxruntime returns it. */
export interface OrtTensorLike {
  /** Shape. */
  readonly dims: readonly number[];
  /** ONNX element type (`float32`...). */
  readonly type: string;
  /** `cpu` or `gpu-buffer`. */
  readonly location: string;
  /** Values when on the CPU. */
  readonly data: unknown;
  /** The buffer when left on the GPU. */
  readonly gpuBuffer?: GPUBuffer;
  /** The values (read back from the GPU when needed). */
  getData(releaseData?: boolean): Promise<unknown>;
  /** Release the tensor. */
  dispose(): void;
}

/** An onnxruntime inference session. */
export interface OrtSessionLike {
  /** Graph input names. */
  readonly inputNames: readonly string[];
  /** Graph output names. */
  readonly outputNames: readonly string[];
  /** Run the model. */
  run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensorLike>>;
  /**
   * Run writing the float32 outputs into arrays of this session's earlier `runReusing` calls,
   * two sets in turn (the FFI session of `_ort_ffi.ts` only): a run's outputs are valid until
   * the second such run after it.
   */
  runReusing?(feeds: Record<string, unknown>): Promise<Record<string, OrtTensorLike>>;
  /** Release the session. */
  release(): Promise<void>;
}

/** An onnxruntime package (onnxruntime-node, onnxruntime-web, onnxruntime-web/webgpu). */
export interface OrtModuleLike {
  /** Session factory. */
  InferenceSession: {
    create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSessionLike>;
  };
  /** Tensor constructor. */
  Tensor: new (type: "float32", data: Float32Array, dims: readonly number[]) => unknown;
}

/**
 * Shorten an onnxruntime error to one line: the `ERROR_MESSAGE` part when present, whitespace
 * collapsed, at most 300 characters.
 *
 * @example Usage
 * ```ts
 * import { shortOrtMessage } from "./runtime.ts";
 * const e = new Error("failed to call OrtRun(). ERROR_CODE: 2, ERROR_MESSAGE: Got invalid dimensions\n index: 3");
 * console.log(shortOrtMessage(e)); // "Got invalid dimensions index: 3"
 * ```
 */
export function shortOrtMessage(err: unknown): string {
  let msg = err instanceof Error ? err.message : String(err);
  const i = msg.indexOf("ERROR_MESSAGE:");
  if (i >= 0) msg = msg.slice(i + "ERROR_MESSAGE:".length);
  msg = msg.replace(/\[[^\]]*onnxruntime[^\]]*\]/g, "").replace(/\s+/g, " ").trim();
  msg = msg.replace(/ ?Please fix either the inputs\/outputs or the model\.?/, "").replace(
    /\.+$/,
    "",
  );
  return msg.length > 300 ? msg.slice(0, 297) + "..." : msg;
}
