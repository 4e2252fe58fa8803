/**
 * Read a saved extraction: the features `.npy` and, when present, the manifest beside it. The one
 * reader of runs: `analyze`, `compare` and library users all open runs here.
 *
 * - The manifest is `<name>.json` beside `<name>.npy` (a trailing `.npy` replaced, any case); a
 *   missing, broken or foreign one is handled as {@linkcode readManifest} documents.
 * - Records form the grid `(n_batch_idx, n_timestep)` that inspect writes. Other record shapes:
 *   `(n,)` is `n` samples of one frame, `()` one frame, `(n, a, b, ...)` is `n` rows of `a*b*...`
 *   (record `r` is row `floor(r / n_timestep)`, column `r % n_timestep` in every case).
 * - The grid's labels are the manifest's `targets.batch_idx` / `targets.timestep` when they are
 *   lists of numbers of the grid's length (each axis on its own), else positions `0..n-1`.
 *
 * @module
 */

import { type NpyField, StructuredNpyReader } from "./npy.ts";
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

/** Options of {@linkcode readFeatures}. */
export interface ReadFeaturesOptions {
  /** Where a warning about a broken manifest goes (default `console.warn`). */
  onWarning?: (message: string) => void;
}

/** A saved extraction opened for reading, one layer at a time. */
export interface FeaturesFile extends Disposable {
  /** The `.npy` path. */
  path: string;
  /** The manifest, or null when the `.npy` stands alone (or its manifest was broken). */
  manifest: Manifest | null;
  /** Path of the manifest that was read, or null. */
  manifestPath: string | null;
  /** Layer names in file order. */
  layers: string[];
  /** The `.npy`'s record shape as stored, e.g. `[1, 2]`. */
  recordShape: number[];
  /** Number of records (saved frames). */
  recordCount: number;
  /** Record grid `[n_batch_idx, n_timestep]` (see the module doc for other record shapes). */
  grid: [number, number];
  /** Saved batch indices and timesteps (from the manifest, else `0..n-1`). */
  targets: { batchIdx: number[]; timestep: number[] };
  /** Whether both axes' labels came from the manifest. */
  targetsFromManifest: boolean;
  /** The field of layer `name` (shape, dtype), or an error listing the layers. */
  field(name: string): NpyField;
  /** Read one layer's saved frames. */
  layer(name: string): Promise<SavedLayer>;
  /** Read layer `name` of record `record` (`bi * n_timestep + ti`) as float32. */
  readRecord(name: string, record: number): Promise<Float32Array>;
  /** Read layer `name` of every record, concatenated in record order, as float32. */
  readAll(name: string): Promise<Float32Array>;
  /** Close the file. */
  close(): void;
}

const numberList = (v: unknown): number[] | null =>
  Array.isArray(v) && v.every((x) => typeof x === "number") ? v as number[] : null;

/**
 * The record grid `[n_batch_idx, n_timestep]` of a record shape (see the module doc).
 *
 * @example Usage
 * ```ts
 * import { recordGrid } from "./run_folder.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(recordGrid([2, 3]), [2, 3]);
 * assert.deepEqual(recordGrid([4]), [4, 1]);
 * assert.deepEqual(recordGrid([]), [1, 1]);
 * ```
 */
export function recordGrid(shape: readonly number[]): [number, number] {
  if (shape.length === 0) return [1, 1];
  return [shape[0], shape.slice(1).reduce((a, b) => a * b, 1)];
}

/**
 * Path of the manifest beside a features `.npy`.
 *
 * @example Usage
 * ```ts
 * import { manifestPathOf } from "./run_folder.ts";
 * import assert from "node:assert/strict";
 * assert.equal(manifestPathOf("out/features.npy"), "out/features.json");
 * ```
 */
export function manifestPathOf(npyPath: string): string {
  return npyPath.replace(/\.npy$/i, "") + ".json";
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
export async function readFeatures(
  path: string,
  options: ReadFeaturesOptions = {},
): Promise<FeaturesFile> {
  const reader = await StructuredNpyReader.open(path);
  let manifest: Manifest | null;
  const manifestPath = manifestPathOf(path);
  try {
    manifest = await readManifest(manifestPath, { onWarning: options.onWarning });
  } catch (err) {
    reader.close();
    throw err;
  }
  const targets = (manifest as { targets?: Record<string, unknown> } | null)?.targets;
  const grid = recordGrid(reader.header.shape);
  const [nb, nt] = grid;
  const batchIdx = numberList(targets?.batch_idx);
  const timestep = numberList(targets?.timestep);
  const batchOk = batchIdx?.length === nb, timeOk = timestep?.length === nt;
  return {
    path,
    manifest,
    manifestPath: manifest ? manifestPath : null,
    layers: reader.fieldNames,
    recordShape: [...reader.header.shape],
    recordCount: reader.recordCount,
    grid,
    targets: {
      batchIdx: batchOk ? batchIdx! : Array.from({ length: nb }, (_, k) => k),
      timestep: timeOk ? timestep! : Array.from({ length: nt }, (_, k) => k),
    },
    targetsFromManifest: batchOk && timeOk,
    field: (name: string): NpyField => reader.field(name),
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
    readRecord: (name: string, record: number): Promise<Float32Array> =>
      reader.readField(name, record),
    readAll: (name: string): Promise<Float32Array> => reader.readFieldAll(name),
    close: () => reader.close(),
    [Symbol.dispose]: () => reader.close(),
  };
}
