/**
 * Clip loading for `inspect`: a clips folder becomes one normalised `(B, T, 3, size, size)`
 * float32 batch plus the frame files and gaze points of every sampled frame.
 *
 * Each clip is read through a {@linkcode FrameSource} (`frame_source.ts`) of the kind that
 * claims it (`frame_source_kinds.ts`); today that is a folder of frame files.
 *
 * Clips folder format:
 * - one sub-folder per clip, taken in natural name order (`clip2` before `clip10`); the first
 *   `batchSize` clips form the batch. A folder without sub-folders that directly holds frames is
 *   one clip. Hidden entries (starting with `.`) are ignored;
 * - frames are `.png`, `.jpg` or `.jpeg` files (format detected from the bytes), in natural name
 *   order (`frame_2` before `frame_10`);
 * - an optional `gaze.csv` per clip: a header row naming the columns `frame,x,y` (other columns
 *   are ignored), then one row per gaze sample, `frame` being the 0-based index into the clip's
 *   sorted frame files and `x, y` in [0, 1] (fractions of width and height); several rows per
 *   frame are allowed.
 *
 * Sampling: a clip with `n >= T` frames contributes frames `floor(i * n / T)` for
 * `i = 0..T-1` (evenly spaced over the whole clip, TSN-style; all frames in order when `n = T`).
 * A clip with fewer than `T` frames is an error.
 *
 * Gaze: each sampled frame gets the rows of its own frame index; all of them with `denseGaze`,
 * else the dataset's `gaze_per_frame` rows evenly picked (`floor(j * m / k)` of the `m` rows),
 * or all `m` when `m <= k`. No `gaze.csv`: no gaze points.
 *
 * @module
 */

import { basename, join, resolve } from "node:path";
import { InspectorError } from "../core/errors.ts";
import type { RgbaImage } from "../core/image.ts";
import { statRegularFile } from "../core/regular_file.ts";
import { type DatasetInfo, resolveDataset } from "./datasets.ts";
import { imageToTensor } from "./image_io.ts";
import { type FramePipeline, pipelineToTensor } from "./preprocess.ts";
import type { DecodeRequest, DecodeResponse } from "./decode_worker.ts";
import { startWorker } from "./web_worker.ts";
import type { FrameLocator, FrameSource } from "./frame_source.ts";
import { isClipEntry, openFrameSource, readFrameLocator } from "./frame_source_kinds.ts";
import { entryKind, FRAME_EXT } from "./_frame_folder.ts";
import { VIDEO_EXT } from "./_video_file.ts";
import { naturalCompare } from "./natural_order.ts";
import { checkInputBudget } from "./batch_plan.ts";

export { listFrames } from "./_frame_folder.ts";
export { naturalCompare } from "./natural_order.ts";

/** A gaze point in frame coordinates: fractions of the width (`x`) and height (`y`). */
export interface GazePoint {
  /** Horizontal position in [0, 1], 0 = left edge. */
  x: number;
  /** Vertical position in [0, 1], 0 = top edge. */
  y: number;
}

/** One row of a `gaze.csv`. */
export interface GazeRow extends GazePoint {
  /** 0-based index into the clip's sorted frame files. */
  frame: number;
  /** 1-based line number in the file. */
  line: number;
}

/** One loaded clip of the batch. */
export interface LoadedClip {
  /** Clip id: the clip folder's name. */
  id: string;
  /** The clip folder. */
  dir: string;
  /** Names (relative to `dir`) of the `T` sampled frames, in batch order. */
  frameFiles: string[];
  /** Index of each sampled frame among all of the clip's sorted frames. */
  frameIndices: number[];
  /** How many frames the clip holds in all. */
  frameCount: number;
  /** Frames per second of a video clip (absent for frame folders). */
  fps?: number;
  /** Duration in seconds of a video clip (absent for frame folders). */
  duration?: number;
  /** Gaze points of each sampled frame (empty lists when the clip has no `gaze.csv`). */
  gaze: GazePoint[][];
  /** Where each sampled frame is read from (plain data, for the decode workers). */
  frames: FrameLocator[];
}

/** A loaded batch. */
export interface ClipBatch {
  /** `(B, T, 3, size, size)` float32 values, C order, normalised with the dataset mean/std. */
  data: Float32Array;
  /** `[B, T, 3, H, W]`. */
  shape: [number, number, number, number, number];
  /** The frame pipeline, when one was given. */
  pipeline?: FramePipeline;
  /** The clips in batch order. */
  clips: LoadedClip[];
  /** The dataset the clips came from. */
  dataset: DatasetInfo;
}

/** Options of {@linkcode loadClips}. */
export interface LoadClipsOptions {
  /** Clips per batch (default 2). */
  batchSize?: number;
  /** Frames per clip, T (default 8). */
  maxLen?: number;
  /** Index of the batch's first clip in the folder's clip order (default 0). */
  firstClip?: number;
  /**
   * Sample T frames at this rate from the start (frame `floor(i * clipFps / fps)`) instead of
   * evenly over the clip; video clips only.
   */
  fps?: number;
  /** Frame width and height after resizing (default 512); `pipeline.size` wins when given. */
  size?: number;
  /**
   * The frame pipeline (non-square size, aspect-preserving resize + centre crop, channel order,
   * value range); absent: an exact square resize to `size`, RGB, 0..1.
   */
  pipeline?: FramePipeline;
  /** Frame-decoding Web Workers; 1 decodes on the calling thread (default 1). */
  workers?: number;
  /**
   * Decode on worker threads even with one worker (default false). The workers read and decode
   * their frames on their own, so the calling thread is free meanwhile: `inspect` builds its
   * onnxruntime session while the frames are decoded.
   */
  offThread?: boolean;
  /**
   * Started workers to decode on (see {@linkcode startDecodeWorkers}); they are used instead of
   * new ones and stay alive for their owner to dispose. Implies `offThread` (when none could be
   * started, for want of read access to their module, the calling thread decodes).
   */
  decoders?: DecodeWorkers;
  /** Keep every gaze row of a frame instead of the dataset's `gaze_per_frame` (default false). */
  denseGaze?: boolean;
  /** Folder of named datasets, instead of the `FEATURE_INSPECTOR_DATA` environment variable. */
  dataRoot?: string;
  /**
   * Memory budget in bytes: {@linkcode planClips} refuses a batch whose decoding (the batch and
   * the decode buffers, `checkInputBudget` in `batch_plan.ts`) would need more than the budget's
   * ceiling, before anything is decoded. Default: not checked.
   */
  budgetBytes?: number;
}

/**
 * Load the first `batchSize` clips of a clips folder (or dataset name) as one normalised batch.
 *
 * @example Usage
 * ```ts
 * import { loadClips } from "./clips.ts";
 * const batch = await loadClips("fixture", { batchSize: 2, maxLen: 8, size: 112 });
 * console.log(batch.shape, batch.clips.map((c) => c.id), batch.clips[0].gaze[0]);
 * ```
 */
export async function loadClips(
  dset: string | DatasetInfo | undefined,
  options: LoadClipsOptions = {},
): Promise<ClipBatch> {
  return await decodeClips(await planClips(dset, options), options);
}

/** Which frames of which clips a batch holds, before any frame is decoded. */
export interface ClipPlan {
  /** `[B, T, 3, H, W]`. */
  shape: [number, number, number, number, number];
  /** The frame pipeline, when one was given. */
  pipeline?: FramePipeline;
  /** The clips in batch order (frame files, indices and gaze chosen). */
  clips: LoadedClip[];
  /** The dataset the clips came from. */
  dataset: DatasetInfo;
}

/**
 * The first half of {@linkcode loadClips}: find the clips, sample their frames and read their
 * gaze, with the same checks and errors, without decoding anything.
 *
 * @example Usage
 * ```ts
 * import { decodeClips, planClips } from "./clips.ts";
 * const plan = await planClips("fixture", { batchSize: 1, maxLen: 4, size: 32 });
 * console.log(plan.shape, plan.clips[0].frameIndices); // [1, 4, 3, 32, 32] [0, 2, 4, 6]
 * const batch = await decodeClips(plan, { offThread: true });
 * console.log(batch.data.length); // 12288
 * ```
 */
export async function planClips(
  dset: string | DatasetInfo | undefined,
  options: LoadClipsOptions = {},
): Promise<ClipPlan> {
  const batchSize = positiveInt(options.batchSize ?? 2, "options.batchSize");
  const maxLen = positiveInt(options.maxLen ?? 8, "options.maxLen");
  const size = positiveInt(options.size ?? 512, "options.size");
  const pipeline = options.pipeline;
  const height = pipeline ? positiveInt(pipeline.size.height, "options.size") : size;
  const width = pipeline ? positiveInt(pipeline.size.width, "options.size") : size;
  positiveInt(options.workers ?? 1, "options.workers"); // checked before any work
  const dataset = typeof dset === "object" && dset !== null
    ? dset
    : await resolveDataset(dset, { dataRoot: options.dataRoot });

  const all = await listClips(dataset.dir);
  if (all.length < batchSize) {
    throw new InspectorError(
      `${dataset.dir} holds ${all.length} clip${all.length === 1 ? "" : "s"}` +
        ` (${all.map((c) => c.id).join(", ")}), fewer than options.batchSize ${batchSize}: ` +
        `pass options.batchSize ${all.length} or add clips`,
    );
  }
  const first = options.firstClip ?? 0;
  if (!Number.isInteger(first) || first < 0 || first + batchSize > all.length) {
    throw new InspectorError(
      `options.firstClip ${first} with options.batchSize ${batchSize} passes the last of the ` +
        `${all.length} clips in ${dataset.dir}: lower options.firstClip or options.batchSize`,
    );
  }
  const chosen = all.slice(first, first + batchSize);
  if (options.budgetBytes !== undefined) {
    checkInputBudget([batchSize, maxLen, 3, height, width], {
      budgetBytes: options.budgetBytes,
      workers: options.workers ?? 1,
    });
  }

  const sources: FrameSource[] = [];
  for (const clip of chosen) sources.push(await openFrameSource(clip));
  const counts = sources.map((f) => f.count);
  const fewest = Math.min(...counts);
  if (fewest < maxLen) {
    const short = chosen.filter((_, i) => counts[i] < maxLen);
    const worst = chosen[counts.indexOf(fewest)];
    const others = short.length > 1 ? ` (${short.length} of the ${batchSize} clips are short)` : "";
    throw new InspectorError(
      `clip ${worst.id} has ${fewest} frame${fewest === 1 ? "" : "s"}, fewer than options.maxLen ` +
        `${maxLen}${others}: pass options.maxLen ${fewest} or use longer clips`,
    );
  }

  const clips: LoadedClip[] = [];
  for (let b = 0; b < chosen.length; b++) {
    const source = sources[b];
    const indices = options.fps === undefined
      ? sampleIndices(source.count, maxLen)
      : sampleAtFps(source, maxLen, options.fps);
    const rows = await readGaze(source.gazeFile, source.count, source.fps);
    const gaze = indices.map((idx) =>
      selectGaze(rows, idx, { perFrame: dataset.gazePerFrame, dense: options.denseGaze ?? false })
    );
    clips.push({
      id: source.id,
      dir: source.location,
      frameFiles: indices.map((i) => source.label(i)),
      frameIndices: indices,
      frameCount: source.count,
      ...(source.fps !== undefined ? { fps: source.fps } : {}),
      ...(source.duration !== undefined ? { duration: source.duration } : {}),
      gaze,
      frames: indices.map((i) => source.ref(i)),
    });
  }

  return { shape: [batchSize, maxLen, 3, height, width], clips, dataset, pipeline };
}

/**
 * The second half of {@linkcode loadClips}: decode a plan's frames into one normalised batch, on
 * the calling thread or on workers (`workers`, `offThread`, `decoders`). Started workers get
 * their requests before this returns its promise, so they decode while the caller goes on.
 *
 * @example Usage
 * ```ts
 * import { decodeClips, planClips } from "./clips.ts";
 * const plan = await planClips("fixture", { batchSize: 1, maxLen: 2, size: 16 });
 * const batch = await decodeClips(plan);
 * console.log(batch.shape, batch.data.length); // [1, 2, 3, 16, 16] 1536
 * ```
 */
export async function decodeClips(
  plan: ClipPlan,
  options: Pick<LoadClipsOptions, "workers" | "offThread" | "decoders"> = {},
): Promise<ClipBatch> {
  const { clips, dataset } = plan;
  const [batchSize, maxLen, , height, width] = plan.shape;
  const workers = positiveInt(options.workers ?? 1, "options.workers");
  const plane = 3 * height * width;
  const total = batchSize * maxLen * plane;
  const tooBig = (err: unknown) =>
    new InspectorError(
      `the batch (${batchSize}x${maxLen}x3x${height}x${width} float32 = ` +
        `${(total * 4 / 2 ** 30).toFixed(1)} GiB) does not fit in memory: lower options.size, ` +
        `options.maxLen or options.batchSize`,
      { cause: err },
    );
  const frames = clips.flatMap((clip) => clip.frames);
  const prep = { size: height, mean: dataset.mean, std: dataset.std, pipeline: plan.pipeline };
  let data: Float32Array;
  // Workers: the given ones, or this call's own (none without read access to their module).
  using own = options.decoders || (workers <= 1 && !options.offThread)
    ? null
    : startDecodeWorkers(Math.min(workers, frames.length));
  const decoders = options.decoders ?? own;
  if (!decoders || decoders.count === 0) {
    let reads: Promise<Settled>[] = [];
    try {
      data = new Float32Array(total);
    } catch (err) {
      throw tooBig(err);
    }
    for (let k = 0; k < frames.length; k++) {
      // One clip's reads are asked for together: a video decodes them in one ffmpeg run.
      if (k % maxLen === 0) reads = frames.slice(k, k + maxLen).map(readSettled);
      const image = await unsettle(reads[k % maxLen]);
      if (prep.pipeline) {
        pipelineToTensor(image, prep.pipeline, { ...prep, out: data, offset: k * plane });
      } else {
        imageToTensor(image, { ...prep, name: frames[k].path, out: data, offset: k * plane });
      }
    }
  } else {
    data = await decodeInWorkers(frames, decoders, prep).catch((err) => {
      throw err instanceof RangeError ? tooBig(err) : err;
    });
  }
  return {
    data,
    shape: [batchSize, maxLen, 3, height, width],
    clips,
    dataset,
    pipeline: plan.pipeline,
  };
}

/**
 * The `t` frame indices of a clip sampled at `fps` frames per second from its start:
 * `floor(i * clipFps / fps)` for `i < t`. Throws when the clip has no frame rate (a frame folder)
 * or is too short.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { sampleAtFps } from "./clips.ts";
 * assert.deepEqual(sampleAtFps({ id: "a.mp4", count: 300, fps: 30 }, 4, 4), [0, 7, 15, 22]);
 * ```
 */
export function sampleAtFps(
  source: { id: string; count: number; fps?: number },
  t: number,
  fps: number,
): number[] {
  if (!(fps > 0) || !Number.isFinite(fps)) {
    throw new InspectorError(`options.fps ${fps}: pass a positive number of frames per second`);
  }
  if (source.fps === undefined || !(source.fps > 0)) {
    throw new InspectorError(
      `clip ${source.id} has no frame rate (a frame folder): options.fps works on video clips; ` +
        `drop options.fps to sample evenly with options.maxLen`,
    );
  }
  const srcFps = source.fps;
  const indices = Array.from({ length: t }, (_, i) => Math.floor((i * srcFps) / fps + 1e-9));
  if (indices[t - 1] >= source.count) {
    throw new InspectorError(
      `clip ${source.id} has ${source.count} frames (${(source.count / srcFps).toFixed(3)} s), ` +
        `too short for options.maxLen ${t} at options.fps ${fps}: raise options.fps or lower ` +
        `options.maxLen`,
    );
  }
  return indices;
}

type Settled = { image: RgbaImage } | { error: unknown };

/** Read a frame, never rejecting (so reads started ahead leave no unhandled rejection). */
function readSettled(ref: FrameLocator): Promise<Settled> {
  return readFrameLocator(ref).then((image) => ({ image }), (error) => ({ error }));
}

async function unsettle(p: Promise<Settled>): Promise<RgbaImage> {
  const r = await p;
  if ("error" in r) throw r.error;
  return r.image;
}

/**
 * The `t` frame indices sampled from a clip of `n` frames: `floor(i * n / t)` for `i < t`,
 * evenly spaced over the whole clip (TSN-style segments, first frame of each). Needs `n >= t`.
 *
 * @example Usage
 * ```ts
 * import { sampleIndices } from "./clips.ts";
 * console.log(sampleIndices(10, 4)); // [0, 2, 5, 7]
 * ```
 */
export function sampleIndices(n: number, t: number): number[] {
  if (!(Number.isInteger(n) && Number.isInteger(t) && t > 0 && n >= t)) {
    throw new RangeError(`sampleIndices: need integers n >= t > 0, got n=${n}, t=${t}`);
  }
  return Array.from({ length: t }, (_, i) => Math.floor((i * n) / t));
}

/**
 * The clips of a clips folder in natural order: its sub-folders, or the folder itself when it
 * has no sub-folders but directly holds frames. Throws when it holds neither.
 *
 * @example Usage
 * ```ts
 * import { listClips } from "./clips.ts";
 * for (const c of await listClips("fixtures/clips")) console.log(c.id, c.dir);
 * ```
 */
export async function listClips(dir: string): Promise<{ id: string; dir: string }[]> {
  if (VIDEO_EXT.test(dir) && (await Deno.stat(dir).catch(() => null))?.isFile) {
    return [{ id: basename(dir), dir }]; // a video file is one clip
  }
  const subdirs: string[] = [];
  let frames = 0;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.name.startsWith(".")) continue;
      const kind = await entryKind(dir, e);
      if (kind !== null && isClipEntry({ name: e.name, isDirectory: kind === "dir" })) {
        subdirs.push(e.name);
      } else if (kind === "file" && FRAME_EXT.test(e.name)) frames++;
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new InspectorError(
        `clips folder ${resolve(dir)} does not exist: pass options.dset with a folder`,
      );
    }
    if (err instanceof Deno.errors.NotCapable) throw err;
    throw new InspectorError(`cannot read clips folder ${dir}: ${firstLine(err)}`, { cause: err });
  }
  if (subdirs.length > 0) {
    return subdirs.sort(naturalCompare).map((name) => ({ id: name, dir: join(dir, name) }));
  }
  if (frames > 0) return [{ id: basename(dir.replace(/[\\/]+$/, "")) || dir, dir }];
  throw new InspectorError(
    `clips folder ${dir} is empty: it holds no clip sub-folders and no frames; put one ` +
      `folder of .png/.jpg frames or one video file (.mp4/.webm/.avi/.mkv) per clip in it`,
  );
}

/** Options of {@linkcode parseGazeCsv}. */
export interface ParseGazeOptions {
  /** File name for error messages. */
  name?: string;
  /** Number of frames of the clip: rows with `frame >= frameCount` are errors. */
  frameCount?: number;
  /**
   * Frames per second of the clip (a video): a `t_ms,x,y` header is then allowed, each row going
   * to frame `floor(t_ms * fps / 1000)` (the frame shown at that time).
   */
  fps?: number;
}

/**
 * Parse a `gaze.csv` (`frame,x,y` header, then rows). A first line that is all numbers is taken
 * as data in the order `frame,x,y`. Blank lines are skipped; a malformed row is an
 * {@linkcode InspectorError} naming the file and line.
 *
 * @example Usage
 * ```ts
 * import { parseGazeCsv } from "./clips.ts";
 * const rows = parseGazeCsv("frame,x,y\n0,0.5,0.25\n0,0.6,0.3\n", { name: "gaze.csv" });
 * console.log(rows.length, rows[1]); // 2 { frame: 0, x: 0.6, y: 0.3, line: 3 }
 * ```
 */
export function parseGazeCsv(text: string, options: ParseGazeOptions = {}): GazeRow[] {
  const name = options.name ?? "gaze.csv";
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  let cols = [0, 1, 2];
  let msPerFrame = 0; // > 0: the first column is t_ms, not frame
  let first = true;
  const rows: GazeRow[] = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === "") continue;
    const fields = raw.split(",").map((f) => f.trim());
    const where = `${name}:${i + 1}`;
    if (first) {
      first = false;
      if (!fields.every((f) => f !== "" && Number.isFinite(Number(f)))) {
        const lower = fields.map((f) => f.toLowerCase().replace(/^"|"$/g, ""));
        cols = ["frame", "x", "y"].map((c) => lower.indexOf(c));
        if (cols[0] < 0 && lower.includes("t_ms") && options.fps !== undefined) {
          cols[0] = lower.indexOf("t_ms");
          msPerFrame = 1000 / options.fps;
        }
        if (cols.some((c) => c < 0)) {
          throw new InspectorError(
            `${where}: the header must name the columns frame,x,y (found "${raw}"); ` +
              `write "frame,x,y" as the first line`,
          );
        }
        continue;
      }
    }
    const need = Math.max(...cols) + 1;
    if (fields.length < need) {
      throw new InspectorError(
        `${where}: expected frame,x,y but found ${fields.length} field` +
          `${fields.length === 1 ? "" : "s"} ("${raw}"); fix or remove the row`,
      );
    }
    const [fs, xs, ys] = cols.map((c) => fields[c]);
    const t = Number(fs), x = Number(xs), y = Number(ys);
    if (msPerFrame > 0 && (fs === "" || !Number.isFinite(t) || t < 0)) {
      throw new InspectorError(
        `${where}: t_ms "${fs}" is not a non-negative time in milliseconds; fix or remove the row`,
      );
    }
    const frame = msPerFrame > 0 ? Math.floor(t / msPerFrame + 1e-9) : t;
    if (fs === "" || !Number.isInteger(frame) || frame < 0) {
      throw new InspectorError(
        `${where}: frame "${fs}" is not a non-negative integer frame index; fix or remove the row`,
      );
    }
    if (options.frameCount !== undefined && frame >= options.frameCount) {
      throw new InspectorError(
        `${where}: frame ${frame} is out of range: the clip has ${options.frameCount} frames ` +
          `(0..${options.frameCount - 1}); fix or remove the row`,
      );
    }
    for (const [label, s, v] of [["x", xs, x], ["y", ys, y]] as const) {
      if (s === "" || !Number.isFinite(v) || v < 0 || v > 1) {
        throw new InspectorError(
          `${where}: ${label} "${s}" is not a number in [0, 1] (gaze is given as fractions of ` +
            `the frame's width and height); fix or remove the row`,
        );
      }
    }
    rows.push({ frame, x, y, line: i + 1 });
  }
  return rows;
}

/** Options of {@linkcode selectGaze}. */
export interface SelectGazeOptions {
  /** Points to keep per frame (the dataset's gaze rate), default 1. */
  perFrame?: number;
  /** Keep every point (`--dense_gaze`). */
  dense?: boolean;
}

/**
 * The gaze points of one frame: every row of that frame when `dense`, else `perFrame` of its
 * `m` rows evenly picked (`floor(j * m / perFrame)`), or all of them when `m <= perFrame`.
 *
 * @example Usage
 * ```ts
 * import { selectGaze } from "./clips.ts";
 * const rows = [0.1, 0.2, 0.3, 0.4].map((x, i) => ({ frame: 3, x, y: 0.5, line: i + 2 }));
 * console.log(selectGaze(rows, 3, { perFrame: 2 })); // [{x: 0.1, y: 0.5}, {x: 0.3, y: 0.5}]
 * ```
 */
export function selectGaze(
  rows: readonly GazeRow[],
  frame: number,
  options: SelectGazeOptions = {},
): GazePoint[] {
  const mine = rows.filter((r) => r.frame === frame);
  const k = options.perFrame ?? 1;
  const pick = options.dense || mine.length <= k
    ? mine
    : Array.from({ length: k }, (_, j) => mine[Math.floor((j * mine.length) / k)]);
  return pick.map((r) => ({ x: r.x, y: r.y }));
}

async function readGaze(
  path: string | null,
  frameCount: number,
  fps?: number,
): Promise<GazeRow[]> {
  if (path === null) return [];
  let text: string;
  try {
    // A FIFO would block the read.
    await statRegularFile(path, "gaze.csv must be a CSV file; replace it or remove it");
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    if (err instanceof Deno.errors.NotCapable || err instanceof InspectorError) throw err;
    throw new InspectorError(`cannot read ${path}: ${firstLine(err)}`, { cause: err });
  }
  return parseGazeCsv(text, { name: path, frameCount, fps });
}

let liveWorkers = 0;

/**
 * How many frame-decoding workers are alive right now: 0 whenever no `loadClips` call is running
 * and no {@linkcode startDecodeWorkers} handle is undisposed (a call's own workers are terminated
 * after its batch, also when decoding fails).
 *
 * @example Usage
 * ```ts
 * import { liveDecodeWorkers } from "./clips.ts";
 * console.log(liveDecodeWorkers()); // 0
 * ```
 */
export function liveDecodeWorkers(): number {
  return liveWorkers;
}

/** Frame-decoding workers started ahead of a {@linkcode loadClips} call. */
export interface DecodeWorkers extends Disposable {
  /** How many workers there are. */
  readonly count: number;
}

const poolOf = new WeakMap<DecodeWorkers, Worker[]>();

function spawnDecodeWorker(): Worker | null {
  const w = startWorker(new URL("./decode_worker.ts", import.meta.url));
  if (w) liveWorkers++;
  return w;
}

/**
 * Start `count` frame-decoding workers now, so that their start-up (loading the image codecs,
 * tens of milliseconds) overlaps other work, e.g. reading the model; pass them to
 * {@linkcode loadClips} as `decoders`. Dispose of them when done (`using`).
 *
 * @example Usage
 * ```ts
 * import { liveDecodeWorkers, loadClips, startDecodeWorkers } from "./clips.ts";
 * {
 *   using decoders = startDecodeWorkers(1);
 *   const batch = await loadClips("fixture", { batchSize: 1, maxLen: 2, size: 32, decoders });
 *   console.log(batch.shape); // [1, 2, 3, 32, 32]
 * }
 * console.log(liveDecodeWorkers()); // 0
 * ```
 */
export function startDecodeWorkers(count = 1): DecodeWorkers {
  positiveInt(count, "decode workers");
  const pool = Array.from({ length: count }, spawnDecodeWorker).filter((w) => w !== null);
  let live = true;
  const handle: DecodeWorkers = {
    count: pool.length,
    [Symbol.dispose]() {
      if (!live) return;
      live = false;
      poolOf.delete(handle);
      for (const w of pool) {
        w.terminate();
        liveWorkers--;
      }
    },
  };
  poolOf.set(handle, pool);
  return handle;
}

/**
 * Decode `frames` on the started `decoders`, each given one contiguous run of frames that it
 * reads and decodes on its own (see `decode_worker.ts`). One worker's buffer is the batch itself
 * (transferred, not copied); several are joined into one.
 */
async function decodeInWorkers(
  frames: FrameLocator[],
  decoders: DecodeWorkers,
  options: { size: number; mean: number[]; std: number[]; pipeline?: FramePipeline },
): Promise<Float32Array> {
  const pool = poolOf.get(decoders);
  if (!pool) throw new TypeError("decoders: disposed already, or not from startDecodeWorkers");
  const n = Math.min(pool.length, frames.length);
  const runs = Array.from(
    { length: n },
    (_, w) =>
      frames.slice(Math.floor((w * frames.length) / n), Math.floor(((w + 1) * frames.length) / n)),
  );
  const parts = await Promise.all(runs.map((run, i) =>
    ask(pool[i], {
      frames: run,
      size: options.size,
      pipeline: options.pipeline,
      mean: [...options.mean],
      std: [...options.std],
    })
  ));
  if (parts.length === 1) return parts[0];
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A request a worker has not answered yet. */
interface Asked {
  resolve: (data: Float32Array) => void;
  reject: (err: Error) => void;
  first: string;
}

/** Per worker, its unanswered requests in the order they were posted (it answers in order). */
const asked = new WeakMap<Worker, Asked[]>();

function ask(worker: Worker, req: DecodeRequest): Promise<Float32Array> {
  let queue = asked.get(worker);
  if (!queue) {
    const q: Asked[] = queue = [];
    asked.set(worker, q);
    worker.onmessage = (e: MessageEvent<DecodeResponse>) => {
      const p = q.shift();
      if (!p) return;
      const res = e.data;
      if (res.ok) p.resolve(res.data);
      else if (res.kind === "permission") p.reject(new Deno.errors.NotCapable(res.message));
      else if (res.kind === "inspector") p.reject(new InspectorError(res.message));
      else if (res.kind === "memory") p.reject(new RangeError(res.message));
      else p.reject(new Error(res.message));
    };
    worker.onmessageerror = () => q.shift()?.reject(new Error(`decode worker: unreadable reply`));
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      // A worker that failed answers none of what it holds.
      for (const p of q.splice(0)) {
        p.reject(new Error(`decode worker failed on ${p.first}: ${e.message}`));
      }
    };
  }
  const q = queue;
  return new Promise((resolve, reject) => {
    q.push({ resolve, reject, first: req.frames[0].path });
    worker.postMessage(req);
  });
}

function positiveInt(v: number, flag: string): number {
  if (!Number.isInteger(v) || v < 1) {
    throw new InspectorError(`${flag} must be a positive integer, got ${v}`);
  }
  return v;
}

function firstLine(err: unknown): string {
  return err instanceof Error ? err.message.split("\n")[0] : String(err);
}
