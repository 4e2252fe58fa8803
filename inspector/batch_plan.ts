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

import { InspectorError } from "./errors.ts";
import type { FeedTensor } from "./runtime.ts";

/** One forward pass: clips `[clips[0], clips[1])` and frames `[frames[0], frames[1])`. */
export interface BatchChunk {
  /** Clip range, end exclusive. */
  clips: [number, number];
  /** Frame range, end exclusive. */
  frames: [number, number];
}

/** What {@linkcode planBatches} needs to know. */
export interface BatchPlanOptions {
  /** Execution provider (sets the hard limits). */
  ep: "webgpu" | "wasm" | "cpu";
  /** Bytes of all tapped outputs for one frame (float32), e.g. from a first run. */
  tapBytesPerFrame: number;
  /** Bytes of the largest activation of one frame (tapped or not; the largest tapped one is a fair guess). */
  largestTensorBytesPerFrame: number;
  /** Bytes of the model (weights); counted twice for WASM, which copies the model into its heap. */
  modelBytes?: number;
  /** Bytes of one frame of input (e.g. `3*H*W*4`); default 0. */
  inputBytesPerFrame?: number;
  /** The model processes frames independently (2D per-frame backbone) and accepts any T. */
  splitFrames?: boolean;
  /** The model accepts a smaller batch (dynamic batch axis). Default true. */
  splitClips?: boolean;
  /** Memory to aim for per forward pass (default 1 GiB). */
  budgetBytes?: number;
  /** WASM heap limit (default 4 GiB). */
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
 * Estimated peak bytes of a forward pass over `frames` frames: weights, inputs, all tapped
 * outputs, and the working activations.
 *
 * @example Usage
 * ```ts
 * import { estimateForwardBytes } from "./batch_plan.ts";
 * const n = estimateForwardBytes(16, { ep: "cpu", tapBytesPerFrame: 1e6, largestTensorBytesPerFrame: 4e5 });
 * console.log(n); // 35200000
 * ```
 */
export function estimateForwardBytes(frames: number, options: BatchPlanOptions): number {
  const model = (options.modelBytes ?? 0) * (options.ep === "wasm" ? 2 : 1);
  const perFrame = options.tapBytesPerFrame + WORK_TENSORS * options.largestTensorBytesPerFrame +
    (options.inputBytesPerFrame ?? 0);
  return model + frames * perFrame;
}

function hardLimitFrames(options: BatchPlanOptions): { frames: number; what: string } {
  let frames = Infinity, what = "";
  if (options.ep === "wasm") {
    const heap = options.heapBytes ?? 4 * GiB;
    const model = (options.modelBytes ?? 0) * 2;
    const per = estimateForwardBytes(1, { ...options, modelBytes: 0 });
    frames = Math.floor((heap - model) / per);
    what = `WASM's ${formatBytes(heap)} heap`;
  }
  if (options.ep === "webgpu" && options.maxBufferBytes) {
    const f = Math.floor(options.maxBufferBytes / options.largestTensorBytesPerFrame);
    if (f < frames) {
      frames = f;
      what = `this GPU's ${formatBytes(options.maxBufferBytes)} buffer limit`;
    }
  }
  return { frames, what };
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
  const need = estimateForwardBytes(runFrames, options);
  if (runFrames > hard.frames) {
    const smallest = splitFrames
      ? (splitClips ? "one frame" : `one frame of ${batch} clips`)
      : splitClips
      ? `one clip of ${time} frames`
      : `the whole batch (${batch}x${time}; the model's batch axis is fixed)`;
    throw new InspectorError(
      `one forward pass needs about ${formatBytes(need)} for ${smallest}, more than ${hard.what}` +
        (splitFrames ? "" : " (this model's frames cannot be processed separately)") +
        `; use a smaller --size or --max_len, fewer --layers` +
        (options.ep === "cpu" ? "" : ", or --ep cpu"),
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
