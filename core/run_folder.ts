/**
 * Read a saved extraction: the features `.npy` and, when present, the manifest beside it. The one
 * reader of runs: `analyze`, `compare` and library users all open runs here.
 *
 * - The manifest is `<name>.json` beside `<name>.npy` (a trailing `.npy` replaced, any case); a
 *   missing, broken or foreign one is handled as {@linkcode readManifest} documents.
 * - Records form the grid `(n_batch_idx, n_timestep)` that inspect writes. Other record shapes:
 *   `(n,)` is `n` samples of one frame, `()` one frame, `(n, a, b, ...)` is `n` rows of `a*b*...`
 *   (record `r` is row `floor(r / n_timestep)`, column `r % n_timestep` in every case).
 * - A manifest that does not describe the `.npy` beside it (its `npy.shape`, `npy.fields` or
 *   `checksums` entry disagree with the file: a pair from two runs) is refused with one error.
 * - The grid's labels are the manifest's `targets.batch_idx` / `targets.timestep` when they are
 *   lists of numbers of the grid's length (each axis on its own), else positions `0..n-1`.
 *
 * @module
 */

import { basename, join } from "node:path";
import { type NpyField, StructuredNpyReader, StructuredNpyWriter } from "./npy.ts";
import { type FileChecksum, fileChecksum, type OutputSet } from "./atomic.ts";
import { InspectorError } from "./errors.ts";
import { type Manifest, readManifest } from "./manifest.ts";

/**
 * The manifest's `checksums`: size and SHA-256 of every file of the run but the manifest itself,
 * by name (added beside `files`; manifests written before it have none).
 */
export type ManifestChecksums = Record<string, FileChecksum>;

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
  const mismatch = manifest ? await pairMismatch(path, reader, manifest) : null;
  if (mismatch) {
    reader.close();
    throw new InspectorError(
      `${path} does not match its manifest ${manifestPath} (${mismatch}): they come from ` +
        `different runs; run inspect again, or remove the manifest to read the .npy alone`,
    );
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

const same = (a: readonly unknown[], b: readonly unknown[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/** How `manifest` disagrees with the `.npy` it sits beside, or null (checks what it records). */
async function pairMismatch(
  path: string,
  reader: StructuredNpyReader,
  manifest: Manifest,
): Promise<string | null> {
  const npy = (manifest as { npy?: Record<string, unknown> }).npy;
  const shape = numberList(npy?.shape);
  if (shape && !same(shape, reader.header.shape)) {
    return `records [${reader.header.shape.join(", ")}] vs the manifest's [${shape.join(", ")}]`;
  }
  const fields = Array.isArray(npy?.fields) && npy.fields.every((f) => typeof f === "string")
    ? npy.fields as string[]
    : null;
  if (fields && !same(fields, reader.fieldNames)) {
    return `layers ${reader.fieldNames.join(", ")} vs the manifest's ${fields.join(", ")}`;
  }
  const sums = (manifest as { checksums?: unknown }).checksums;
  if (typeof sums !== "object" || sums === null) return null;
  const file = typeof npy?.file === "string" && npy.file in sums ? npy.file : basename(path);
  const want = (sums as Record<string, Partial<FileChecksum>>)[file];
  if (typeof want?.size !== "number" || typeof want.sha256 !== "string") return null;
  const size = (await Deno.stat(path)).size;
  if (size !== want.size) return `${size} bytes vs the manifest's ${want.size}`;
  const got = await fileChecksum(path);
  if (got.sha256 !== want.sha256) return `its SHA-256 differs from the manifest's`;
  return null;
}

/** A run to write with {@linkcode writeFeatures}. */
export interface FeaturesToWrite {
  /** File stem: `<name>.npy` and `<name>.json`. */
  name: string;
  /** Element type of the `.npy`. */
  dtype: "float32" | "float16";
  /** Record grid `(n_batch_idx, n_timestep)`. */
  grid: readonly [number, number];
  /** One field per layer, with its per-frame shape. */
  fields: readonly { name: string; shape: readonly number[] }[];
  /** The frame of field `field` at record `r` (`r = bi * n_timestep + ti`). */
  frame: (field: string, r: number) => Float32Array;
  /**
   * The manifest (its `files` is filled in: everything in `out`, then the manifest itself; and
   * its `checksums`: size and SHA-256 of everything in `out`).
   */
  manifest: Manifest;
}

/**
 * Write a run into an output set: `<name>.npy` (one structured array, streamed field by field)
 * and `<name>.json` (the manifest). The one writer of runs; {@linkcode readFeatures} reads them.
 * Nothing appears until `out.commit()`, which moves the manifest into place last: it lists every
 * file of the set with its size and SHA-256, so a reader can tell a pair of one run.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { OutputSet } from "./atomic.ts";
 * import { buildManifest } from "./manifest.ts";
 * import { readFeatures, writeFeatures } from "./run_folder.ts";
 * const dir = await Deno.makeTempDir();
 * const out = await OutputSet.open(dir);
 * const manifest = buildManifest({
 *   model: { path: "m.onnx", sha256: "0", producer: "", opset: 17, inputs: [], outputs: [] },
 *   data: {}, backend: {}, reductions: {}, timings_ms: {},
 *   targets: { batch_idx: [0], timestep: [3] },
 *   npy: { file: "features.npy", dtype: "float32", shape: [1, 1], fields: ["a"] },
 *   layers: [], unresolved: [], warnings: [], files: [],
 * });
 * await writeFeatures(out, {
 *   name: "features", dtype: "float32", grid: [1, 1], fields: [{ name: "a", shape: [2] }],
 *   frame: () => new Float32Array([1, 2]), manifest,
 * });
 * await out.commit();
 * using run = await readFeatures(`${dir}/features.npy`);
 * assert.deepEqual([...(await run.layer("a")).frames[0][0]], [1, 2]);
 * assert.deepEqual(run.targets.timestep, [3]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFeatures(
  out: OutputSet,
  run: FeaturesToWrite,
): Promise<{ npy: string; json: string }> {
  const npyPath = join(out.dir, `${run.name}.npy`);
  const scalar = run.dtype === "float16" ? "f2" : "f4";
  const writer = await StructuredNpyWriter.create(npyPath, {
    shape: [...run.grid],
    fields: run.fields.map((f) => ({ name: f.name, scalar, shape: [...f.shape] })),
  });
  try {
    const records = run.grid[0] * run.grid[1];
    for (const f of run.fields) {
      for (let r = 0; r < records; r++) await writer.writeField(f.name, r, run.frame(f.name, r));
    }
  } catch (err) {
    await writer.abort();
    throw err;
  }
  // The writer renames on commit; hand its temporary file to the output set instead.
  out.adopt(npyPath, await writer.finish());
  const jsonName = `${run.name}.json`;
  run.manifest.files = [...out.files.map((f) => basename(f)), jsonName];
  (run.manifest as Manifest & { checksums?: ManifestChecksums }).checksums = await out
    .checksums();
  await out.writeFile(
    jsonName,
    new TextEncoder().encode(JSON.stringify(run.manifest, null, 1) + "\n"),
    { last: true },
  );
  return { npy: npyPath, json: join(out.dir, jsonName) };
}
