/**
 * Private: the video-file {@linkcode FrameSourceKind} (`"video"`): a clip is one video file
 * (`.mp4`, `.webm`, `.avi`, `.mkv`, `.mov`), decoded by the system `ffmpeg`, probed by
 * `ffprobe`. The frames read in one tick are decoded by one `ffmpeg` that drops the others
 * (`select=eq(n\,i)+...`) and pipes the kept ones as raw `rgb24`, one frame in memory at a
 * time, never the video. The gaze file of `clip.mp4` is `clip.gaze.csv` beside it
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
  /** Frames in the stream (the container's count, else its counted packets). */
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
        "-count_packets",
        "-show_entries",
        "stream=width,height,avg_frame_rate,r_frame_rate,nb_frames,nb_read_packets,duration:format=duration",
        "-of",
        "json",
        path,
      ], `probe video ${path}`);
      const j = JSON.parse(new TextDecoder().decode(out));
      const s = j.streams?.[0];
      if (!s) throw new InspectorError(`video ${path} has no video stream: pass a video file`);
      const fps = rate(s.avg_frame_rate) || rate(s.r_frame_rate);
      const frameCount = Number(s.nb_frames) || Number(s.nb_read_packets);
      const duration = Number(s.duration ?? j.format?.duration) || frameCount / fps;
      return { width: s.width, height: s.height, fps, duration, frameCount };
    })();
    probed.set(path, p);
    p.catch(() => probed.delete(path));
  }
  return p;
}

/** Frame reads waiting to be decoded together, per video. */
const pending = new Map<
  string,
  Map<number, { ok: (f: RgbaImage) => void; fail: (e: unknown) => void }[]>
>();

/**
 * Decode frame `index` (0-based, in decode order) of a video. Reads asked for in the same tick
 * are decoded by one `ffmpeg` run (`select=eq(n\,i)+eq(n\,j)+...`), streamed one frame at a time.
 *
 * @example Usage
 * ```ts ignore
 * import { decodeVideoFrame } from "./_video_file.ts";
 * const img = await decodeVideoFrame("../shared/real/clips/mmaction2/test.mp4", 3);
 * ```
 */
export async function decodeVideoFrame(path: string, index: number): Promise<RgbaImage> {
  const info = await probeVideo(path);
  if (!Number.isInteger(index) || index < 0 || index >= info.frameCount) {
    throw new InspectorError(`video ${path} has ${info.frameCount} frames, no frame ${index}`);
  }
  return await new Promise<RgbaImage>((ok, fail) => {
    let waiting = pending.get(path);
    if (!waiting) {
      waiting = new Map();
      pending.set(path, waiting);
      setTimeout(() => {
        pending.delete(path);
        decodeSelected(path, info, waiting!).catch((err) => {
          for (const list of waiting!.values()) for (const w of list) w.fail(err);
        });
      }, 0);
    }
    const list = waiting.get(index) ?? [];
    list.push({ ok, fail });
    waiting.set(index, list);
  });
}

async function decodeSelected(
  path: string,
  info: VideoInfo,
  waiting: Map<number, { ok: (f: RgbaImage) => void; fail: (e: unknown) => void }[]>,
): Promise<void> {
  const all = [...waiting.keys()].sort((a, b) => a - b);
  // ffmpeg's expression parser fails on long sums (about 150 terms), so runs of consecutive
  // frames become one between() term, and at most SELECT_TERMS terms go to one ffmpeg run.
  for (const group of selectGroups(all)) await decodeRun(path, info, waiting, group);
}

/** Most terms of one `select=` expression (ffmpeg fails near 150). */
const SELECT_TERMS = 64;

/** Consecutive runs `[first, last]` of sorted indices, at most SELECT_TERMS runs per group. */
function selectGroups(sorted: number[]): [number, number][][] {
  const runs: [number, number][] = [];
  for (const i of sorted) {
    const last = runs[runs.length - 1];
    if (last && i === last[1] + 1) last[1] = i;
    else runs.push([i, i]);
  }
  const groups: [number, number][][] = [];
  for (let k = 0; k < runs.length; k += SELECT_TERMS) groups.push(runs.slice(k, k + SELECT_TERMS));
  return groups;
}

async function decodeRun(
  path: string,
  info: VideoInfo,
  waiting: Map<number, { ok: (f: RgbaImage) => void; fail: (e: unknown) => void }[]>,
  runs: [number, number][],
): Promise<void> {
  const indices = runs.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, k) => a + k));
  const select = runs.map(([a, b]) => a === b ? `eq(n\\,${a})` : `between(n\\,${a}\\,${b})`)
    .join("+");
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("ffmpeg", {
      args: [
        "-v",
        "error",
        "-nostdin",
        "-i",
        path,
        "-vf",
        `select=${select}`,
        "-fps_mode",
        "passthrough",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "pipe:1",
      ],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new InspectorError(`ffmpeg not found: ${NO_FFMPEG}`);
    }
    if (err instanceof Deno.errors.NotCapable) {
      throw new InspectorError(`ffmpeg may not be run: ${NO_FFMPEG} (run with --allow-run=ffmpeg)`);
    }
    throw err;
  }
  const stderr = new Response(child.stderr).text();
  const n = info.width * info.height;
  const frameBytes = n * 3;
  let buf = new Uint8Array(frameBytes);
  let have = 0;
  let next = 0;
  for await (const chunk of child.stdout) {
    let off = 0;
    while (off < chunk.length) {
      const take = Math.min(frameBytes - have, chunk.length - off);
      buf.set(chunk.subarray(off, off + take), have);
      have += take;
      off += take;
      if (have === frameBytes) {
        if (next < indices.length) {
          const img = toRgba(buf, info);
          for (const w of waiting.get(indices[next])!) w.ok(img);
        }
        next++;
        buf = new Uint8Array(frameBytes);
        have = 0;
      }
    }
  }
  const status = await child.status;
  const msg = (await stderr).trim().split("\n").pop() ?? "";
  if (next < indices.length) {
    throw new InspectorError(
      `cannot decode frame ${indices[next]} of ${path}: ffmpeg ${
        status.success ? "stopped early" : `failed (${msg})`
      }; check the video file`,
    );
  }
}

function toRgba(rgb: Uint8Array, info: VideoInfo): RgbaImage {
  const n = info.width * info.height;
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
      fps: info.fps,
      duration: info.duration,
      gazeFile: join(dirname(clip.dir), `${stem}.gaze.csv`),
      label: (i) => `${basename(clip.dir)}#frame=${i},t_ms=${Math.round((i / info.fps) * 1000)}`,
      ref,
      read: (i) => decodeVideoFrame(clip.dir, i),
    };
  },
  read: (ref) => decodeVideoFrame(ref.path, ref.index),
};
