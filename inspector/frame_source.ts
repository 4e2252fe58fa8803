/**
 * {@linkcode FrameSource}: one clip's frames, whatever holds them (a folder of image files
 * today; a video file next). The clip loader (`clips.ts`) and the decode workers
 * (`decode_worker.ts`) see clips only through this interface; the kinds of source are listed
 * in `frame_source_kinds.ts`.
 *
 * Adding an input format: one file implementing {@linkcode FrameSourceKind} (see
 * `_frame_folder.ts`) and its line in `frame_source_kinds.ts`.
 *
 * @module
 */

import type { RgbaImage } from "../core/image.ts";

/**
 * Where one frame is, as plain data that a decode worker can be sent and read on its own.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import type { FrameLocator } from "./frame_source.ts";
 * const ref: FrameLocator = { kind: "frames", path: "clips/c1/frame_1.png", index: 0 };
 * assert.equal(structuredClone(ref).path, ref.path);
 * ```
 */
export interface FrameLocator {
  /** The source kind that reads it ({@linkcode FrameSourceKind.kind}). */
  kind: string;
  /** The file to read (the frame's image file, or the video file). */
  path: string;
  /** Index of the frame inside `path` (0 for an image file). */
  index: number;
}

/** One clip's frames. */
export interface FrameSource {
  /** The source kind ({@linkcode FrameSourceKind.kind}). */
  readonly kind: string;
  /** Clip id (the folder's or file's name). */
  readonly id: string;
  /** Where the clip is (its folder or file), as recorded in the manifest. */
  readonly location: string;
  /** Frames in the clip. */
  readonly count: number;
  /** The gaze CSV that goes with the clip (it may not exist), or null. */
  readonly gazeFile: string | null;
  /** Frames per second, when the source knows it (a video); absent for frame folders. */
  readonly fps?: number;
  /** Duration in seconds, when the source knows it (a video). */
  readonly duration?: number;
  /** Name of frame `i` for the manifest (a file name relative to `location`). */
  label(i: number): string;
  /** Frame `i` as plain data for a decode worker. */
  ref(i: number): FrameLocator;
  /** Read and decode frame `i`. */
  read(i: number): Promise<RgbaImage>;
}

/** A kind of frame source: which clips it opens and how it reads a frame anywhere. */
export interface FrameSourceKind {
  /** Its name, in every {@linkcode FrameLocator} it makes. */
  readonly kind: string;
  /** Whether an entry of a clips folder is a clip of this kind. */
  claims(entry: { name: string; isDirectory: boolean }): boolean;
  /** Open one clip; throws a one-line `InspectorError` when it holds no frames. */
  open(clip: { id: string; dir: string }): Promise<FrameSource>;
  /** Read and decode one frame (on any thread: decode workers call this too). */
  read(ref: FrameLocator): Promise<RgbaImage>;
}
