/**
 * Read a saved extraction: the features `.npy` and, when present, the manifest beside it.
 *
 * @module
 */

import { StructuredNpyReader } from "./npy.ts";
import { type Manifest, readManifest } from "./manifest.ts";

/** One layer of a saved extraction. */
export interface SavedLayer {
  /** Layer name (the `.npy` field). */
  name: string;
  /** Per-frame shape, e.g. `[C, H, W]`. */
  shape: number[];
  /** Frames `[bi][ti]` over the saved batch indices and timesteps. */
  frames: Float32Array[][];
}

/** A saved extraction opened for reading, one layer at a time. */
export interface FeaturesFile extends Disposable {
  /** The `.npy` path. */
  path: string;
  /** The manifest, or null when the `.npy` stands alone. */
  manifest: Manifest | null;
  /** Layer names in file order. */
  layers: string[];
  /** Saved batch indices and timesteps (from the manifest, else `0..n-1`). */
  targets: { batchIdx: number[]; timestep: number[] };
  /** Read one layer's saved frames. */
  layer(name: string): Promise<SavedLayer>;
  /** Close the file. */
  close(): void;
}

/**
 * Open `<name>.npy` (and `<name>.json` beside it when present).
 *
 * @example Usage
 * ```ts ignore
 * import { readFeatures } from "./run_folder.ts";
 * using f = await readFeatures("out/features.npy");
 * const layer1 = await f.layer("layer1");
 * console.log(layer1.shape, f.targets.timestep, f.manifest?.model.sha256);
 * ```
 */
export async function readFeatures(path: string): Promise<FeaturesFile> {
  const reader = await StructuredNpyReader.open(path);
  const manifest = await readManifest(path.replace(/\.npy$/i, "") + ".json");
  const [nb, nt] = reader.header.shape.length === 2 ? reader.header.shape : [reader.recordCount, 1];
  const targets = {
    batchIdx: manifest?.targets?.batch_idx?.length === nb
      ? manifest.targets.batch_idx
      : Array.from({ length: nb }, (_, k) => k),
    timestep: manifest?.targets?.timestep?.length === nt
      ? manifest.targets.timestep
      : Array.from({ length: nt }, (_, k) => k),
  };
  return {
    path,
    manifest,
    layers: reader.fieldNames,
    targets,
    async layer(name: string): Promise<SavedLayer> {
      const f = reader.field(name);
      const frames: Float32Array[][] = [];
      for (let b = 0; b < nb; b++) {
        const row: Float32Array[] = [];
        for (let t = 0; t < nt; t++) row.push(await reader.readField(name, b * nt + t));
        frames.push(row);
      }
      return { name, shape: f.shape, frames };
    },
    close: () => reader.close(),
    [Symbol.dispose]: () => reader.close(),
  };
}
