/**
 * The decoder section of `deno task bench`: frames per second of the video frame source
 * (`inspector/_video_file.ts`, the system ffmpeg) on the real clip in `../shared`, for the two
 * ways `inspect` asks for frames: `max_len` frames sampled evenly (one ffmpeg run) and every
 * frame of the clip (one run, streamed).
 *
 * @module
 */

import { join } from "node:path";
import { decodeVideoFrame, probeVideo } from "../inspector/_video_file.ts";
import { timeIt } from "./_timing.ts";

/** One row: how many frames were asked for, and how fast they came. */
export interface DecodeBenchRow {
  /** What was decoded. */
  what: string;
  /** Frames returned per call. */
  frames: number;
  /** Mean seconds per call (ffmpeg start-up included). */
  seconds: number;
  /** Frames returned per second. */
  framesPerSecond: number;
}

/** The decoder section: the clip measured and its rows; `skipped` says why there are none. */
export interface DecodeBenchReport {
  /** The video measured. */
  video: string;
  /** Its size and length. */
  info?: { width: number; height: number; frameCount: number; fps: number };
  /** The rows. */
  rows: DecodeBenchRow[];
  /** Why nothing was measured (no clip, no ffmpeg). */
  skipped?: string;
}

/** Where the real clip lies, beside the project. */
export const BENCH_VIDEO: string = join(
  new URL("..", import.meta.url).pathname,
  "..",
  "shared",
  "real",
  "clips",
  "mmaction2",
  "test.mp4",
);

/**
 * Time the video decoder on `video` (default {@linkcode BENCH_VIDEO}).
 *
 * @example Usage
 * ```ts ignore
 * import { benchDecode } from "./decode_bench.ts";
 * const r = await benchDecode({ minSeconds: 0.5 });
 * console.log(r.rows.map((x) => x.framesPerSecond));
 * ```
 */
export async function benchDecode(
  options: { video?: string; sampled?: number; minSeconds?: number } = {},
): Promise<DecodeBenchReport> {
  const video = options.video ?? BENCH_VIDEO;
  const minSeconds = options.minSeconds ?? 1;
  let info;
  try {
    info = await probeVideo(video);
  } catch (err) {
    return { video, rows: [], skipped: err instanceof Error ? err.message : String(err) };
  }
  const n = info.frameCount;
  const t = Math.min(options.sampled ?? 8, n);
  const sampled = Array.from({ length: t }, (_, i) => Math.floor((i * n) / t));
  const all = Array.from({ length: n }, (_, i) => i);
  const rows: DecodeBenchRow[] = [];
  for (
    const [what, indices] of [[`${t} frames sampled evenly`, sampled], [
      "every frame",
      all,
    ]] as const
  ) {
    const seconds = await timeIt(
      () => Promise.all(indices.map((i) => decodeVideoFrame(video, i))),
      minSeconds,
    );
    rows.push({ what, frames: indices.length, seconds, framesPerSecond: indices.length / seconds });
  }
  return {
    video,
    info: { width: info.width, height: info.height, frameCount: n, fps: info.fps },
    rows,
  };
}

/**
 * The decoder section as a table.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatDecodeBench } from "./decode_bench.ts";
 * assert.match(formatDecodeBench({ video: "v.mp4", rows: [], skipped: "no ffmpeg" }), /skipped/);
 * ```
 */
export function formatDecodeBench(report: DecodeBenchReport): string {
  if (report.skipped) return `decoder: skipped (${report.skipped})`;
  const i = report.info!;
  const head = `decoder (system ffmpeg) on ${report.video}: ${i.width}x${i.height}, ` +
    `${i.frameCount} frames at ${i.fps.toFixed(2)} fps`;
  const lines = report.rows.map((r) =>
    `  ${r.what.padEnd(26)} ${r.frames.toString().padStart(4)} frames  ` +
    `${r.seconds.toFixed(3)} s/call  ${r.framesPerSecond.toFixed(0).padStart(6)} frames/s`
  );
  return [head, ...lines].join("\n");
}
