/**
 * Private: the video-file {@linkcode FrameSourceKind} (`"video"`): a clip is one video file
 * (`.mp4`, `.webm`, `.avi`, `.mkv`, `.mov`), decoded by the system `ffmpeg`, probed by
 * `ffprobe`. A frame read spawns one `ffmpeg` that decodes up to the wanted frame, drops the
 * others (`select=eq(n\,i)`) and pipes that single frame as raw `rgb24`: memory holds one
 * frame, never the video. The gaze file of `clip.mp4` is `clip.gaze.csv` beside it
 * (`frame,x,y` rows, `frame` a 0-based decoded-frame index).
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { InspectorError } from "../core/errors.ts";
import type { RgbaImage } from "../core/image.ts";
import type { FrameLocator, FrameSource, FrameSourceKind } from "./frame_source.ts";

/** File names of video clips. */
export const VIDEO_EXT: RegExp = /\.(mp4|m4v|webm|avi|mkv|mov)$/i;

/** Kind name of video files. */
const KIND = "video";

/** What a video needs when ffmpeg is missing. */
const NO_FFMPEG = "reading video clips needs the system ffmpeg and ffprobe: install them " +
  "(apt-get install ffmpeg) or pass frame folders, which work without it";

/** What ffprobe says about a video's first video stream. */
export interface VideoInfo {
  /** Frame width in pixels. */
  width: number;
  /** Frame height in pixels. */
  height: number;
  /** Frames per second (the stream's average frame rate). */
  fps: number;
  /** Duration in seconds. */
  duration: number;
  /** Decoded frames in the stream (counted, not estimated). */
  frameCount: number;
}

const probed = new Map<string, Promise<VideoInfo>>();

async function run(cmd: string, args: string[], what: string): Promise<Uint8Array> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" })
      .output();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new InspectorError(`${cmd} not found: ${NO_FFMPEG}`);
    }
    if (err instanceof Deno.errors.NotCapable) {
      throw new InspectorError(`${cmd} may not be run: ${NO_FFMPEG} (run with --allow-run=${cmd})`);
    }
    throw err;
  }
  if (!out.success) {
    const msg = new TextDecoder().decode(out.stderr).trim().split("\n").pop() ?? "";
    throw new InspectorError(`cannot ${what}: ${cmd} failed (${msg}); check the video file`);
  }
  return out.stdout;
}

function rate(s: string | undefined): number {
  const [a, b] = (s ?? "").split("/").map(Number);
  return b ? a / b : a;
}

/**
 * Probe a video with `ffprobe` (cached per path): size, fps, duration and the counted frames.
 *
 * @example Usage
 * ```ts ignore
 * import { probeVideo } from "./_video_file.ts";
 * console.log(await probeVideo("../shared/real/clips/mmaction2/test.mp4"));
 * ```
 */
export function probeVideo(path: string): Promise<VideoInfo> {
  let p = probed.get(path);
  if (!p) {
    p = (async () => {
      const out = await run("ffprobe", [
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-count_frames",
        "-show_entries",
        "stream=width,height,avg_frame_rate,r_frame_rate,nb_read_frames,duration:format=duration",
        "-of",
        "json",
        path,
      ], `probe video ${path}`);
      const j = JSON.parse(new TextDecoder().decode(out));
      const s = j.streams?.[0];
      if (!s) throw new InspectorError(`video ${path} has no video stream: pass a video file`);
      const fps = rate(s.avg_frame_rate) || rate(s.r_frame_rate);
      const frameCount = Number(s.nb_read_frames);
      const duration = Number(s.duration ?? j.format?.duration) || frameCount / fps;
      return { width: s.width, height: s.height, fps, duration, frameCount };
    })();
    probed.set(path, p);
    p.catch(() => probed.delete(path));
  }
  return p;
}

/**
 * Decode frame `index` (0-based, in decode order) of a video as raw RGB (3 bytes a pixel).
 *
 * @example Usage
 * ```ts ignore
 * import { decodeVideoFrame } from "./_video_file.ts";
 * const rgb = await decodeVideoFrame("../shared/real/clips/mmaction2/test.mp4", 3);
 * ```
 */
export async function decodeVideoFrame(path: string, index: number): Promise<RgbaImage> {
  const info = await probeVideo(path);
  if (!Number.isInteger(index) || index < 0 || index >= info.frameCount) {
    throw new InspectorError(`video ${path} has ${info.frameCount} frames, no frame ${index}`);
  }
  const rgb = await run("ffmpeg", [
    "-v",
    "error",
    "-nostdin",
    "-i",
    path,
    "-vf",
    `select=eq(n\\,${index})`,
    "-fps_mode",
    "passthrough",
    "-frames:v",
    "1",
    "-f",
    "rawvideo",
    "-pix_fmt",
    "rgb24",
    "pipe:1",
  ], `decode frame ${index} of ${path}`);
  const n = info.width * info.height;
  if (rgb.length !== n * 3) {
    throw new InspectorError(
      `cannot decode frame ${index} of ${path}: got ${rgb.length} bytes, expected ${n * 3}`,
    );
  }
  const data = new Uint8Array(n * 4);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    data[i * 4] = rgb[j];
    data[i * 4 + 1] = rgb[j + 1];
    data[i * 4 + 2] = rgb[j + 2];
    data[i * 4 + 3] = 255;
  }
  return { width: info.width, height: info.height, data };
}

/** Video files: one clip per file, frames decoded by the system ffmpeg. */
export const VIDEO_FILES: FrameSourceKind = {
  kind: KIND,
  claims: (entry) => !entry.isDirectory && VIDEO_EXT.test(entry.name),
  async open(clip): Promise<FrameSource> {
    const info = await probeVideo(clip.dir);
    if (!(info.frameCount > 0)) {
      throw new InspectorError(`video ${clip.dir} has no frames: replace it or remove it`);
    }
    const stem = basename(clip.dir).replace(VIDEO_EXT, "");
    const ref = (i: number): FrameLocator => ({ kind: KIND, path: clip.dir, index: i });
    return {
      kind: KIND,
      id: clip.id,
      location: clip.dir,
      count: info.frameCount,
      gazeFile: join(dirname(clip.dir), `${stem}.gaze.csv`),
      label: (i) => `${basename(clip.dir)}#frame=${i},t_ms=${Math.round((i / info.fps) * 1000)}`,
      ref,
      read: (i) => decodeVideoFrame(clip.dir, i),
    };
  },
  read: (ref) => decodeVideoFrame(ref.path, ref.index),
};
