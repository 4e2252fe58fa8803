/**
 * The `inspect` command as a library function: load a model and a batch (clips folder or
 * preprocessed `.npy`), tap the layers, run one forward pass, and write the features `.npy`,
 * the manifest and the feature-grid PNGs atomically.
 *
 * @module
 */

import { fileURLToPath as fromFileUrl } from "node:url";
import { join } from "node:path";
import type { RgbaImage } from "../core/image.ts";
import { decodeImage } from "./image_io.ts";
import { InspectorError } from "../core/errors.ts";
import { loadOnnxModel, type OnnxGraph, tapModel } from "./onnx_model.ts";
import { listModules, resolveLayers } from "./layers.ts";
import { dataPathNodes, tappableNodes } from "./_layer_select.ts";
import { parseIndexSpec } from "./layout.ts";
import { type FramePipeline, type FrameSize, parseFrameSize, parseResize } from "./preprocess.ts";
import { readPlainNpy } from "../core/npy.ts";
import {
  type ClipBatch,
  decodeClips,
  type DecodeWorkers,
  type GazePoint,
  type LoadedClip,
  planClips,
  startDecodeWorkers,
} from "./clips.ts";
import { createSession, type EpChoice, type FeedTensor } from "./runtime.ts";
import { OutputSet } from "../core/atomic.ts";
import { checkFileStem, uniqueFileStems } from "../core/file_stem.ts";
import { claimOutputs, type RunKey } from "../core/run_slot.ts";
import {
  DEFAULT_LAYERS,
  type Extraction,
  FeatureMapInspector,
  parseLayoutFlags,
} from "./feature_map_inspector.ts";
import type { GpuMode } from "../shaders/reduce.ts";
import { formatBytes, memoryCeiling } from "./batch_plan.ts";
import { profileMark } from "../core/profile.ts";

/** Path of the bundled default model. */
export const DEFAULT_MODEL: string = fromFileUrl(
  new URL("../fixtures/resnet18_video.onnx", import.meta.url),
);

/** Options of {@linkcode runInspect}; names follow the CLI flags. */
export interface InspectOptions {
  /** `.onnx` model (default: the bundled fixture model). */
  checkpoint?: string;
  /** {@linkcode listLayers}: list every node output, shape arithmetic included (`--all`). */
  all?: boolean;
  /** Clips folder or dataset name (default: the bundled fixture clips). */
  dset?: string;
  /** Index of the first clip of the batch in the folder's clip order (default 0). */
  firstClip?: number;
  /** Preprocessed batch(es): `path.npy` or `name=path.npy` (replaces `dset`). */
  input?: readonly string[];
  /** Clips per batch (default 2). */
  batchSize?: number;
  /** Frames per clip (default 8). */
  maxLen?: number;
  /** Sample frames at this rate instead of evenly (video clips only). */
  fps?: number;
  /** Frame size, `N` or `"HxW"`; when omitted, the model's fixed size or 512. */
  size?: number | string;
  /** Resize rule before the crop: `short:N`, `long:N` or `HxW` (default: exact resize to size). */
  resize?: string;
  /** Centre crop `N` or `HxW` after `resize` (default: the frame size when `resize` keeps aspect). */
  crop?: string;
  /** Channel order the model expects (default `rgb`). */
  channelOrder?: "rgb" | "bgr";
  /** Value range 0..scale the pixels are mapped to before mean/std (default 1). */
  scale?: number;
  /** Frame-decoding workers (default 1). */
  workers?: number;
  /** Output folder (default `out`). */
  saveDir?: string;
  /** `0`, `0,1`, `all` (default `0`). */
  batchIdx?: string;
  /** `2`, `0,4`, `0-7`, `all` (default `0`). */
  timestep?: string;
  /** Use every gaze point (default false). */
  denseGaze?: boolean;
  /** Layers (default conv1 bn1 relu maxpool layer1..layer4). */
  layers?: readonly string[];
  /** Module scope prefix (e.g. `backbone`). */
  prefix?: string;
  /** `--layout` values. */
  layout?: readonly string[];
  /** Execution provider (default `auto`). */
  ep?: EpChoice;
  /** CPU threads. */
  threads?: number;
  /** Where statistics run (default `auto`). */
  gpu?: GpuMode;
  /**
   * Output stem. Default: `features`, with `_b<batch_idx>` and `_t<timestep>` added when they are
   * not 0 (`features_t4`, `features_b1_t0-7`, `features_t0+4`), so runs of other frames into one folder keep
   * their own files.
   */
  name?: string;
  /** Replace files of another run in the save folder (default: refuse, naming the file). */
  overwrite?: boolean;
  /** `.npy` element type (default float32). */
  dtype?: "float32" | "float16";
  /** Memory to aim for per forward pass, MiB (default 1024). */
  memoryBudgetMiB?: number;
  /** Channels per feature grid (default 16); 0 writes no grids. */
  gridChannels?: number;
  /** Lines for people (progress, notes, warnings). */
  onInfo?: (line: string) => void;
}

/** What {@linkcode runInspect} did. */
export interface InspectResult {
  /** Paths written. */
  files: string[];
  /** The `.npy` path. */
  npy: string;
  /** The manifest path. */
  json: string;
  /** The extraction (activations of the saved frames and statistics). */
  extraction: Extraction;
  /** Milliseconds per phase. */
  timings: Record<string, number>;
}

/** A batch and where it came from. */
/** A batch ready to feed, with what the manifest records about it. */
export interface LoadedBatch {
  feeds: FeedTensor | Record<string, FeedTensor>;
  data: Record<string, unknown>;
  clips?: ClipBatch;
}

function fixedFrameSize(graph: OnnxGraph): FrameSize | null {
  const main = graph.inputs.find((i) => i.dims?.length === 5) ?? graph.inputs[0];
  const d = main?.dims;
  if (!d || d.length < 4) return null;
  const h = d[d.length - 2], w = d[d.length - 1];
  if (typeof h === "number" && typeof w === "number" && h > 0 && w > 0) {
    return { height: h, width: w };
  }
  return null;
}

/** `options.size` as height x width, or null when absent. */
function givenSize(options: InspectOptions): FrameSize | null {
  if (options.size === undefined) return null;
  if (typeof options.size === "number") return { height: options.size, width: options.size };
  return parseFrameSize(options.size, { option: "options.size" });
}

/**
 * The frame pipeline of `options` for frames of `size`; undefined when none of its parts differ
 * from today's square exact resize (so that path and its bytes stay as they were).
 */
function framePipelineOf(options: InspectOptions, size: FrameSize): FramePipeline | undefined {
  const plain = size.height === size.width && options.resize === undefined &&
    options.crop === undefined && (options.channelOrder ?? "rgb") === "rgb" &&
    (options.scale ?? 1) === 1;
  if (plain) return undefined;
  const resize = options.resize === undefined ? undefined : parseResize(options.resize);
  const crop = options.crop === undefined
    ? undefined
    : parseFrameSize(options.crop, { option: "options.crop" });
  if (crop && (crop.height !== size.height || crop.width !== size.width)) {
    throw new InspectorError(
      `options.crop ${crop.height}x${crop.width} and the frame size ${size.height}x${size.width} ` +
        `differ: pass options.size ${crop.height}x${crop.width} or leave one out`,
    );
  }
  if (options.scale !== undefined && !(options.scale > 0)) {
    throw new InspectorError(`options.scale must be a positive number, got ${options.scale}`);
  }
  return {
    size,
    ...(resize ? { resize } : {}),
    ...(crop ? { crop } : {}),
    channelOrder: options.channelOrder ?? "rgb",
    scale: options.scale ?? 1,
  };
}

/**
 * The frame size a run feeds `graph`: the model's fixed input size, else `options.size`, else
 * 512; throws when `options.size` contradicts a fixed size. A square size is a number.
 */
export function frameSizeFor(graph: OnnxGraph, options: InspectOptions): number | FrameSize {
  const fixedHw = fixedFrameSize(graph);
  const given = givenSize(options);
  if (
    fixedHw !== null && given !== null &&
    (given.height !== fixedHw.height || given.width !== fixedHw.width)
  ) {
    const want = fixedHw.height === fixedHw.width
      ? `${fixedHw.height}`
      : `${fixedHw.height}x${fixedHw.width}`;
    throw new InspectorError(
      `options.size ${options.size} does not fit the model: its input takes ` +
        `${fixedHw.height}x${fixedHw.width} frames; pass options.size ${want}`,
    );
  }
  const hw = fixedHw ?? given ?? { height: 512, width: 512 };
  return hw.height === hw.width ? hw.height : hw;
}

/** Options of {@linkcode loadBatch} and {@linkcode startBatch}. */
export type LoadBatchOptions = InspectOptions & {
  /** Started decode workers (their threads decode while the caller's runs a forward pass). */
  decoders?: DecodeWorkers | null;
};

/** Load one batch as `inspect` does (clips from `options.dset`, or `.npy` inputs). */
export async function loadBatch(
  graph: OnnxGraph,
  options: LoadBatchOptions,
  size: number | FrameSize,
): Promise<LoadedBatch> {
  return await (await startBatch(graph, options, size)).loaded;
}

/**
 * Start loading the batch: the clips are listed and their frames sampled (errors here come
 * first), then `loaded` settles when the frames are decoded, on `options.decoders` when given,
 * which have their requests by the time this resolves: a forward pass started after it (which
 * blocks this thread) runs while they decode.
 *
 * @example Usage
 * ```ts ignore
 * import { startBatch } from "./run_inspect.ts";
 * const next = await startBatch(graph, { dset: "clips", batchSize: 4, decoders }, 112);
 * await inspector.extractFeatures(current.feeds); // the workers decode meanwhile
 * const batch = await next.loaded;
 * ```
 */
export async function startBatch(
  graph: OnnxGraph,
  options: LoadBatchOptions,
  size: number | FrameSize,
): Promise<{ loaded: Promise<LoadedBatch> }> {
  const decoders = options.decoders ?? null;
  const hw = typeof size === "number" ? { height: size, width: size } : size;
  const pipeline = framePipelineOf(options, hw);
  if (options.input && options.input.length > 0 && options.dset === undefined) {
    return { loaded: loadNpyBatch(graph, options) };
  }
  // Frames from options.dset for the one input that options.input leaves out.
  let mixed: { frameInput: string; npy: LoadedBatch } | null = null;
  if (options.input && options.input.length > 0) {
    const npy = await loadNpyBatch(graph, options);
    const given = new Set(Object.keys(npy.feeds));
    const left = graph.inputs.filter((i) => !given.has(i.name));
    if (left.length !== 1) {
      throw new InspectorError(
        `options.dset feeds one model input and options.input the others, but ` +
          (left.length === 0
            ? `options.input gives every input (${[...given].join(", ")}): leave out options.dset`
            : `${
              left.map((i) => i.name).join(", ")
            } are left: give all but one as options.input name=path.npy`),
      );
    }
    mixed = { frameInput: left[0].name, npy };
  }
  const plan = await planClips(options.dset ?? "fixture", {
    batchSize: options.batchSize ?? 2,
    firstClip: options.firstClip,
    maxLen: options.maxLen ?? 8,
    fps: options.fps,
    size: hw.height,
    pipeline,
    denseGaze: options.denseGaze ?? false,
    workers: options.workers ?? 1,
    budgetBytes: budgetBytesOf(options),
  });
  const loaded = decodeClips(plan, {
    workers: options.workers ?? 1,
    decoders: decoders ?? undefined,
  }).then((clips) => {
    const batch = clipsBatch(clips, options, hw.height === hw.width ? hw.height : hw);
    if (!mixed) return batch;
    return {
      feeds: {
        [mixed.frameInput]: batch.feeds as FeedTensor,
        ...(mixed.npy.feeds as Record<string, FeedTensor>),
      },
      clips: batch.clips,
      data: { ...batch.data, frame_input: mixed.frameInput, npy_inputs: mixed.npy.data },
    };
  });
  return { loaded };
}

async function loadNpyBatch(graph: OnnxGraph, options: InspectOptions): Promise<LoadedBatch> {
  const feeds: Record<string, FeedTensor> = {};
  const files: Record<string, string> = {};
  for (const spec of options.input ?? []) {
    const eq = spec.indexOf("=");
    let name: string, path: string;
    if (eq > 0 && !spec.slice(0, eq).includes("/")) {
      name = spec.slice(0, eq);
      path = spec.slice(eq + 1);
    } else {
      if (graph.inputs.length !== 1) {
        throw new InspectorError(
          `the model has inputs ${graph.inputs.map((i) => i.name).join(", ")}: ` +
            `give each as options.input name=path.npy`,
        );
      }
      name = graph.inputs[0].name;
      path = spec;
    }
    if (!graph.inputs.some((i) => i.name === name)) {
      throw new InspectorError(
        `options.input ${name}=...: the model has no input '${name}' (it has ` +
          `${graph.inputs.map((i) => i.name).join(", ")})`,
      );
    }
    await checkNpySize(path, options);
    const arr = await readPlainNpy(path);
    feeds[name] = { data: arr.data, dims: arr.shape };
    files[name] = path;
  }
  const shapes = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, v.dims]));
  return { feeds, data: { source: "npy", inputs: files, input_shapes: shapes } };
}

/** The memory budget in bytes (`memoryBudgetMiB`, default 1024 MiB). */
function budgetBytesOf(options: InspectOptions): number {
  return (options.memoryBudgetMiB ?? 1024) * 2 ** 20;
}

/** Refuse an `.npy` input bigger than the memory ceiling before reading it. */
async function checkNpySize(path: string, options: InspectOptions): Promise<void> {
  let size: number;
  try {
    size = (await Deno.stat(path)).size;
  } catch {
    return; // readPlainNpy reports it
  }
  const budget = budgetBytesOf(options);
  if (size > memoryCeiling(budget)) {
    throw new InspectorError(
      `the input ${path} alone needs ${formatBytes(size)}, over options.memoryBudgetMiB ` +
        `${Math.round(memoryCeiling(budget) / 2 ** 20)} MiB: pass a smaller batch, or raise ` +
        `options.memoryBudgetMiB`,
    );
  }
}

function clipsBatch(
  clips: ClipBatch,
  options: InspectOptions,
  size: number | FrameSize,
): LoadedBatch {
  return {
    feeds: { data: clips.data, dims: [...clips.shape] },
    clips,
    data: {
      source: "clips",
      dataset: clips.dataset.name,
      dir: clips.dataset.dir,
      mean: clips.dataset.mean,
      std: clips.dataset.std,
      gaze_per_frame: clips.dataset.gazePerFrame,
      dense_gaze: options.denseGaze ?? false,
      size: typeof size === "number" ? size : `${size.height}x${size.width}`,
      ...(clips.pipeline ? { preprocessing: preprocessingRecord(clips.pipeline, clips) } : {}),
      max_len: clips.shape[1],
      batch_size: clips.shape[0],
      input_shape: [...clips.shape],
    },
  };
}

function mainDims(feeds: FeedTensor | Record<string, FeedTensor>, graph: OnnxGraph): number[] {
  if ("dims" in feeds && Array.isArray(feeds.dims)) return feeds.dims as number[];
  const r = feeds as Record<string, FeedTensor>;
  const main = graph.inputs.find((i) => i.dims?.length === 5) ?? graph.inputs[0];
  return r[main.name].dims;
}

/**
 * Run `inspect`: one forward pass, all requested frames of all requested layers.
 *
 * @example Usage
 * ```ts ignore
 * import { runInspect } from "./run_inspect.ts";
 * const r = await runInspect({ size: 112, timestep: "0-3", saveDir: "out" });
 * console.log(r.files);
 * ```
 */
export async function runInspect(options: InspectOptions = {}): Promise<InspectResult> {
  if (options.name !== undefined) checkFileStem(options.name);
  const info = options.onInfo ?? (() => {});
  const timings: Record<string, number> = {};
  const tAll = performance.now();
  // Frame decoders start now: their start-up overlaps reading the model.
  using decoders = options.input?.length ? null : startDecodeWorkers(options.workers ?? 1);
  let t = performance.now();
  const modelPath = options.checkpoint ?? DEFAULT_MODEL;
  const graph = await loadOnnxModel(modelPath);
  timings.load_model = performance.now() - t;
  profileMark("inspect.model_loaded");

  const size = frameSizeFor(graph, options);
  const layout = parseLayoutFlags(options.layout ?? []);

  // The frames are decoded on worker threads while this thread builds the session. load_data runs
  // until this thread takes the batch, so it overlaps the session and lasts at least as long.
  const tData = performance.now();
  // The batch and the targets in it; their errors are reported before those of the output folder
  // and the session, as if the data were loaded first.
  const loading = (await startBatch(graph, { ...options, decoders }, size)).loaded.then((batch) => {
    timings.load_data = performance.now() - tData;
    const dims = mainDims(batch.feeds, graph);
    const B = dims[0], T = dims.length === 5 ? dims[1] : 1;
    const batchIdx = parseIndexSpec(options.batchIdx ?? "0", {
      count: B,
      flag: "options.batchIdx",
    });
    const timestep = parseIndexSpec(options.timestep ?? "0", {
      count: T,
      flag: "options.timestep",
    });
    return { batch, batchIdx, timestep };
  });
  loading.catch(() => {}); // awaited below
  const dataFirst = async (err: unknown): Promise<never> => {
    await loading;
    throw err;
  };

  const out = await OutputSet.open(options.saveDir ?? "out").catch(dataFirst);
  try {
    t = performance.now();
    await using insp = await FeatureMapInspector.create(graph, {
      layers: options.layers && options.layers.length ? options.layers : DEFAULT_LAYERS,
      prefix: options.prefix,
      layout,
      ep: options.ep,
      threads: options.threads,
      gpu: options.gpu,
      saveDir: out.dir,
      name: options.name,
      dtype: options.dtype,
      budgetBytes: options.memoryBudgetMiB ? options.memoryBudgetMiB * 2 ** 20 : undefined,
      // One batch: the session's start and memory weigh more than the forward's speed.
      lean: true,
      allFrames: options.batchIdx === "all" && options.timestep === "all",
      onInfo: info,
    }).catch(dataFirst);
    timings.session = performance.now() - t;
    profileMark("inspect.session_created");
    const { batch, batchIdx, timestep } = await loading;
    profileMark("inspect.data_ready");
    const grids = options.gridChannels ?? 16;
    const stem = options.name ?? defaultStem(batchIdx, timestep);
    await claimOutputs(out.dir, [
      `${stem}.npy`,
      `${stem}.json`,
      ...(grids > 0
        ? uniqueFileStems(insp.layers.map((l) => l.name)).flatMap((s) =>
          gridFiles(s, batchIdx, timestep)
        )
        : []),
    ], {
      key: inspectRunKey({
        sha256: graph.sha256,
        data: batch.data,
        targets: { batch_idx: batchIdx, timestep },
        layers: insp.layers.map((l) => l.name),
        dtype: options.dtype ?? "float32",
      }),
      records: (names) => names.filter((n) => n.endsWith(".json")),
      keyOf: (m) => (m.format === "feature-inspector/manifest" ? inspectRunKey(facts(m)) : null),
      overwrite: options.overwrite,
      hint: "pass options.name to keep both runs, or options.overwrite to replace it",
    });
    insp.setTarget({ batchIdx, timestep });
    const ex = await insp.extractFeatures(batch.feeds);
    timings.forward = ex.timings.forward;
    timings.reduce = ex.timings.reduce;
    // One batch: the grids and files need the extraction, not onnxruntime. Free its memory (the
    // weights, the arena) and the forward's garbage before they are made.
    await insp.releaseSessions();
    (globalThis as { gc?: () => void }).gc?.();
    profileMark("inspect.forward_done");

    const gaze: GazePoint[][][] | undefined = batch.clips
      ? batchIdx.map((bb) => timestep.map((tt) => batch.clips!.clips[bb].gaze[tt] ?? []))
      : undefined;
    const data = { ...batch.data };
    if (batch.clips) {
      data.clips = batch.clips.clips.map((c) => ({
        id: c.id,
        dir: c.dir,
        frame_count: c.frameCount,
        ...(c.fps !== undefined ? { fps: c.fps } : {}),
        ...(c.duration !== undefined ? { duration_s: c.duration } : {}),
      }));
      data.saved_frames = batchIdx.map((bb) =>
        timestep.map((tt) => ({
          clip: batch.clips!.clips[bb].id,
          batch_idx: bb,
          timestep: tt,
          file: batch.clips!.clips[bb].frameFiles[tt],
          frame_index: batch.clips!.clips[bb].frameIndices[tt],
          ...(batch.clips!.clips[bb].fps !== undefined
            ? {
              t_ms: Math.round(
                (1000 * batch.clips!.clips[bb].frameIndices[tt]) / batch.clips!.clips[bb].fps!,
              ),
            }
            : {}),
          gaze: batch.clips!.clips[bb].gaze[tt] ?? [],
        }))
      );
    }

    t = performance.now();
    let pngFiles: string[] = [];
    if (grids > 0) {
      pngFiles = await insp.visualizeFeatureMaps(undefined, {
        numChannels: grids,
        gaze,
        output: out,
        ...(batch.clips
          ? { frames: await inputFrames(batch.clips.clips, batchIdx, timestep) }
          : {}),
      });
    }
    timings.png = performance.now() - t;
    profileMark("inspect.grids_done");
    t = performance.now();
    timings.total = performance.now() - tAll;
    const saved = await insp.saveFeatures({ data, timings, gaze, output: out, name: stem });
    timings.write = performance.now() - t;
    const files = await out.commit();
    profileMark("inspect.written");
    for (const l of ex.layers) {
      const s = l.stats.summary;
      const flag = l.resolved.folded
        ? ` [folded: ${l.resolved.folded.join(", ")}]`
        : l.resolved.aliasOf
        ? ` [= ${l.resolved.aliasOf}, BN folded]`
        : "";
      info(
        `${l.name.padEnd(10)} ${l.layout.label.padEnd(18)} frame (${
          l.layout.frameShape.join(", ")
        })` +
          `  mean ${s.mean.toPrecision(4)}  std ${s.std.toPrecision(4)}  sparsity ${
            (100 * s.sparsity).toFixed(1)
          }%${s.nonfinite ? `  non-finite ${s.nonfinite}` : ""}${flag}`,
      );
    }
    info(`wrote ${saved.npy}, ${saved.json} and ${pngFiles.length} feature grids`);
    return { files, npy: saved.npy, json: saved.json, extraction: ex, timings };
  } catch (err) {
    await out.abort();
    throw err;
  }
}

/**
 * The default file stem of a run: `features`, plus `_b<spec>` / `_t<spec>` for batch indices or
 * timesteps other than `[0]` (runs as `a-b`, joined by `+`: `features_b1_t0-7`, `features_t0+4`).
 */
function defaultStem(batchIdx: number[], timestep: number[]): string {
  const spec = (ks: number[]): string => {
    const parts: string[] = [];
    for (let i = 0; i < ks.length;) {
      let j = i;
      while (j + 1 < ks.length && ks[j + 1] === ks[j] + 1) j++;
      parts.push(j > i ? `${ks[i]}-${ks[j]}` : `${ks[i]}`);
      i = j + 1;
    }
    return parts.join("+");
  };
  const only0 = (ks: number[]): boolean => ks.length === 1 && ks[0] === 0;
  return "features" + (only0(batchIdx) ? "" : `_b${spec(batchIdx)}`) +
    (only0(timestep) ? "" : `_t${spec(timestep)}`);
}

/** The feature-grid files of one layer's stem (as `visualizeFeatureMaps` names them). */
function gridFiles(stem: string, batchIdx: number[], timestep: number[]): string[] {
  return batchIdx.flatMap((b) => timestep.map((t) => `${stem}_b${b}_t${t}.png`));
}

/** What makes two inspect runs the same run (the identical command): model, data, frames, layers. */
interface InspectFacts {
  sha256: unknown;
  data: unknown;
  targets: unknown;
  layers: unknown;
  dtype: unknown;
}

/** The facts of a run from its manifest. */
function facts(m: Record<string, unknown>): InspectFacts {
  const get = (o: unknown, k: string): unknown =>
    typeof o === "object" && o !== null ? (o as Record<string, unknown>)[k] : undefined;
  return {
    sha256: get(m.model, "sha256"),
    data: m.data,
    targets: m.targets,
    layers: get(m.npy, "fields"),
    dtype: get(m.npy, "dtype"),
  };
}

function inspectRunKey(f: InspectFacts): RunKey {
  const json = (v: unknown): string =>
    JSON.stringify(
      v,
      (_k, x) =>
        x && typeof x === "object" && !Array.isArray(x)
          ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a < b ? -1 : 1))
          : x,
    );
  const data = typeof f.data === "object" && f.data !== null ? { ...f.data } : f.data;
  if (data && typeof data === "object") {
    // Added after the forward pass, derived from the rest.
    delete (data as Record<string, unknown>).clips;
    delete (data as Record<string, unknown>).saved_frames;
  }
  const targets = f.targets as { batch_idx?: unknown; timestep?: unknown } | undefined;
  return {
    model: String(f.sha256).slice(0, 12),
    data: json(data),
    batch_idx: json(targets?.batch_idx),
    timestep: json(targets?.timestep),
    layers: json(f.layers),
    dtype: String(f.dtype),
  };
}

/** One row of `--list_layers`. */
export interface LayerListing {
  /** Name to pass to `--layers`. */
  name: string;
  /** Full dotted module path, or `""` for a tensor listed by its own name. */
  module: string;
  /** The tensor it taps. */
  tensor: string;
  /** Node producing it. */
  node: string;
  /** Operator producing it. */
  opType: string;
  /** The operator selector naming the same tensor (`Relu[3]`), or `""`. */
  select: string;
  /** For a module applied several times in `forward`: its number of calls (the last is listed). */
  calls?: number;
  /** Shape for the probe input. */
  dims: number[];
  /** Folded-BN and call notes. */
  note: string;
}

/**
 * Every tensor worth tapping with its shape, found by one forward pass on a zero batch
 * (`B = 1`, `T = maxLen`, `size` x `size`) or on the given `--input`: each module scope (the
 * output of its last node), then the unscoped outputs of Conv, normalisation, activation,
 * pooling, Add, Concat and Gemm/MatMul nodes by tensor name, with their `Op[k]` selector.
 * Shape arithmetic (Shape, Gather, Constant, Unsqueeze ...) is left out unless `all` is set,
 * which lists every node output.
 *
 * @example Usage
 * ```ts ignore
 * import { listLayers } from "./run_inspect.ts";
 * for (const row of await listLayers({ size: 112 })) console.log(row.name, row.dims);
 * ```
 */
export async function listLayers(options: InspectOptions = {}): Promise<LayerListing[]> {
  const graph = await loadOnnxModel(options.checkpoint ?? DEFAULT_MODEL);
  const modules = listModules(graph);
  const fixedHw = fixedFrameSize(graph);
  const hw = fixedHw ?? givenSize(options) ?? { height: 112, width: 112 };
  const size: number | FrameSize = hw.height === hw.width ? hw.height : hw;
  let feeds: Record<string, FeedTensor>;
  if (options.input && options.input.length) {
    const b = await loadBatch(graph, options, size);
    feeds = "dims" in b.feeds && Array.isArray(b.feeds.dims)
      ? { [graph.inputs[0].name]: b.feeds as FeedTensor }
      : b.feeds as Record<string, FeedTensor>;
  } else {
    feeds = {};
    for (const i of graph.inputs) {
      const d = i.dims ?? [1, options.maxLen ?? 8, 3, size, size];
      const dims = d.map((x, k) => {
        if (typeof x === "number" && x > 0) return x;
        if (k === 0) return 1;
        if (d.length === 5 && k === 1) return options.maxLen ?? 8;
        if (k === d.length - 2) return hw.height;
        if (k === d.length - 1) return hw.width;
        return 3;
      });
      feeds[i.name] = { data: new Float32Array(dims.reduce((a, x) => a * x, 1)), dims };
    }
  }
  // The Op[k] selector of every data-path node.
  const selectorOf = new Map<number, string>();
  const seen = new Map<string, number>();
  const onPath = dataPathNodes(graph);
  for (const n of graph.nodes) {
    if (!onPath.has(n.index) || !n.outputs[0]) continue;
    const k = seen.get(n.opType) ?? 0;
    seen.set(n.opType, k + 1);
    selectorOf.set(n.index, `${n.opType}[${k}]`);
  }
  // Unscoped tappable nodes (every node output with `all`), listed by tensor name.
  const rawNodes = options.all
    ? graph.nodes.filter((n) => n.opType !== "Constant" || modules.length === 0)
    : tappableNodes(graph).filter((n) => !n.modulePath);
  const rawTensors = rawNodes.flatMap((n) =>
    n.outputs.filter((o) => o).map((o) => ({ tensor: o, node: n }))
  );
  const tensors = [
    ...new Set([...modules.map((m) => m.lastNode.outputs[0]), ...rawTensors.map((r) => r.tensor)]),
  ];
  await using session = await createSession(tapModel(graph, tensors), {
    ep: options.ep ?? "auto",
    threads: options.threads,
  });
  const outs = await session.run(feeds);
  const { layers } = resolveLayers(graph, modules.map((m) => m.path));
  const rows: LayerListing[] = [];
  for (const m of modules) {
    const o = outs[m.lastNode.outputs[0]];
    const r = layers.find((l) => l.module === m.path);
    const calls = m.callNodes.length;
    const notes = [
      ...(r?.folded ? [`BN folded in: ${r.folded.join(", ")} resolves here too`] : []),
      ...(calls > 1
        ? [`applied ${calls} times: last call listed, ${m.shortName}#0.. picks one`]
        : []),
    ];
    rows.push({
      name: m.shortName,
      module: m.path,
      tensor: m.lastNode.outputs[0],
      node: m.lastNode.name,
      opType: m.lastNode.opType,
      select: selectorOf.get(m.lastNode.index) ?? "",
      ...(calls > 1 ? { calls } : {}),
      dims: o ? o.dims : [],
      note: notes.join("; "),
    });
  }
  for (const r of rawTensors) {
    const o = outs[r.tensor];
    rows.push({
      name: r.tensor,
      module: "",
      tensor: r.tensor,
      node: r.node.name,
      opType: r.node.opType,
      select: r.tensor === r.node.outputs[0] ? selectorOf.get(r.node.index) ?? "" : "",
      dims: o ? o.dims : [],
      note: "",
    });
  }
  for (const o of Object.values(outs)) o.dispose();
  return rows;
}

/** The manifest's `preprocessing` block: what was done to each frame, in order. */
function preprocessingRecord(p: FramePipeline, clips: ClipBatch): Record<string, unknown> {
  const r = p.resize;
  return {
    resize: !r
      ? `exact ${p.size.height}x${p.size.width} (aspect not kept)`
      : r.kind === "exact"
      ? `exact ${r.height}x${r.width} (aspect not kept)`
      : `${r.kind}:${r.length} (aspect kept)`,
    crop: p.crop
      ? `centre ${p.crop.height}x${p.crop.width}`
      : r && r.kind !== "exact"
      ? `centre ${p.size.height}x${p.size.width}`
      : "none",
    resample: "bilinear, antialiased (PIL / torchvision antialias=True)",
    channel_order: p.channelOrder ?? "rgb",
    scale: p.scale ?? 1,
    mean: clips.dataset.mean,
    std: clips.dataset.std,
    formula: "(pixel / 255 * scale - mean[c]) / std[c]",
    frame_size: [p.size.height, p.size.width],
  };
}

/**
 * The input frame of each saved (sample, time step): its file name, and its image decoded again
 * from the frame file for the grid's thumbnail (none for a video frame or a file that no longer
 * decodes: the grid then shows the name only).
 */
async function inputFrames(
  clips: readonly LoadedClip[],
  batchIdx: readonly number[],
  timestep: readonly number[],
): Promise<{ name?: string; image?: RgbaImage }[][]> {
  const out: { name?: string; image?: RgbaImage }[][] = [];
  for (const bb of batchIdx) {
    const row: { name?: string; image?: RgbaImage }[] = [];
    for (const tt of timestep) {
      const c = clips[bb];
      const name = c?.frameFiles[tt];
      if (!name) {
        row.push({});
        continue;
      }
      let image: RgbaImage | undefined;
      if (c.fps === undefined) {
        try {
          image = decodeImage(await Deno.readFile(join(c.dir, name)));
        } catch {
          image = undefined;
        }
      }
      const label = `${c.id}/${name}`;
      row.push(image ? { name: label, image } : { name: label });
    }
    out.push(row);
  }
  return out;
}
