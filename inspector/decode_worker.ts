/**
 * Web Worker that decodes, resizes and normalises frames for `loadClips` when `--workers` > 1.
 *
 * Protocol: the parent posts a {@linkcode DecodeRequest} with the frame's bytes (transferred);
 * the worker answers a {@linkcode DecodeResponse} carrying the `3 * size * size` float tensor
 * (its buffer transferred back) or the error's message. It runs exactly the code the main thread
 * runs with one worker ({@linkcode frameToTensor}), so the results are identical.
 *
 * Started as `new Worker(new URL("./decode_worker.ts", import.meta.url), { type: "module" })`.
 *
 * @module
 */

import { InspectorError } from "./errors.ts";
import { frameToTensor } from "./image_io.ts";

/** One frame to prepare. */
export interface DecodeRequest {
  /** Job id echoed in the response. */
  id: number;
  /** The file's bytes (transferred). */
  bytes: Uint8Array;
  /** File name for error messages. */
  name: string;
  /** Output width and height. */
  size: number;
  /** Per-channel mean. */
  mean: number[];
  /** Per-channel std. */
  std: number[];
}

/** The answer to a {@linkcode DecodeRequest}. */
export type DecodeResponse =
  | { id: number; ok: true; data: Float32Array }
  | { id: number; ok: false; message: string; inspector: boolean };

interface WorkerScope {
  onmessage: ((e: MessageEvent<DecodeRequest>) => void) | null;
  postMessage(message: DecodeResponse, transfer?: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;

scope.onmessage = (e: MessageEvent<DecodeRequest>): void => {
  const req = e.data;
  try {
    const data = frameToTensor(req.bytes, {
      name: req.name,
      size: req.size,
      mean: req.mean,
      std: req.std,
    });
    scope.postMessage({ id: req.id, ok: true, data }, [data.buffer as ArrayBuffer]);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    scope.postMessage({ id: req.id, ok: false, message, inspector: err instanceof InspectorError });
  }
};
