/**
 * Web Worker that reads, decodes, resizes and normalises a run of frames for `loadClips`.
 *
 * Protocol: the parent posts one {@linkcode DecodeRequest} naming consecutive frames (as
 * {@linkcode FrameLocator}s of any registered frame source); the worker reads them itself, writes each `3 * size * size` tensor into one Float32Array of its
 * own, and answers a single {@linkcode DecodeResponse} that transfers that buffer back (no copy),
 * or the first error's message. The worker needs nothing from the parent while it works, so a
 * parent thread blocked in a native call (onnxruntime building a session) does not stall it. It
 * runs exactly the code the main thread runs (`readFrameLocator`, {@linkcode imageToTensor}), so the results are
 * identical.
 *
 * Started as `new Worker(new URL("./decode_worker.ts", import.meta.url), { type: "module" })`.
 *
 * @module
 */

import { InspectorError } from "../core/errors.ts";
import { imageToTensor } from "./image_io.ts";
import { type FramePipeline, pipelineToTensor } from "./preprocess.ts";
import type { FrameLocator } from "./frame_source.ts";
import { readFrameLocator } from "./frame_source_kinds.ts";
import type { RgbaImage } from "../core/image.ts";

/** Frames read ahead together (one clip's worth for the usual `max_len`). */
const READ_AHEAD = 16;

/** A run of consecutive frames to prepare. */
export interface DecodeRequest {
  /** Frames, in the order their tensors follow each other in the answer. */
  frames: FrameLocator[];
  /** Output width and height. */
  size: number;
  /** Per-channel mean. */
  mean: number[];
  /** Per-channel std. */
  std: number[];
  /** The frame pipeline; absent: an exact square resize to `size`. */
  pipeline?: FramePipeline;
}

/** The answer to a {@linkcode DecodeRequest}: `frames.length * 3 * size * size` values. */
export type DecodeResponse =
  | { ok: true; data: Float32Array }
  | { ok: false; message: string; kind: "inspector" | "permission" | "memory" | "other" };

interface WorkerScope {
  onmessage: ((e: MessageEvent<DecodeRequest>) => void | Promise<void>) | null;
  postMessage(message: DecodeResponse, transfer?: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;

// Requests are decoded one after the other, and answered in the order they came (the caller
// matches the answers to its requests by that order; memory holds one request's frames).
let queue: Promise<void> = Promise.resolve();
scope.onmessage = (e: MessageEvent<DecodeRequest>): void => {
  queue = queue.then(() => decode(e.data));
};

async function decode(req: DecodeRequest): Promise<void> {
  try {
    const plane = req.pipeline
      ? 3 * req.pipeline.size.height * req.pipeline.size.width
      : 3 * req.size * req.size;
    const data = new Float32Array(req.frames.length * plane);
    // Asked for READ_AHEAD at a time: a video's frames decode in one ffmpeg run; memory holds
    // at most READ_AHEAD decoded frames. A failed read is rethrown when reached (others caught).
    let reads: Promise<RgbaImage>[] = [];
    for (let k = 0; k < req.frames.length; k++) {
      if (k % READ_AHEAD === 0) {
        reads = req.frames.slice(k, k + READ_AHEAD).map((f) => readFrameLocator(f));
        for (const r of reads) r.catch(() => {});
      }
      const image = await reads[k % READ_AHEAD];
      if (req.pipeline) {
        pipelineToTensor(image, req.pipeline, {
          mean: req.mean,
          std: req.std,
          out: data,
          offset: k * plane,
        });
        continue;
      }
      imageToTensor(image, {
        name: req.frames[k].path,
        size: req.size,
        mean: req.mean,
        std: req.std,
        out: data,
        offset: k * plane,
      });
    }
    scope.postMessage({ ok: true, data }, [data.buffer as ArrayBuffer]);
  } catch (err) {
    scope.postMessage({
      ok: false,
      message: err instanceof Error ? err.message : String(err),
      kind: err instanceof InspectorError
        ? "inspector"
        : err instanceof Deno.errors.NotCapable
        ? "permission"
        : err instanceof RangeError
        ? "memory"
        : "other",
    });
  }
}
