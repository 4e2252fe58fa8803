/**
 * Dataset registry: turns a `--dset` value into a clips folder and its preprocessing settings.
 *
 * A `--dset` value is resolved in this order:
 * 1. empty or absent: the bundled fixture clips (`fixtures/clips`);
 * 2. an existing folder (absolute, or relative to the working directory): used as is;
 * 3. the names `fixture` and `default`: the bundled fixture clips;
 * 4. any other plain name (no `/`): the folder `$FEATURE_INSPECTOR_DATA/<name>`, where the
 *    environment variable `FEATURE_INSPECTOR_DATA` points to a folder holding one clips folder per
 *    dataset name (e.g. `export FEATURE_INSPECTOR_DATA=~/datasets` then `--dset ucf101` reads
 *    `~/datasets/ucf101/`).
 *
 * A clips folder may hold a `dataset.json` with its settings, every key optional:
 * `{ "name": "ucf101", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
 *    "gaze_per_frame": 1 }`. Without it the dataset uses ImageNet's mean/std, one gaze point per
 * frame, and the folder's (or registry) name.
 *
 * @module
 */

import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { InspectorError } from "../core/errors.ts";
import { statRegularFile } from "../core/regular_file.ts";
import { VIDEO_EXT } from "./_video_file.ts";

/** ImageNet per-channel mean (RGB) used when a dataset does not give its own. */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
/** ImageNet per-channel standard deviation (RGB) used when a dataset does not give its own. */
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];
/** Environment variable naming a folder that holds one clips folder per dataset name. */
export const DATA_ENV_VAR = "FEATURE_INSPECTOR_DATA";
/** The names that resolve to the bundled fixture clips. */
export const BUILTIN_DATASET_NAMES: readonly string[] = ["fixture", "default"];

/** A resolved dataset: where its clips are and how to preprocess them. */
export interface DatasetInfo {
  /** Dataset name (from `dataset.json`, else the registry name, else the folder name). */
  name: string;
  /** The clips folder. */
  dir: string;
  /** Per-channel RGB mean subtracted after scaling pixels to [0, 1]. */
  mean: [number, number, number];
  /** Per-channel RGB standard deviation divided by after subtracting the mean. */
  std: [number, number, number];
  /** Gaze points per video frame used by default (the dataset's gaze rate). */
  gazePerFrame: number;
}

/** The optional `dataset.json` of a clips folder, as read. */
export interface DatasetConfig {
  /** Dataset name. */
  name?: string;
  /** Per-channel RGB mean. */
  mean?: [number, number, number];
  /** Per-channel RGB standard deviation. */
  std?: [number, number, number];
  /** Gaze points per video frame. */
  gazePerFrame?: number;
}

/** Options of {@linkcode resolveDataset}. */
export interface ResolveDatasetOptions {
  /**
   * Folder holding one clips folder per dataset name. Defaults to the environment variable
   * `FEATURE_INSPECTOR_DATA` (unset or unreadable: no user datasets).
   */
  dataRoot?: string;
}

/**
 * The bundled fixture clips folder (`fixtures/clips` in the project).
 *
 * @example Usage
 * ```ts
 * import { fixtureClipsDir } from "./datasets.ts";
 * console.log(fixtureClipsDir().endsWith("clips")); // true
 * ```
 */
export function fixtureClipsDir(): string {
  const url = new URL("../fixtures/clips/", import.meta.url);
  return url.protocol === "file:" ? fileURLToPath(url).replace(/[\\/]+$/, "") : url.href;
}

/**
 * Resolve a `--dset` value (a folder or a dataset name) to a {@linkcode DatasetInfo}, reading the
 * folder's optional `dataset.json`.
 *
 * @example Usage
 * ```ts
 * import { resolveDataset } from "./datasets.ts";
 * const ds = await resolveDataset("fixture");
 * console.log(ds.name, ds.mean, ds.gazePerFrame);
 * ```
 */
export async function resolveDataset(
  dset: string | undefined,
  options: ResolveDatasetOptions = {},
): Promise<DatasetInfo> {
  const value = (dset ?? "").trim();
  if (value === "") return await datasetAt(fixtureClipsDir(), "fixture", true);

  const kind = await statKind(value);
  if (kind === "dir") return await datasetAt(value, basename(value.replace(/[\\/]+$/, "")));
  if (kind === "file" && VIDEO_EXT.test(value)) {
    // A video file is a dataset of one clip, with the default normalisation.
    return {
      name: basename(value),
      dir: value,
      mean: [...IMAGENET_MEAN],
      std: [...IMAGENET_STD],
      gazePerFrame: 1,
    };
  }
  if (kind === "file") {
    throw new InspectorError(
      `options.dset ${value} is a file, not a clips folder: pass a folder holding one sub-folder of ` +
        `frames per clip (or a folder of frames for a single clip)`,
    );
  }
  if (BUILTIN_DATASET_NAMES.includes(value)) {
    return await datasetAt(fixtureClipsDir(), value, true);
  }

  const isName = !/[\\/]/.test(value) && value !== "." && value !== "..";
  const root = options.dataRoot ?? envDataRoot();
  if (isName && root) {
    const dir = join(root, value);
    if ((await statKind(dir)) === "dir") return await datasetAt(dir, value);
  }
  const known = [...BUILTIN_DATASET_NAMES, ...(root ? await listNames(root) : [])];
  const hint = root
    ? `${DATA_ENV_VAR}=${root} has no folder '${value}'`
    : `set ${DATA_ENV_VAR} to a folder holding one clips folder per dataset name to use names`;
  throw new InspectorError(
    `options.dset ${value}: no such folder (${
      resolve(value)
    }) and no dataset of that name (known names: ` +
      `${known.join(", ")}; ${hint}); pass an existing clips folder or a known name`,
  );
}

/**
 * Read and check a clips folder's optional `dataset.json` (`{}` when there is none).
 *
 * @example Usage
 * ```ts
 * import { readDatasetConfig } from "./datasets.ts";
 * const cfg = await readDatasetConfig("fixtures/clips");
 * console.log(cfg.mean ?? "ImageNet mean");
 * ```
 */
export async function readDatasetConfig(dir: string): Promise<DatasetConfig> {
  const path = join(dir, "dataset.json");
  let text: string;
  try {
    // A FIFO would block the read.
    await statRegularFile(path, "dataset.json must be a JSON file; replace it or remove it");
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return {};
    if (err instanceof Deno.errors.IsADirectory) return {};
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new InspectorError(`${path} is not valid JSON (${why}): fix or remove it`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new InspectorError(`${path} must hold a JSON object such as {"mean": [..], "std": [..]}`);
  }
  const obj = raw as Record<string, unknown>;
  const cfg: DatasetConfig = {};
  if (obj.name !== undefined) {
    if (typeof obj.name !== "string" || obj.name === "") {
      throw new InspectorError(`${path}: "name" must be a non-empty string`);
    }
    cfg.name = obj.name;
  }
  if (obj.mean !== undefined) cfg.mean = triple(obj.mean, "mean", path, false);
  if (obj.std !== undefined) cfg.std = triple(obj.std, "std", path, true);
  const gpf = obj.gaze_per_frame ?? obj.gazePerFrame;
  if (gpf !== undefined) {
    if (typeof gpf !== "number" || !Number.isInteger(gpf) || gpf < 1) {
      throw new InspectorError(`${path}: "gaze_per_frame" must be a positive integer`);
    }
    cfg.gazePerFrame = gpf;
  }
  return cfg;
}

function triple(
  v: unknown,
  key: string,
  path: string,
  positive: boolean,
): [number, number, number] {
  const ok = Array.isArray(v) && v.length === 3 &&
    v.every((x) => typeof x === "number" && Number.isFinite(x) && (!positive || x > 0));
  if (!ok) {
    throw new InspectorError(
      `${path}: "${key}" must be 3 ${positive ? "positive" : "finite"} numbers (R, G, B)` +
        `, e.g. ${positive ? "[0.229, 0.224, 0.225]" : "[0.485, 0.456, 0.406]"}`,
    );
  }
  return [v[0], v[1], v[2]];
}

async function datasetAt(dir: string, fallbackName: string, bundled = false): Promise<DatasetInfo> {
  if (bundled && (await statKind(dir)) !== "dir") {
    throw new InspectorError(
      `the bundled fixture clips are missing (${dir}): run \`deno task fixtures\` or pass ` +
        `options.dset with a clips folder`,
    );
  }
  const cfg = await readDatasetConfig(dir);
  return {
    name: cfg.name ?? fallbackName,
    dir,
    mean: cfg.mean ?? [...IMAGENET_MEAN],
    std: cfg.std ?? [...IMAGENET_STD],
    gazePerFrame: cfg.gazePerFrame ?? 1,
  };
}

async function statKind(path: string): Promise<"dir" | "file" | null> {
  try {
    const st = await Deno.stat(path);
    return st.isDirectory ? "dir" : "file";
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
      return null;
    }
    throw err;
  }
}

function envDataRoot(): string | undefined {
  try {
    const v = Deno.env.get(DATA_ENV_VAR);
    return v && v.trim() !== "" ? v.trim() : undefined;
  } catch {
    return undefined; // no --allow-env: no user datasets
  }
}

async function listNames(root: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(root)) {
      if (e.isDirectory && !e.name.startsWith(".")) names.push(e.name);
    }
  } catch {
    return [];
  }
  return names.sort();
}
