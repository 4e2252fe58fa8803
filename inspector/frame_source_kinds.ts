/**
 * The registered kinds of {@linkcode FrameSource}: a clips folder's entries are opened by the
 * first kind that claims them, and a {@linkcode FrameLocator} is read by the kind it names. Adding an
 * input format is one line here (and its file).
 *
 * @module
 */

import { InspectorError } from "../core/errors.ts";
import type { RgbaImage } from "../core/image.ts";
import type { FrameLocator, FrameSource, FrameSourceKind } from "./frame_source.ts";
import { FRAME_FOLDERS } from "./_frame_folder.ts";
import { VIDEO_FILES } from "./_video_file.ts";

/**
 * Every kind of frame source, in the order they are asked to claim a clip.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { FRAME_SOURCE_KINDS } from "./frame_source_kinds.ts";
 * assert.deepEqual(FRAME_SOURCE_KINDS.map((k) => k.kind), ["frames", "video"]);
 * ```
 */
export const FRAME_SOURCE_KINDS: readonly FrameSourceKind[] = [
  FRAME_FOLDERS,
  VIDEO_FILES,
];

/**
 * Whether an entry of a clips folder is a clip of some kind.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { isClipEntry } from "./frame_source_kinds.ts";
 * assert.equal(isClipEntry({ name: "clip1", isDirectory: true }), true);
 * assert.equal(isClipEntry({ name: "notes.txt", isDirectory: false }), false);
 * ```
 */
export function isClipEntry(entry: { name: string; isDirectory: boolean }): boolean {
  return FRAME_SOURCE_KINDS.some((k) => k.claims(entry));
}

/**
 * Open one clip of a clips folder with the kind that claims it.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { openFrameSource } from "./frame_source_kinds.ts";
 * const s = await openFrameSource({ id: "c01_bars", dir: "fixtures/clips/c01_bars" });
 * assert.equal(s.kind, "frames");
 * assert.ok(s.count > 0 && s.label(0).endsWith(".png"));
 * ```
 */
export async function openFrameSource(clip: { id: string; dir: string }): Promise<FrameSource> {
  let isDirectory = true;
  try {
    isDirectory = (await Deno.stat(clip.dir)).isDirectory;
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err;
    // Unreadable: the folder kind reports it, in its own words.
  }
  const name = clip.dir.replace(/[\\/]+$/, "").split(/[\\/]/).pop() ?? clip.dir;
  const kind = FRAME_SOURCE_KINDS.find((k) => k.claims({ name, isDirectory })) ?? FRAME_FOLDERS;
  return await kind.open(clip);
}

/**
 * Read and decode one frame with the kind its reference names.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { openFrameSource, readFrameLocator } from "./frame_source_kinds.ts";
 * const s = await openFrameSource({ id: "c01_bars", dir: "fixtures/clips/c01_bars" });
 * const img = await readFrameLocator(s.ref(0));
 * assert.equal(img.data.length, img.width * img.height * 4);
 * ```
 */
export async function readFrameLocator(ref: FrameLocator): Promise<RgbaImage> {
  const kind = FRAME_SOURCE_KINDS.find((k) => k.kind === ref.kind);
  if (!kind) {
    throw new InspectorError(`frame ${ref.path}: no frame source reads '${ref.kind}' frames`);
  }
  return await kind.read(ref);
}
