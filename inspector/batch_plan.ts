/**
 * Bounded memory for big runs: split one batch `(B, T, ...)` into several forward passes when one
 * pass would exceed the runtime's limits (WASM's 4 GiB heap, WebGPU's buffer cap) or the memory
 * budget, in the ways the model allows:
 *
 * - a 2D backbone applied per frame (time folded into batch, `(B*T, C, H, W)` activations) gives
 *   every frame the same activations whatever else is in the batch, so clips and frames can be
 *   split (a temporal head's logits then differ, the tapped activations do not);
 * - any model keeps clips independent (eval mode), so clips can be split when its batch axis is
 *   dynamic; a 3D CNN's frames cannot be split (its temporal convolutions see neighbours).
 *
 * {@linkcode planBatches} says how; {@linkcode sliceBatch} cuts the input of one chunk.
 *
 * @module
 */

import { InspectorError } from "../core/errors.ts";
import { featureGridLayout } from "../render/grid_layout.ts";
import type { FeedTensor, ModelSession, OutputTensor } from "./runtime.ts";
import { BACKEND_NAMES, type BackendName, BACKENDS, orList } from "./backends.ts";

/** One forward pass: clips `[clips[0], clips[1])` and frames `[frames[0], frames[1])`. */
export interface BatchChunk {
  /** Clip range, end exclusive. */
  clips: [number, number];
  /** Frame range, end exclusive. */
  frames: [number, number];
}

/** What {@linkcode planBatches} needs to know. */
export interface BatchPlanOptions {
  /** Execution provider (its memory model in `backends.ts` sets the hard limits). */
  ep: BackendName;
  /** Bytes of all tapped outputs for one frame (float32), e.g. from a first run. */
  tapBytesPerFrame: number;
  /** Bytes of the largest activation of one frame (tapped or not; the largest tapped one is a fair guess). */
  largestTensorBytesPerFrame: number;
  /** Bytes of the model (weights); counted twice for WASM, which copies the model into its heap (the backend's `heap.modelCopies`). */
  modelBytes?: number;
  /** Bytes of one frame of input (e.g. `3*H*W*4`); default 0. */
  inputBytesPerFrame?: number;
  /** The model processes frames independently (2D per-frame backbone) and accepts any T. */
  splitFrames?: boolean;
  /** The model accepts a smaller batch (dynamic batch axis). Default true. */
  splitClips?: boolean;
  /** Memory to aim for per forward pass (default 1 GiB). */
  budgetBytes?: number;
  /** Heap limit of a backend with a fixed heap (default: its `heap.heapBytes`, 4 GiB for WASM). */
  heapBytes?: number;
  /** WebGPU: the device's largest buffer (`maxStorageBufferBindingSize`/`maxBufferSize`). */
  maxBufferBytes?: number;
}

/** How to run one batch. */
export interface BatchPlan {
  /** Forward passes in order; together they cover every (clip, frame) exactly once. */
  chunks: BatchChunk[];
  /** More than one chunk. */
  split: boolean;
  /** Estimated peak bytes of the largest chunk's forward pass. */
  estimatedBytes: number;
  /** Estimated bytes of the unsplit forward pass. */
  unsplitBytes: number;
  /** A line for people when the batch was split or exceeds the budget; null otherwise. */
  note: string | null;
}

const GiB = 1024 ** 3;

/** Working activations live besides the tapped outputs: about three of the largest tensor. */
const WORK_TENSORS = 3;

/**
 * Whether a batch input is small enough to run in one pass without probing: under 1/64 of the
 * memory budget (default 1 GiB), the rule {@linkcode forwardInChunks} applies first.
 *
 * @example Usage
 * ```ts
 * import { fitsOnePass } from "./batch_plan.ts";
 * console.log(fitsOnePass(2 * 8 * 3 * 224 * 224 * 4)); // true (9.6 MB)
 * console.log(fitsOnePass(2 * 8 * 3 * 1024 * 1024 * 4)); // false (201 MB)
 * ```
 */
export function fitsOnePass(inputBytes: number, budgetBytes: number = GiB): boolean {
  return inputBytes * 64 <= budgetBytes;
}

/**
 * The memory ceiling never goes below this (256 MiB): a smaller `budgetBytes` only splits the
 * batch finer (the smallest pass the model allows may then exceed it), while planned memory above
 * `max(budget, MIN_CEILING_BYTES)` is refused before it is allocated.
 */
export const MIN_CEILING_BYTES: number = 256 * 2 ** 20;

/**
 * The ceiling on planned memory for a budget: `max(budget, MIN_CEILING_BYTES)` (default budget
 * 1 GiB).
 *
 * @example Usage
 * ```ts
 * import { memoryCeiling } from "./batch_plan.ts";
 * console.log(memoryCeiling(16 * 2 ** 20) / 2 ** 20, memoryCeiling() / 2 ** 20); // 256 1024
 * ```
 */
export function memoryCeiling(budgetBytes: number = GiB): number {
  return Math.max(budgetBytes, MIN_CEILING_BYTES);
}

/** `options.memoryBudgetMiB 1024 MiB` (or the ceiling it is raised to) for a message. */
function budgetLabel(budgetBytes: number): string {
  const mib = Math.round(budgetBytes / 2 ** 20);
  const ceiling = Math.round(memoryCeiling(budgetBytes) / 2 ** 20);
  return ceiling === mib
    ? `options.memoryBudgetMiB ${mib} MiB`
    : `the ${ceiling} MiB floor of the memory ceiling (options.memoryBudgetMiB ${mib})`;
}

/** What loading a `(B, T, C, H, W)` clip batch allocates, in bytes, from {@linkcode estimateInputBytes}. */
export interface InputBytes {
  /** The float32 batch itself, held until the run ends. */
  batch: number;
  /** Transient decode buffers: per worker one frame's resize buffer, plus the joined copy with several workers. */
  decode: number;
}

/**
 * Estimated bytes of decoding a clip batch of `shape` (`[B, T, C, H, W]` float32) on `workers`
 * decoders: the batch, each worker's resize buffer of one frame (float64 rows of a source taken
 * no larger than the frame) and source pixels, and, with several workers, their parts joined
 * into one array.
 *
 * @example Usage
 * ```ts
 * import { estimateInputBytes } from "./batch_plan.ts";
 * const m = estimateInputBytes([2, 8, 3, 512, 512], { workers: 1 });
 * console.log(m.batch, m.decode); // 50331648 7340032
 * ```
 */
export function estimateInputBytes(
  shape: readonly number[],
  options: { workers?: number } = {},
): InputBytes {
  const n = shape.reduce((a, b) => a * b, 1);
  const batch = 4 * n;
  const h = shape[shape.length - 2] ?? 1, w = shape[shape.length - 1] ?? 1;
  const c = shape.length >= 3 ? shape[shape.length - 3] : 1;
  const frames = Math.max(1, n / (c * h * w));
  const workers = Math.max(1, Math.min(options.workers ?? 1, frames));
  // resizeRgb's float64 rows (3 x inH x outW, inH <= H) and the decoded RGBA source.
  const perWorker = 8 * c * h * w + 4 * h * w;
  return { batch, decode: workers * perWorker + (workers > 1 ? batch : 0) };
}

/**
 * Refuse a clip batch whose loading would exceed the memory ceiling ({@linkcode memoryCeiling}
 * of `budgetBytes`), before anything is allocated, with one line saying what to lower.
 *
 * @example Usage
 * ```ts
 * import { checkInputBudget } from "./batch_plan.ts";
 * checkInputBudget([2, 8, 3, 512, 512]); // fits the default 1 GiB
 * try {
 *   checkInputBudget([1, 2, 3, 20000, 20000]);
 * } catch (err) {
 *   console.log((err as Error).message.startsWith("the input batch alone needs 8.94 GiB")); // true
 * }
 * ```
 */
export function checkInputBudget(
  shape: readonly number[],
  options: { budgetBytes?: number; workers?: number } = {},
): InputBytes {
  const budget = options.budgetBytes ?? GiB;
  const ceiling = memoryCeiling(budget);
  const m = estimateInputBytes(shape, options);
  const what = `(${shape.join(" x ")} float32)`;
  const lower = shape.length === 5
    ? "lower options.size or options.batchSize/options.maxLen"
    : "pass a smaller batch";
  if (m.batch > ceiling) {
    throw new InspectorError(
      `the input batch alone needs ${formatBytes(m.batch)} ${what}, over ${budgetLabel(budget)}: ` +
        `${lower}, or raise options.memoryBudgetMiB`,
    );
  }
  if (m.batch + m.decode > ceiling) {
    throw new InspectorError(
      `loading the input batch needs about ${formatBytes(m.batch + m.decode)} ` +
        `(${formatBytes(m.batch)} ${what} and ${formatBytes(m.decode)} of decode buffers), over ` +
        `${budgetLabel(budget)}: ${lower}` +
        ((options.workers ?? 1) > 1 ? " or options.workers" : "") +
        `, or raise options.memoryBudgetMiB`,
    );
  }
  return m;
}

/**
 * Format a byte count for messages (`1.50 GiB`, `320 MiB`).
 *
 * @example Usage
 * ```ts
 * import { formatBytes } from "./batch_plan.ts";
 * console.log(formatBytes(1.5 * 1024 ** 3)); // "1.50 GiB"
 * ```
 */
export function formatBytes(n: number): string {
  if (n >= GiB) return `${(n / GiB).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${Math.round(n / 1024 ** 2)} MiB`;
  return `${Math.round(n / 1024)} KiB`;
}

/**
 * Estimated peak process memory of a forward pass over `frames` frames: weights, inputs, the
 * tapped outputs twice on the CPU EPs (the runtime's copy and the JavaScript copy it hands
 * back), and the working activations.
 *
 * @example Usage
 * ```ts
 * import { estimateForwardBytes } from "./batch_plan.ts";
 * const n = estimateForwardBytes(16, { ep: "cpu", tapBytesPerFrame: 1e6, largestTensorBytesPerFrame: 4e5 });
 * console.log(n); // 51200000
 * ```
 */
export function estimateForwardBytes(frames: number, options: BatchPlanOptions): number {
  const { heap } = BACKENDS[options.ep];
  const model = (options.modelBytes ?? 0) * heap.modelCopies;
  const perFrame = heap.outputCopies * options.tapBytesPerFrame +
    WORK_TENSORS * options.largestTensorBytesPerFrame + (options.inputBytesPerFrame ?? 0);
  return model + frames * perFrame;
}

/**
 * Bytes of a forward pass in a fixed heap (WASM's): the model's copies, inputs, outputs and
 * working tensors.
 */
function heapBytes(frames: number, options: BatchPlanOptions): number {
  return (options.modelBytes ?? 0) * BACKENDS[options.ep].heap.modelCopies +
    frames * (options.tapBytesPerFrame + WORK_TENSORS * options.largestTensorBytesPerFrame +
        (options.inputBytesPerFrame ?? 0));
}

function hardLimitFrames(options: BatchPlanOptions): { frames: number; what: string } {
  let frames = Infinity, what = "";
  const spec = BACKENDS[options.ep];
  if (spec.heap.heapBytes !== null) {
    const heap = options.heapBytes ?? spec.heap.heapBytes;
    const model = heapBytes(0, options);
    frames = Math.floor((heap - model) / (heapBytes(1, options) - model));
    what = `${spec.label}'s ${formatBytes(heap)} heap`;
  }
  if (spec.heap.deviceBuffers && options.maxBufferBytes) {
    const f = Math.floor(options.maxBufferBytes / options.largestTensorBytesPerFrame);
    if (f < frames) {
      frames = f;
      what = `this GPU's ${formatBytes(options.maxBufferBytes)} buffer limit`;
    }
  }
  return { frames, what };
}

/** `, or options.ep cpu`: the other backends without a hard memory limit, for an error message. */
function unboundedAlternatives(ep: BackendName): string {
  const names = BACKEND_NAMES.filter((n) =>
    n !== ep && BACKENDS[n].heap.heapBytes === null && !BACKENDS[n].heap.deviceBuffers
  );
  return names.length ? `, or ${orList(names.map((n) => `options.ep ${n}`))}` : "";
}

/**
 * Split a batch of `batch` clips x `time` frames into forward passes that fit the runtime.
 *
 * Throws an {@linkcode InspectorError} with the memory needed when even the smallest pass the
 * model allows (one frame of a 2D model, one clip otherwise) exceeds a hard limit.
 *
 * @example Usage
 * ```ts
 * import { planBatches } from "./batch_plan.ts";
 * const p = planBatches(2, 8, {
 *   ep: "wasm", tapBytesPerFrame: 700 * 2 ** 20, largestTensorBytesPerFrame: 256 * 2 ** 20,
 *   splitFrames: true,
 * });
 * console.log(p.split, p.chunks.length); // true 16
 * ```
 */
export function planBatches(batch: number, time: number, options: BatchPlanOptions): BatchPlan {
  const budget = options.budgetBytes ?? GiB;
  const total = batch * time;
  const unsplit = estimateForwardBytes(total, options);
  const hard = hardLimitFrames(options);
  const fitsBudget = (frames: number) => estimateForwardBytes(frames, options) <= budget;
  const one = (): BatchPlan => ({
    chunks: [{ clips: [0, batch], frames: [0, time] }],
    split: false,
    estimatedBytes: unsplit,
    unsplitBytes: unsplit,
    note: null,
  });
  if (total <= hard.frames && fitsBudget(total)) return one();

  const splitClips = options.splitClips ?? true;
  const splitFrames = options.splitFrames ?? false;
  // Largest number of frames per pass within the budget and the hard limit (at least the minimum).
  const model = estimateForwardBytes(0, options);
  const perFrame = estimateForwardBytes(1, options) - model;
  const byBudget = Math.max(1, Math.floor((budget - model) / perFrame));
  const maxFrames = Math.min(byBudget, hard.frames);

  let clipsPerRun: number, framesPerRun: number;
  if (splitFrames && splitClips) {
    if (maxFrames >= time) {
      clipsPerRun = Math.min(batch, Math.floor(maxFrames / time));
      framesPerRun = time;
    } else {
      clipsPerRun = 1;
      framesPerRun = Math.max(1, maxFrames);
    }
  } else if (splitFrames) {
    // Fixed batch axis: every pass keeps all clips, frames are split.
    clipsPerRun = batch;
    framesPerRun = Math.max(1, Math.min(time, Math.floor(maxFrames / batch)));
  } else if (splitClips) {
    clipsPerRun = Math.max(1, Math.min(batch, Math.floor(maxFrames / time)));
    framesPerRun = time;
  } else {
    clipsPerRun = batch;
    framesPerRun = time;
  }
  const runFrames = clipsPerRun * framesPerRun;
  const need = BACKENDS[options.ep].heap.heapBytes !== null
    ? heapBytes(runFrames, options)
    : estimateForwardBytes(runFrames, options);
  if (runFrames > hard.frames) {
    const smallest = splitFrames
      ? (splitClips ? "one frame" : `one frame of ${batch} clips`)
      : splitClips
      ? `one clip of ${time} frames`
      : `the whole batch (${batch}x${time}; the model's batch axis is fixed)`;
    throw new InspectorError(
      `one forward pass needs about ${formatBytes(need)} for ${smallest}, more than ${hard.what}` +
        (splitFrames ? "" : " (this model's frames cannot be processed separately)") +
        `; use a smaller options.size or options.maxLen, fewer options.layers` +
        unboundedAlternatives(options.ep),
    );
  }
  // Balanced chunks: split frames into equal-ish pieces, clips into runs of clipsPerRun.
  const chunks: BatchChunk[] = [];
  const framePieces = Math.ceil(time / framesPerRun);
  const frameEdges = Array.from(
    { length: framePieces + 1 },
    (_, k) => Math.round((k * time) / framePieces),
  );
  for (let b0 = 0; b0 < batch; b0 += clipsPerRun) {
    const b1 = Math.min(batch, b0 + clipsPerRun);
    for (let k = 0; k < framePieces; k++) {
      chunks.push({ clips: [b0, b1], frames: [frameEdges[k], frameEdges[k + 1]] });
    }
  }
  const split = chunks.length > 1;
  const est = estimateForwardBytes(
    Math.max(...chunks.map((c) => (c.clips[1] - c.clips[0]) * (c.frames[1] - c.frames[0]))),
    options,
  );
  let note: string | null = null;
  if (split) {
    note =
      `one forward pass over ${batch}x${time} frames would need about ${
        formatBytes(unsplit)
      }; running ${chunks.length} passes of ${clipsPerRun} clip${clipsPerRun > 1 ? "s" : ""} x ${
        framePieces > 1 ? `<=${framesPerRun}` : framesPerRun
      } frame${framesPerRun > 1 ? "s" : ""} (about ${formatBytes(est)} each)` +
      (splitFrames && framePieces > 1 ? "; frames are independent in this 2D backbone" : "");
  } else if (est > budget) {
    note = `one forward pass needs about ${formatBytes(est)}, above the ${
      formatBytes(budget)
    } budget; this model's batch cannot be split further`;
  }
  return { chunks, split, estimatedBytes: est, unsplitBytes: unsplit, note };
}

/**
 * Cut the input of one chunk out of a `(B, T, ...)` batch (a `(B, ...)` input without time is
 * cut along clips only).
 *
 * @example Usage
 * ```ts
 * import { sliceBatch } from "./batch_plan.ts";
 * const feed = { data: Float32Array.from({ length: 2 * 4 * 3 }, (_, i) => i), dims: [2, 4, 3] };
 * const part = sliceBatch(feed, { clips: [1, 2], frames: [2, 4] }, { timeAxis: true });
 * console.log(part.dims, part.data[0]); // [1, 2, 3] 18
 * ```
 */
export function sliceBatch(
  feed: FeedTensor,
  chunk: BatchChunk,
  options: { timeAxis: boolean },
): FeedTensor {
  const [b0, b1] = chunk.clips;
  const dims = feed.dims;
  if (!options.timeAxis) {
    const per = dims.slice(1).reduce((a, b) => a * b, 1);
    return { data: feed.data.subarray(b0 * per, b1 * per), dims: [b1 - b0, ...dims.slice(1)] };
  }
  const [t0, t1] = chunk.frames;
  const T = dims[1];
  const per = dims.slice(2).reduce((a, b) => a * b, 1);
  if (t0 === 0 && t1 === T) {
    return {
      data: feed.data.subarray(b0 * T * per, b1 * T * per),
      dims: [b1 - b0, T, ...dims.slice(2)],
    };
  }
  const out = new Float32Array((b1 - b0) * (t1 - t0) * per);
  for (let b = b0; b < b1; b++) {
    out.set(
      feed.data.subarray((b * T + t0) * per, (b * T + t1) * per),
      (b - b0) * (t1 - t0) * per,
    );
  }
  return { data: out, dims: [b1 - b0, t1 - t0, ...dims.slice(2)] };
}

/** Per-frame memory figures measured from one run's outputs. */
export interface MeasuredOutputs {
  /** Bytes of all outputs per frame. */
  tapBytesPerFrame: number;
  /** Bytes of the largest output per frame. */
  largestTensorBytesPerFrame: number;
}

/**
 * Per-frame memory of a run's outputs (`frames` = clips x frames of that run).
 *
 * @example Usage
 * ```ts
 * import { measureOutputs } from "./batch_plan.ts";
 * const m = measureOutputs([{ dims: [4, 8, 16, 16] }, { dims: [4, 16, 8, 8] }], 4);
 * console.log(m); // { tapBytesPerFrame: 12288, largestTensorBytesPerFrame: 8192 }
 * ```
 */
export function measureOutputs(
  outputs: Iterable<{ dims: readonly number[] }>,
  frames: number,
): MeasuredOutputs {
  let total = 0, largest = 0;
  for (const o of outputs) {
    const bytes = 4 * o.dims.reduce((a, b) => a * b, 1);
    total += bytes;
    largest = Math.max(largest, bytes);
  }
  return {
    tapBytesPerFrame: total / Math.max(1, frames),
    largestTensorBytesPerFrame: largest / Math.max(1, frames),
  };
}

/** Options of {@linkcode forwardInChunks}. */
export interface ChunkedForwardOptions {
  /** Name of the `(B, T, ...)` (or `(B, ...)`) input to split; other inputs are passed whole. */
  input: string;
  /**
   * The model looks like a 2D backbone applied per frame (time folded into batch): try splitting
   * frames. This is checked, not trusted: the first frame is run alone and compared with the same
   * frame inside the first planned pass (for the `verify` tensors); if they differ (the model mixes
   * frames, e.g. a temporal shift), only clips are split.
   */
  splitFrames: boolean;
  /** Tensors that must be per-frame `(frames, ...)` for a frame split (the tapped ones); default all outputs. */
  verify?: string[];
  /** Batch axis is dynamic (default true). */
  splitClips?: boolean;
  /** Memory to aim for per pass (default 1 GiB). */
  budgetBytes?: number;
  /** Output names to keep on the GPU (WebGPU). */
  keepOnGpu?: string[];
  /** Model size in bytes (for the WASM heap estimate). */
  modelBytes?: number;
  /** Frames kept for saving, counted against the budget with the smallest pass. */
  savedFrames?: number;
  /**
   * Receives each pass's outputs and where they belong; dispose them (after copying what you
   * keep) before returning, so memory stays bounded.
   */
  onChunk: (
    chunk: BatchChunk,
    outputs: Record<string, OutputTensor>,
  ) => Promise<void>;
  /** A line for people when the batch is split. */
  onInfo?: (line: string) => void;
  /**
   * Runs the planned passes instead of `session` (which still runs the probes that measure and
   * check the split): e.g. a session with the statistics in the graph. Gets the chunk and its
   * slice of the split input.
   */
  runChunk?: (chunk: BatchChunk, input: FeedTensor) => Promise<Record<string, OutputTensor>>;
}

/**
 * Run a batch in as many forward passes as memory requires.
 *
 * Small batches (input under 1/64 of the budget) run in one pass. Otherwise the first pass is a
 * probe of the smallest unit the model allows (one frame of a 2D backbone, one clip otherwise);
 * its outputs give the memory per frame, and the rest of the batch is planned with
 * {@linkcode planBatches}. Every (clip, frame) is covered exactly once; `onChunk` gets each pass.
 *
 * @example Usage
 * ```ts ignore
 * import { forwardInChunks } from "./batch_plan.ts";
 * const plan = await forwardInChunks(session, { frames: batch }, {
 *   input: "frames", splitFrames: true,
 *   onChunk: async (chunk, outputs) => { ...; for (const o of Object.values(outputs)) o.dispose(); },
 * });
 * ```
 */
export async function forwardInChunks(
  session: Pick<ModelSession, "info" | "device" | "run">,
  feeds: Record<string, FeedTensor>,
  options: ChunkedForwardOptions,
): Promise<{ chunks: BatchChunk[]; note: string | null; framesSplit: boolean }> {
  const feed = feeds[options.input];
  if (!feed) throw new InspectorError(`the model needs input '${options.input}'`);
  const timeAxis = feed.dims.length >= 5;
  const B = feed.dims[0], T = timeAxis ? feed.dims[1] : 1;
  const budget = options.budgetBytes ?? GiB;
  const runRaw = (chunk: BatchChunk) =>
    session.run({ ...feeds, [options.input]: sliceBatch(feed, chunk, { timeAxis }) }, {
      keepOnGpu: options.keepOnGpu,
    });
  const run = async (chunk: BatchChunk): Promise<void> => {
    const outputs = options.runChunk
      ? await options.runChunk(chunk, sliceBatch(feed, chunk, { timeAxis }))
      : await runRaw(chunk);
    await options.onChunk(chunk, outputs);
  };
  const whole: BatchChunk = { clips: [0, B], frames: [0, T] };
  let splitFrames = options.splitFrames && timeAxis && T > 1;
  if (fitsOnePass(feed.data.byteLength, budget)) {
    await run(whole);
    return { chunks: [whole], note: null, framesSplit: false };
  }
  // Before any pass at full size: the smallest pass, extrapolated from two tiny ones, must fit.
  await checkSmallestPass(session, feeds, {
    input: options.input,
    splitFrames,
    splitClips: options.splitClips ?? true,
    budgetBytes: budget,
    modelBytes: options.modelBytes,
    savedFrames: options.savedFrames,
  });
  if (B === 1 && !splitFrames) {
    await run(whole);
    return { chunks: [whole], note: null, framesSplit: false };
  }
  const planOptions = (m: MeasuredOutputs, frames: boolean): BatchPlanOptions => ({
    ep: session.info.ep,
    ...m,
    modelBytes: options.modelBytes,
    inputBytesPerFrame: feed.data.byteLength / (B * T),
    splitFrames: frames,
    splitClips: options.splitClips ?? true,
    budgetBytes: budget,
    maxBufferBytes: session.device
      ? Math.min(
        session.device.limits.maxStorageBufferBindingSize,
        session.device.limits.maxBufferSize,
      )
      : undefined,
  });
  const notes: string[] = [];
  const done: BatchChunk[] = [];
  let measured: MeasuredOutputs;
  let plan: BatchPlan;
  const probeClips: [number, number] = options.splitClips === false ? [0, B] : [0, 1];
  const nProbe = probeClips[1] - probeClips[0];
  let probeOut: Record<string, OutputTensor> | null = null;
  if (splitFrames) {
    try {
      probeOut = await runRaw({ clips: probeClips, frames: [0, 1] });
    } catch (err) {
      // E.g. a model with a fixed time axis: frames cannot be split.
      splitFrames = false;
      notes.push(`frames cannot be split: ${(err as Error).message.split("\n")[0]}`);
    }
  }
  if (splitFrames && probeOut) {
    // Probe: frame 0 alone; kept to check frame independence on a pass with more frames.
    measured = measureOutputs(Object.values(probeOut), nProbe);
    const names = options.verify ?? Object.keys(probeOut);
    const alone = new Map<string, Float32Array>();
    try {
      for (const n of names) {
        const o = probeOut[n];
        if (o) {
          alone.set(
            n,
            (await o.download()).slice(0, o.dims.reduce((a, b) => a * b, 1) / nProbe),
          );
        }
      }
    } finally {
      for (const o of Object.values(probeOut)) o.dispose();
    }
    plan = planBatches(B, T, planOptions(measured, true));
    // Check on the first pass when it holds two frames of clip 0, else on a 2-frame run.
    const first = plan.chunks[0];
    const checkChunk: BatchChunk = first.frames[1] - first.frames[0] >= 2
      ? first
      : { clips: probeClips, frames: [0, 2] };
    const frames = (checkChunk.clips[1] - checkChunk.clips[0]) *
      (checkChunk.frames[1] - checkChunk.frames[0]);
    let outputs: Record<string, OutputTensor> | null = null;
    let mixed: string | null = null;
    try {
      outputs = await runRaw(checkChunk);
    } catch (err) {
      if (checkChunk === first) throw err;
      notes.push(`frame independence not checked (${(err as Error).message.split("\n")[0]})`);
    }
    for (const [n, want] of outputs ? alone : []) {
      const o = outputs![n];
      if (!o || o.dims[0] !== frames) {
        mixed = `${n} is not laid out per frame`;
        break;
      }
      const got = (await o.download()).subarray(0, want.length);
      let err = 0, scale = 1;
      for (let i = 0; i < want.length; i++) {
        err = Math.max(err, Math.abs(got[i] - want[i]));
        scale = Math.max(scale, Math.abs(want[i]));
      }
      if (!(err <= 1e-4 * scale)) {
        mixed = `${n} of frame 0 changes with the other frames in the batch (by ${
          err.toPrecision(2)
        })`;
        break;
      }
    }
    if (outputs && (mixed !== null || checkChunk !== first)) {
      for (const o of Object.values(outputs)) o.dispose();
      outputs = null;
    }
    if (mixed === null) {
      if (outputs) await options.onChunk(first, outputs);
      else await run(first);
      done.push(first);
      for (const c of plan.chunks.slice(1)) {
        await run(c);
        done.push(c);
      }
    } else {
      splitFrames = false;
      notes.push(`frames cannot be split: ${mixed}; splitting clips only`);
      plan = planBatches(B, T, planOptions(measured, false));
      for (const c of plan.chunks) {
        await run(c);
        done.push(c);
      }
    }
  } else if (options.splitClips === false) {
    // Neither frames nor clips can be split: one pass.
    await run(whole);
    return { chunks: [whole], note: notes.join("; ") || null, framesSplit: false };
  } else {
    // Probe: clip 0 (all frames), delivered as the first pass; the other clips are planned.
    const probe: BatchChunk = { clips: [0, 1], frames: [0, T] };
    const outputs = await runRaw(probe);
    measured = measureOutputs(Object.values(outputs), T);
    await options.onChunk(probe, outputs);
    done.push(probe);
    plan = planBatches(B, T, planOptions(measured, false));
    if (B > 1) {
      const rest = planBatches(B - 1, T, planOptions(measured, false));
      for (const c of rest.chunks) {
        const shifted: BatchChunk = { clips: [c.clips[0] + 1, c.clips[1] + 1], frames: c.frames };
        await run(shifted);
        done.push(shifted);
      }
    }
  }
  if (plan.note && !plan.split) notes.push(plan.note);
  if (plan.split) {
    notes.unshift(
      `memory: one forward pass over ${B}x${T} frames would need about ${
        formatBytes(plan.unsplitBytes)
      }; ran ${done.length} passes of at most about ${formatBytes(plan.estimatedBytes)}` +
        (splitFrames
          ? " (frames are independent in this 2D backbone)"
          : " (clips are independent)"),
    );
  }
  const note = notes.length ? notes.join("; ") : null;
  if (note) options.onInfo?.(note);
  return { chunks: done, note, framesSplit: splitFrames };
}

/** Options of {@linkcode checkSmallestPass}. */
export interface SmallestPassOptions {
  /** Name of the `(B, T, C, H, W)` (or `(B, C, H, W)`) input. */
  input: string;
  /** The smallest pass is one frame (a 2D backbone), else one clip. */
  splitFrames: boolean;
  /** The batch axis is dynamic (default true); else the smallest pass is the whole batch. */
  splitClips?: boolean;
  /** The memory budget in bytes (default 1 GiB); the ceiling is {@linkcode memoryCeiling} of it. */
  budgetBytes?: number;
  /** Model size in bytes. */
  modelBytes?: number;
  /** Frames kept in memory for saving (their taps are copied out of every pass). */
  savedFrames?: number;
}

/**
 * Per-frame output bytes of a pass over a `height` x `width` input, extrapolated from two tiny
 * passes (one frame, or one clip, at 32 and 64 pixels): each output's bytes as `a + c * h * w`.
 * Null when the model takes no other frame size (then its one size is the size it runs at).
 */
async function extrapolateOutputs(
  session: Pick<ModelSession, "info" | "device" | "run">,
  feeds: Record<string, FeedTensor>,
  options: { input: string; splitFrames: boolean },
): Promise<MeasuredOutputs | null> {
  const feed = feeds[options.input];
  const dims = feed.dims;
  const timeAxis = dims.length >= 5;
  const H = dims[dims.length - 2], W = dims[dims.length - 1];
  const sizes = [32, 64];
  const frames = timeAxis && !options.splitFrames ? dims[1] : 1;
  const bytes: Map<string, number>[] = [];
  for (const s of sizes) {
    const d = [1, ...(timeAxis ? [frames] : []), ...dims.slice(timeAxis ? 2 : 1, -2), s, s];
    let outputs: Record<string, OutputTensor>;
    try {
      outputs = await session.run({
        ...feeds,
        [options.input]: { data: new Float32Array(d.reduce((a, b) => a * b, 1)), dims: d },
      });
    } catch {
      return null;
    }
    const m = new Map<string, number>();
    for (const [name, o] of Object.entries(outputs)) {
      m.set(name, 4 * o.dims.reduce((a, b) => a * b, 1));
      o.dispose();
    }
    bytes.push(m);
  }
  let total = 0, largest = 0;
  for (const [name, b1] of bytes[0]) {
    const b2 = bytes[1].get(name) ?? b1;
    const c = Math.max(0, (b2 - b1) / (sizes[1] ** 2 - sizes[0] ** 2));
    const full = Math.max(b1, b2, b1 + c * (H * W - sizes[0] ** 2)) / frames;
    total += full;
    largest = Math.max(largest, full);
  }
  return { tapBytesPerFrame: total, largestTensorBytesPerFrame: largest };
}

/**
 * Refuse a batch whose smallest forward pass (one frame of a 2D backbone, one clip otherwise,
 * the whole batch when its batch axis is fixed), plus the whole input held meanwhile, would
 * exceed the memory ceiling ({@linkcode memoryCeiling}): estimated from two tiny passes before
 * any pass at full size runs. Returns the estimated bytes, or null when the model takes no
 * other frame size than the batch's (nothing to extrapolate).
 *
 * @example Usage
 * ```ts ignore
 * import { checkSmallestPass } from "./batch_plan.ts";
 * await checkSmallestPass(session, { frames: batch }, { input: "frames", splitFrames: true });
 * ```
 */
export async function checkSmallestPass(
  session: Pick<ModelSession, "info" | "device" | "run">,
  feeds: Record<string, FeedTensor>,
  options: SmallestPassOptions,
): Promise<number | null> {
  const feed = feeds[options.input];
  const dims = feed.dims;
  if (dims.length < 4 || dims[dims.length - 2] * dims[dims.length - 1] <= 64 * 64) return null;
  const m = await extrapolateOutputs(session, feeds, options);
  if (!m) return null;
  const timeAxis = dims.length >= 5;
  const B = dims[0], T = timeAxis ? dims[1] : 1;
  const budget = options.budgetBytes ?? GiB;
  const frames = options.splitClips === false
    ? (options.splitFrames ? B : B * T)
    : options.splitFrames
    ? 1
    : T;
  const pass = estimateForwardBytes(frames, {
    ep: session.info.ep,
    ...m,
    modelBytes: options.modelBytes,
    inputBytesPerFrame: feed.data.byteLength / (B * T),
  });
  // The saved frames of every tapped tensor stay in memory until the run is written.
  const saved = (options.savedFrames ?? 0) * m.tapBytesPerFrame;
  const need = pass + feed.data.byteLength + saved;
  if (need > memoryCeiling(budget)) {
    const unit = frames === 1
      ? "one frame"
      : options.splitClips === false
      ? `the whole batch (${B}x${T}; the model's batch axis is fixed)`
      : `one clip of ${T} frames`;
    throw new InspectorError(
      `the smallest forward pass (${unit} at ${dims[dims.length - 2]}x${
        dims[dims.length - 1]
      }) needs about ${formatBytes(pass)}, with the ${formatBytes(feed.data.byteLength)} ` +
        `input batch${saved ? ` and ${formatBytes(saved)} of saved frames` : ""} ` +
        `${formatBytes(need)}, over ${budgetLabel(budget)}: lower options.size ` +
        `(or options.batchSize/options.maxLen, fewer options.layers), or raise ` +
        `options.memoryBudgetMiB`,
    );
  }
  return need;
}

/**
 * Refuse a feature grid whose canvas (RGBA) and PNG buffers would not fit the memory ceiling
 * (`options.budgetBytes`, at least 256 MiB), before it is drawn.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkGridBudget } from "./batch_plan.ts";
 * checkGridBudget("layer1", [64, 56, 56], { channels: 16 }); // a few MB: fine
 * assert.throws(
 *   () => checkGridBudget("conv1", [64, 4096, 4096], { channels: 16, budgetBytes: 2 ** 30 }),
 *   /feature grid of conv1 \(16 tiles of 4096x4096\) needs about 2\.00 GiB/,
 * );
 * ```
 */
export function checkGridBudget(
  layer: string,
  shape: readonly [number, number, number],
  options: { channels: number; budgetBytes?: number },
): void {
  const g = featureGridLayout([...shape], { channels: options.channels });
  // The tiles' PNG pixels (maps upscaled by the layout's factor; margins and text are small), as
  // an RGBA canvas plus the PNG encoder's buffers.
  const tileW = shape[2] * g.factor, tileH = shape[1] * g.factor;
  const bytes = 2 * 4 * g.cols * tileW * g.rows * tileH;
  const ceiling = memoryCeiling(options.budgetBytes);
  if (bytes > ceiling) {
    throw new InspectorError(
      `the feature grid of ${layer} (${g.cols * g.rows} tiles of ${tileW}x${tileH}) ` +
        `needs about ${formatBytes(bytes)}, over the memory ceiling of ${formatBytes(ceiling)}: ` +
        `lower options.gridChannels (0 writes no grids) or options.size, or raise ` +
        `options.memoryBudgetMiB`,
    );
  }
}
