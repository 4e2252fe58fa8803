/**
 * Private: the frame-folder {@linkcode FrameSourceKind}: a clip is a folder of `.png`, `.jpg` or
 * `.jpeg` files in natural name order, with an optional `gaze.csv` beside them.
 *
 * @module
 */

import { join } from "node:path";
import { InspectorError } from "../core/errors.ts";
import type { RgbaImage } from "../core/image.ts";
import { specialFileKind, statRegularFile } from "../core/regular_file.ts";
import { decodeImage } from "./image_io.ts";
import { naturalCompare } from "./natural_order.ts";
import type { FrameLocator, FrameSource, FrameSourceKind } from "./frame_source.ts";

/** File names of frames. */
export const FRAME_EXT: RegExp = /\.(png|jpe?g)$/i;

/** Kind name of frame folders. */
const KIND = "frames";

/** What to do about a frame that is a FIFO or device. */
const SPECIAL_FRAME_HINT = "a frame must be a PNG or JPEG file; replace it or remove it from " +
  "the clip folder";

/**
 * The frame files (`.png`, `.jpg`, `.jpeg`) of a clip folder, in natural order. A frame name
 * that is a FIFO or device (also through a link) is an error: reading it would block or not end.
 *
 * @example Usage
 * ```ts
 * import { listFrames } from "./clips.ts";
 * console.log(await listFrames("fixtures/clips/c01_bars"));
 * ```
 */
export async function listFrames(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.name.startsWith(".") || !FRAME_EXT.test(e.name)) continue;
      const kind = await entryKind(dir, e);
      if (kind === "file") names.push(e.name);
      else if (kind === null) await refuseSpecial(join(dir, e.name));
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable || err instanceof InspectorError) throw err;
    throw new InspectorError(`cannot read clip folder ${dir}: ${firstLine(err)}`, { cause: err });
  }
  return names.sort(naturalCompare);
}

/** Whether an entry of `dir` is a folder or a file, following links (null: neither, or dangling). */
export async function entryKind(dir: string, e: Deno.DirEntry): Promise<"dir" | "file" | null> {
  if (e.isDirectory) return "dir";
  if (e.isFile) return "file";
  if (!e.isSymlink) return null;
  try {
    const st = await Deno.stat(join(dir, e.name));
    return st.isDirectory ? "dir" : st.isFile ? "file" : null;
  } catch {
    return null; // dangling link
  }
}

/** Throw when `path` is a FIFO, device or socket (a dangling link is left alone: skipped). */
async function refuseSpecial(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch {
    return;
  }
  const kind = specialFileKind(info);
  if (kind !== null) {
    throw new InspectorError(`${path} is not a regular file (${kind}): ${SPECIAL_FRAME_HINT}`);
  }
}

async function readFrame(path: string): Promise<Uint8Array> {
  try {
    await statRegularFile(path, SPECIAL_FRAME_HINT); // a FIFO would block the read
    return await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable || err instanceof InspectorError) throw err;
    throw new InspectorError(
      `cannot read frame ${path}: ${firstLine(err)}; check the file or remove it`,
      { cause: err },
    );
  }
}

function firstLine(err: unknown): string {
  return err instanceof Error ? err.message.split("\n")[0] : String(err);
}

/** Frame folders: one clip per folder, one image file per frame. */
export const FRAME_FOLDERS: FrameSourceKind = {
  kind: KIND,
  claims: (entry) => entry.isDirectory,
  async open(clip): Promise<FrameSource> {
    const files = await listFrames(clip.dir);
    if (files.length === 0) {
      throw new InspectorError(
        `clip folder ${clip.dir} has no frames (.png/.jpg/.jpeg files): ` +
          `extract the clip's frames into it or remove the folder`,
      );
    }
    const ref = (i: number): FrameLocator => ({
      kind: KIND,
      path: join(clip.dir, files[i]),
      index: 0,
    });
    return {
      kind: KIND,
      id: clip.id,
      location: clip.dir,
      count: files.length,
      gazeFile: join(clip.dir, "gaze.csv"),
      label: (i) => files[i],
      ref,
      read: (i) => FRAME_FOLDERS.read(ref(i)),
    };
  },
  async read(ref): Promise<RgbaImage> {
    return decodeImage(await readFrame(ref.path), { name: ref.path });
  },
};
