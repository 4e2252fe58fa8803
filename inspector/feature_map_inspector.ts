/**
 * {@linkcode FeatureMapInspector}: the original toolkit's workflow (create, set a target,
 * extract, save, visualise) on an ONNX model, with every requested frame from one forward pass.
 *
 * @module
 */

import { type ChannelOrder, channelOrders, convChannelCounts } from "./channel_order.ts";
import { classifyFrameShape } from "../stats/tensor_kind.ts";
import { join } from "node:path";
import { InspectorError } from "../core/errors.ts";
import {
  loadOnnxModel,
  type OnnxGraph,
  parseOnnxModel,
  releaseModelWeights,
  tapAdditions,
  withExtendedModel,
} from "./onnx_model.ts";
import { type ResolvedLayer, resolveLayers, type UnresolvedLayer } from "./layers.ts";
import { stageDefaultTensors } from "./_layer_select.ts";
import {
  extractFrame,
  type LayoutKind,
  parseIndexSpec,
  parseLayoutOverride,
  rowLayout,
  tensorFrameOf,
  timeChannelSwaps,
  type TimeLayout,
} from "./layout.ts";
import {
  type BackendInfo,
  chooseBackend,
  createSession,
  type EpChoice,
  type FeedTensor,
  type ModelSession,
  type OutputTensor,
} from "./runtime.ts";
import { BACKENDS } from "./backends.ts";
import { checkFileStem, layerFileStem, uniqueFileStems } from "../core/file_stem.ts";
import {
  type ChannelStats,
  channelStatsOf,
  type RowIndex,
  type RowMoments,
  summarizeFrames,
  type SummaryStats,
} from "../stats/moments.ts";
import { createReducer, type GpuMode, type Reducer } from "../shaders/reduce.ts";
import { frameRanges, readRanges } from "./gpu_readback.ts";
import { type BatchChunk, checkGridBudget } from "./batch_plan.ts";
import { buildStatsModel, type InGraphTap } from "./graph_stats.ts";
import {
  assertComplete,
  joinModelOutputs,
  LEAN_PASS_BYTES,
  newTensorStates,
  type PassEngine,
  type PassResult,
  placePass,
  planPasses,
  runPass,
  runPasses,
  type TensorState,
} from "./_extract.ts";
import { trackGpuBuffers } from "./gpu_tracking.ts";
import { OutputSet } from "../core/atomic.ts";
import { buildManifest, type Manifest, type ManifestLayer } from "../core/manifest.ts";
import { writeFeatures } from "../core/run_folder.ts";
import { manifestChannels, manifestSummary } from "../stats/manifest_summary.ts";
import { renderFeatureGrid } from "../render/feature_grid.ts";
import type { GazePoint } from "./clips.ts";
import type { RgbaImage } from "../core/image.ts";

/** The default layers, as in the original toolkit. */
export const DEFAULT_LAYERS: readonly string[] = [
  "conv1",
  "bn1",
  "relu",
  "maxpool",
  "layer1",
  "layer2",
  "layer3",
  "layer4",
];

/** Options of {@linkcode FeatureMapInspector.create}. */
export interface InspectorOptions {
  /** Layer names, globs or tensor names (default {@linkcode DEFAULT_LAYERS}). */
  layers?: readonly string[];
  /** Only resolve modules under this scope (e.g. `backbone`). */
  prefix?: string;
  /** Layout override for every layer, or per layer name. */
  layout?: LayoutKind | Record<string, LayoutKind>;
  /** Execution provider (default `auto`). */
  ep?: EpChoice;
  /** CPU threads for the wasm/cpu EPs. */
  threads?: number;
  /**
   * Less memory (default false): the session of `runtime.ts` `CreateSessionOptions.lean`, and a
   * small batch with the statistics in the graph runs in passes of a few frames each (about 16
   * MiB of tapped tensors, `leanPassBytes`; the numbers are the same). `Extraction.modelOutputs`
   * is then empty when the passes split a clip's frames.
   */
  lean?: boolean;
  /** Tapped bytes a lean pass aims at (default 16 MiB); only with `lean`. */
  leanPassBytes?: number;
  /**
   * Every frame will be kept (`--timestep all --batch_idx all`; default false): the
   * passes with the statistics in the graph hand back the tapped tensors as they are, and the
   * frames are cut on the host, instead of onnxruntime gathering them into one more copy of
   * every tensor. Any target still works.
   */
  allFrames?: boolean;
  /** Where statistics are computed (default `auto`). */
  gpu?: GpuMode;
  /** Output folder for `saveFeatures`/`visualizeFeatureMaps` (default `out`). */
  saveDir?: string;
  /** Output file stem (default `features`). */
  name?: string;
  /** Element type of the saved `.npy` (default `float32`). */
  dtype?: "float32" | "float16";
  /** Receives one-line progress and notes meant for people. */
  onInfo?: (line: string) => void;
  /** Memory to aim for per forward pass, in bytes (default 1 GiB); larger batches are split. */
  budgetBytes?: number;
  /** Fail when no requested layer resolves (default true). */
  requireLayers?: boolean;
  /**
   * On the CPU backends (`cpu`, `wasm`), compute the statistics and cut the saved frames inside
   * the ONNX graph, so that full activations never leave onnxruntime (default: true unless
   * `gpu` is `on`; see `graph_stats.ts`). False returns whole tensors and reduces them on the
   * host (WGSL kernels or the CPU reference, as `gpu` says).
   */
  inGraph?: boolean;
  /**
   * Count every tapped value into the fixed-edge histogram of `stats/dataset_statistics.ts`
   * (`LayerFeatures.histogram`; dataset mode, default false). The passes then return whole
   * tensors, and the moments and the histogram come from one pass over each tensor on the host
   * (`stats/row_kernel.ts`), instead of the moments in the graph and a second read for the
   * histogram. A tapped `Relu(x)` whose input `x` is tapped too (the conv1 -> relu stem of a
   * ResNet) gets its moments and histogram from `x`'s pass (`max(x, 0)`, exact for finite `x`).
   */
  histogram?: boolean;
}

/** Which clips and frames to keep. */
export interface TargetSpec {
  /** `0`, `[0, 1]`, `"0,1"`, `"0-3"` or `"all"`. */
  batchIdx?: number | readonly number[] | string;
  /** `2`, `[0, 4]`, `"0-7"` or `"all"`. */
  timestep?: number | readonly number[] | string;
}

/** A batch to run: the model's main input, or every input by name. */
export type BatchInput = FeedTensor | Record<string, FeedTensor>;

/** Statistics of one layer. */
export interface LayerStats {
  /** Summary over the saved frames. */
  summary: SummaryStats;
  /** Per channel over the saved frames. */
  channels: ChannelStats;
  /** Summary of every (b, t) of the batch, `[b][t]`. */
  perFrame: SummaryStats[][];
}

/** One layer's extracted activations. */
export interface LayerFeatures {
  /** Field name. */
  name: string;
  /** How the name resolved. */
  resolved: ResolvedLayer;
  /** Time layout of the tapped tensor. */
  layout: TimeLayout;
  /** Saved frames `[bi][ti]` for the target's batch indices and timesteps, each `frameShape`. */
  frames: Float32Array[][];
  /** Statistics. */
  stats: LayerStats;
  /**
   * Moments of every (tensor frame, channel) run of the whole batch (frames numbered
   * `b * tensorTime + t'`), and how they are numbered: the exact inputs of the statistics above.
   */
  rows: { moments: RowMoments; index: RowIndex };
  /**
   * With `InspectorOptions.histogram`: every value of the tapped tensor in the batch counted
   * into the fixed-edge bins of `stats/dataset_statistics.ts` (`histBin`; NaN/Inf left out).
   */
  histogram?: number[];
}

/** Options of {@linkcode FeatureMapInspector.extractFeatures}. */
export interface ExtractOptions {
  /**
   * Called (and awaited) once, when the first forward pass has returned and before its
   * outputs are read: e.g. to start decoding the next batch while this one is reduced on the
   * host, on the cores the forward pass kept busy.
   */
  afterForward?: () => void | Promise<void>;
}

/** Result of {@linkcode FeatureMapInspector.extractFeatures}. */
export interface Extraction {
  /** Batch size B. */
  batch: number;
  /** Frames per clip T. */
  time: number;
  /** Saved batch indices and timesteps. */
  targets: { batchIdx: number[]; timestep: number[] };
  /** Per layer, in network (topological) order. */
  layers: LayerFeatures[];
  /** The model's own outputs (e.g. logits), downloaded. */
  modelOutputs: Record<string, { dims: number[]; data: Float32Array }>;
  /** Milliseconds: forward and reductions. */
  timings: { forward: number; reduce: number };
  /** Forward passes the batch ran in (more than one when memory required a split). */
  passes: number;
  /** Warnings for people (non-finite values ...). */
  warnings: string[];
}

/** Extra information for the manifest (data source, timings ...). */
export interface SaveMetadata {
  /** The `data` section (dataset, clips, frame files, gaze ...). */
  data?: Record<string, unknown>;
  /** More timings to record. */
  timings?: Record<string, number>;
  /** Gaze points per saved frame `[bi][ti]`, drawn on the grids. */
  gaze?: GazePoint[][][];
  /** Write into this output set instead of committing at once. */
  output?: OutputSet;
  /** File stem of this save (default: the inspector's `name`, else `features`). */
  name?: string;
}

function toIndexSpec(
  v: number | readonly number[] | string | undefined,
  count: number,
  flag: string,
) {
  if (v === undefined) return [0].filter((k) => k < count).length ? [0] : [];
  if (typeof v === "number") return parseIndexSpec(String(v), { count, flag });
  if (typeof v === "string") return parseIndexSpec(v, { count, flag });
  return parseIndexSpec(v.join(","), { count, flag });
}

/** File-name-safe form of a layer name: the one rule of `core/file_stem.ts`. */
export function safeFileName(name: string): string {
  return layerFileStem(name);
}

/**
 * Extracts, saves and visualises the feature maps of an ONNX video model.
 *
 * @example Usage
 * ```ts ignore
 * import { FeatureMapInspector } from "./feature_map_inspector.ts";
 * await using insp = await FeatureMapInspector.create("fixtures/resnet18_video.onnx", {
 *   layers: ["conv1", "layer1"],
 *   saveDir: "out",
 * });
 * insp.setTarget({ batchIdx: 0, timestep: "0,4" });
 * const batch = { data: new Float32Array(2 * 8 * 3 * 112 * 112), dims: [2, 8, 3, 112, 112] };
 * const ex = await insp.extractFeatures(batch);
 * console.log(ex.layers.map((l) => [l.name, l.layout.label, l.frames[0][0].length]));
 * await insp.saveFeatures();
 * await insp.visualizeFeatureMaps("layer1", { numChannels: 16 });
 * ```
 */
export class FeatureMapInspector implements AsyncDisposable {
  /** The parsed model. */
  readonly graph: OnnxGraph;
  /** Layers that resolved. */
  readonly layers: ResolvedLayer[];
  /** Names that did not resolve. */
  readonly unresolved: UnresolvedLayer[];
  /** Options in force. */
  readonly options: Readonly<InspectorOptions>;
  #session: ModelSession;
  /** The in-graph taps of `#session`, or null when it returns whole tensors. */
  #inGraphTaps: InGraphTap[] | null;
  /** A session returning whole tensors, for split batches and fallbacks (lazy when not primary). */
  #fullSession: Promise<ModelSession> | null;
  #released = false;
  #inGraphPasses = 0;
  #reducer: Reducer | null = null;
  #target: TargetSpec = { batchIdx: 0, timestep: 0 };
  #last: Extraction | null = null;
  #swapped: Map<string, boolean>;
  #channelOrder: Map<string, ChannelOrder>;
  #convChannels: number[];
  /** Tapped Relu outputs whose input is tapped too (output -> input). */
  #reluInputs: Map<string, string>;
  #disposed = false;
  #frameBytesRead = 0;
  #fullBytes = 0;
  #liveBuffers: (() => number) | null = null;

  private constructor(
    graph: OnnxGraph,
    resolved: { layers: ResolvedLayer[]; unresolved: UnresolvedLayer[] },
    session: ModelSession,
    options: InspectorOptions,
    inGraphTaps: InGraphTap[] | null,
  ) {
    this.graph = graph;
    this.layers = resolved.layers;
    this.unresolved = resolved.unresolved;
    this.#session = session;
    this.#inGraphTaps = inGraphTaps;
    this.#fullSession = inGraphTaps ? null : Promise.resolve(session);
    this.options = options;
    this.#swapped = timeChannelSwaps(graph);
    this.#channelOrder = channelOrders(graph);
    this.#convChannels = convChannelCounts(graph);
    const tapped = new Set(this.layers.map((l) => l.tensor));
    this.#reluInputs = new Map(
      graph.nodes.filter((n) =>
        n.opType === "Relu" && tapped.has(n.inputs[0]) && tapped.has(n.outputs[0]) &&
        n.inputs[0] !== n.outputs[0]
      ).map((n) => [n.outputs[0], n.inputs[0]]),
    );
    if (session.device) this.#liveBuffers = trackGpuBuffers(session.device);
  }

  /**
   * GPU buffers alive on the session's WebGPU device that were created since this inspector
   * opened (ORT's pooled buffers included): flat across iterations when nothing leaks.
   * Always 0 without WebGPU.
   */
  liveGpuBuffers(): number {
    return this.#liveBuffers?.() ?? 0;
  }

  /**
   * Load a model (path or bytes), resolve the layers and open a session with the taps added.
   */
  static async create(
    model: string | Uint8Array | OnnxGraph,
    options: InspectorOptions = {},
  ): Promise<FeatureMapInspector> {
    if (options.name !== undefined) checkFileStem(options.name);
    const graph = typeof model === "string"
      ? await loadOnnxModel(model)
      : model instanceof Uint8Array
      ? await parseOnnxModel(model)
      : model;
    const requests = options.layers ?? DEFAULT_LAYERS;
    let resolved = resolveLayers(graph, requests, { prefix: options.prefix });
    const info = options.onInfo ?? (() => {});
    const asDefault = requests.length === DEFAULT_LAYERS.length &&
      requests.every((r, k) => r === DEFAULT_LAYERS[k]);
    if (resolved.layers.length === 0 && asDefault) {
      // None of the default (torchvision ResNet) names exists: tap the last output of each
      // spatial resolution stage instead of failing.
      const fallback = resolveLayers(graph, stageDefaultTensors(graph));
      if (fallback.layers.length > 0) {
        for (const l of fallback.layers) {
          l.notes.push(
            "default set: the last tappable output of its spatial resolution stage (none of " +
              "the default layer names exists in this graph)",
          );
        }
        info(
          `note: none of the default layers (${DEFAULT_LAYERS.join(" ")}) exists in ` +
            `${graph.source}; tapping the last output of each spatial stage instead: ` +
            `${fallback.layers.map((l) => l.name).join(", ")} (options.layers chooses others)`,
        );
        resolved = fallback;
      }
    }
    // Network (topological) order, so that files, reports and "first divergent" follow the
    // data flow whatever order the names were given in; ties keep the request order.
    const order = new Map(graph.nodes.map((n) => [n.name, n.index]));
    resolved.layers.sort((a, b) => (order.get(a.node) ?? 0) - (order.get(b.node) ?? 0));
    for (const u of resolved.unresolved) {
      info(
        `warning: layer '${u.request}' not found (${u.reason})` +
          (u.candidates.length ? `; closest: ${u.candidates.join(", ")}` : ""),
      );
    }
    for (const l of resolved.layers) {
      if (l.folded) info(`note: ${l.name} is flagged folded: ${l.notes[0]}`);
      if (l.aliasOf) info(`note: ${l.notes[0]}`);
    }
    if (resolved.layers.length === 0 && options.requireLayers !== false) {
      throw new InspectorError(
        `none of the requested layers resolved in ${graph.source}; run with listLayers() to ` +
          `see what can be tapped`,
      );
    }
    const tensors = [...new Set(resolved.layers.map((l) => l.tensor))];
    // CPU backends compute statistics in the graph. WebGPU keeps whole tensors on the GPU for
    // the WGSL kernels, and so does `--gpu on`.
    const wanted = options.inGraph ?? options.gpu !== "on";
    const chosen = (await chooseBackend(options.ep ?? "auto")).ep;
    const ep = wanted ? chosen : null;
    const sessionOptions = {
      ep: options.ep ?? "auto",
      threads: options.threads,
      lean: options.lean,
      onInfo: options.onInfo,
      // Histogram runs read a pass's outputs while at most the next pass computes (dataset
      // mode's overlap), never later.
      reuseOutputs: !!options.histogram,
    };
    // Lean on the native backend: onnxruntime reads the weights from the model file itself, and
    // the JavaScript copy is dropped once the first session holds them.
    const fromFile = { weightsFromFile: !!options.lean && BACKENDS[chosen].capabilities.native };
    const open = (bytes: Uint8Array, weightsDir: string | null) =>
      createSession(bytes, { ...sessionOptions, externalDataDir: weightsDir ?? undefined });
    const lighten = () => {
      if (fromFile.weightsFromFile && releaseModelWeights(graph) > 0) {
        // With --expose-gc (the launcher's V8 flags), give the bytes back before the forward.
        (globalThis as { gc?: () => void }).gc?.();
      }
    };
    const inGraph = ep && BACKENDS[ep].capabilities.inGraphStatistics && !options.histogram
      ? buildStatsModel(graph, tensors, { wholeFrames: options.allFrames })
      : null;
    if (inGraph) {
      try {
        const session = await withExtendedModel(graph, inGraph.additions, open, fromFile);
        lighten();
        return new FeatureMapInspector(graph, resolved, session, options, inGraph.taps);
      } catch (err) {
        // An exotic graph onnxruntime cannot extend (a type its reductions do not take...):
        // whole tensors still work.
        options.onInfo?.(
          `note: statistics cannot be computed inside this graph (${
            (err as Error).message.split("\n")[0]
          }); reducing whole tensors instead`,
        );
      }
    }
    const session = await withExtendedModel(graph, tapAdditions(graph, tensors), open, fromFile);
    lighten();
    return new FeatureMapInspector(graph, resolved, session, options, null);
  }

  /** The session returning whole tensors (created on first use when the primary one does not). */
  #full(): Promise<ModelSession> {
    this.#fullSession ??= withExtendedModel(
      this.graph,
      tapAdditions(this.graph, [...new Set(this.layers.map((l) => l.tensor))]),
      (bytes, weightsDir) =>
        createSession(bytes, {
          ep: this.#session.info.ep,
          threads: this.options.threads,
          externalDataDir: weightsDir ?? undefined,
        }),
      {
        weightsFromFile: !!this.options.lean && BACKENDS[this.#session.info.ep].capabilities.native,
      },
    );
    return this.#fullSession;
  }

  /** The reducer for whole tensors on the host or ORT's GPU device, created on first use. */
  async #hostReducer(device: GPUDevice | null): Promise<Reducer> {
    this.#reducer ??= await createReducer({
      gpu: this.options.gpu ?? "auto",
      device: device ?? undefined,
      onInfo: this.options.onInfo,
    });
    return this.#reducer;
  }

  /** The backend the forward pass runs on. */
  get backend(): BackendInfo {
    return this.#session.info;
  }

  /** The last extraction, or null. */
  get lastExtraction(): Extraction | null {
    return this.#last;
  }

  /** Where reductions ran (after the first extraction). */
  get reductions(): Record<string, unknown> {
    const graph = this.#inGraphPasses > 0
      ? {
        in_graph_passes: this.#inGraphPasses,
        in_graph_ep: this.#session.info.ep,
      }
      : {};
    if (!this.#reducer) {
      return this.#inGraphPasses > 0
        ? {
          where: "onnx_graph",
          reason: "statistics and saved frames computed inside the ONNX graph by onnxruntime",
          ...graph,
          bytes_read_back: 0,
          bytes_full_readback_would_be: this.#fullBytes,
        }
        : { where: "not run" };
    }
    const u = this.#reducer.usage();
    return {
      ...this.#reducer.info,
      ...graph,
      kernel_calls: { webgpu: u.webgpu, cpu: u.cpu },
      bytes_read_back: u.bytesReadBack + this.#frameBytesRead,
      bytes_read_back_statistics: u.bytesReadBack,
      bytes_read_back_frames: this.#frameBytesRead,
      bytes_full_readback_would_be: this.#fullBytes,
      bytes_uploaded: u.bytesUploaded,
    };
  }

  /** Choose the clips and frames to keep; checked against the batch at extraction. */
  setTarget(target: TargetSpec): void {
    this.#target = { ...target };
  }

  #feeds(batch: BatchInput): { feeds: Record<string, FeedTensor>; B: number; T: number } {
    const inputs = this.graph.inputs;
    let feeds: Record<string, FeedTensor>;
    if ("data" in batch && "dims" in batch && batch.data instanceof Float32Array) {
      if (inputs.length !== 1) {
        throw new InspectorError(
          `the model has ${inputs.length} inputs (${inputs.map((i) => i.name).join(", ")}); ` +
            `give each as name=path.npy`,
        );
      }
      feeds = { [inputs[0].name]: batch as FeedTensor };
    } else feeds = { ...(batch as Record<string, FeedTensor>) };
    for (const i of inputs) {
      if (!feeds[i.name]) {
        throw new InspectorError(
          `model input '${i.name}' was not given; pass options.input ${i.name}=path.npy`,
        );
      }
    }
    // The main input decides B and T: (B, T, C, H, W), or (B, C, H, W) with T = 1.
    const main = inputs.find((i) => i.dims?.length === 5) ?? inputs[0];
    let feed = feeds[main.name];
    let B: number, T: number;
    if (feed.dims.length === 5 && main.dims?.length === 4) {
      // Clips for an image model: fold time into batch, keep B and T for the layouts.
      B = feed.dims[0];
      T = feed.dims[1];
      feed = { data: feed.data, dims: [B * T, ...feed.dims.slice(2)] };
      feeds[main.name] = feed;
    } else if (feed.dims.length === 5) {
      B = feed.dims[0];
      T = feed.dims[1];
    } else {
      B = feed.dims[0];
      T = 1;
    }
    for (const i of inputs) {
      const f = feeds[i.name];
      const want = i.dims;
      if (!want) continue;
      const ok = want.length === f.dims.length &&
        want.every((d, k) => typeof d !== "number" || d <= 0 || d === f.dims[k]);
      if (!ok) {
        throw new InspectorError(
          `input '${i.name}' has shape (${f.dims.join(", ")}) but the model expects ` +
            `(${want.join(", ")}); ${shapeAdvice(f.dims, want, i === main)}`,
        );
      }
    }
    return { feeds, B, T };
  }

  /**
   * Run one forward pass and extract every target frame of every layer, with statistics of
   * the whole batch.
   */
  async extractFeatures(batch: BatchInput, options: ExtractOptions = {}): Promise<Extraction> {
    if (this.#disposed) throw new Error("FeatureMapInspector was disposed");
    if (this.#released) {
      throw new InspectorError(
        "the sessions were freed by releaseSessions(); create a new FeatureMapInspector to " +
          "extract again",
      );
    }
    const { feeds, B, T } = this.#feeds(batch);
    const batchIdx = toIndexSpec(this.#target.batchIdx, B, "options.batchIdx");
    const timestep = toIndexSpec(this.#target.timestep, T, "options.timestep");
    const engine = this.#engine();
    const plan = planPasses({ feeds, B, T }, engine, {
      inputs: this.graph.inputs,
      batchIdx,
      timestep,
      layerTensors: this.layers.map((l) => l.tensor),
      outputsOnGpu: BACKENDS[this.#session.info.ep].capabilities.outputsOnGpu,
      budgetBytes: this.options.budgetBytes,
      passBytes: this.options.lean ? this.options.leanPassBytes ?? LEAN_PASS_BYTES : undefined,
    });
    const warnings: string[] = [];
    const state = newTensorStates(plan);
    const outputsOf = new Map<BatchChunk, PassResult["modelOutputs"]>();
    let tReduce = 0;
    let passes = 0;
    const onPass = async (chunk: BatchChunk, outputs: Record<string, OutputTensor>) => {
      const t1 = performance.now();
      passes++;
      if (passes === 1) await options.afterForward?.();
      try {
        const result = await runPass(engine, plan, {
          chunk,
          outputs,
          // Lean passes of whole clips give the batch's outputs joined; others only one pass's.
          modelOutputs: passes === 1 || plan.passBytes !== null
            ? this.graph.outputs.map((o) => o.name)
            : undefined,
        });
        this.#fullBytes += placePass(state, plan, result);
        if (result.inGraph) this.#inGraphPasses++;
        outputsOf.set(chunk, result.modelOutputs);
        return result;
      } finally {
        tReduce += performance.now() - t1;
      }
    };
    const t0 = performance.now();
    const done = await runPasses(engine, plan, onPass);
    const tForward = performance.now() - t0 - tReduce;
    if (done.chunks.length > 1 && !done.lean) {
      warnings.push(
        `the batch ran in ${done.chunks.length} forward passes to bound memory` +
          (done.note ? ` (${done.note})` : ""),
      );
    }
    assertComplete(state);
    const layers = this.#summarize(state, { B, T, batchIdx, timestep, warnings });
    this.#last = {
      batch: B,
      time: T,
      targets: { batchIdx, timestep },
      layers,
      modelOutputs: joinModelOutputs(
        done.chunks.map((chunk) => ({ chunk, outputs: outputsOf.get(chunk) ?? null })),
        { B, T },
      ),
      timings: { forward: tForward, reduce: tReduce },
      passes: done.chunks.length,
      warnings,
    };
    for (const w of warnings) this.options.onInfo?.(`warning: ${w}`);
    return this.#last;
  }

  /**
   * The last step: each layer's saved frames and statistics (over the saved frames, per channel
   * and per frame of the batch) from the filled states; warns about non-finite values.
   */
  #summarize(
    state: ReadonlyMap<string, TensorState>,
    targets: { B: number; T: number; batchIdx: number[]; timestep: number[]; warnings: string[] },
  ): LayerFeatures[] {
    const { B, T, batchIdx, timestep, warnings } = targets;
    const layers: LayerFeatures[] = [];
    for (const layer of this.layers) {
      const st = state.get(layer.tensor)!;
      const layout = st.layout!;
      const { index } = rowLayout(layout);
      const savedFrames = batchIdx.flatMap((b) => timestep.map((t) => tensorFrameOf(layout, b, t)));
      const summary = summarizeFrames(st.m!, index, savedFrames);
      const channels = channelStatsOf(st.m!, index, savedFrames);
      const perFrame = Array.from(
        { length: B },
        (_, b) =>
          Array.from(
            { length: T },
            (_, t) => summarizeFrames(st.m!, index, [tensorFrameOf(layout, b, t)]),
          ),
      );
      const allBad = perFrame.flat().reduce((a, s) => a + s.nonfinite, 0);
      if (allBad > 0) {
        warnings.push(
          `layer ${layer.name} has ${allBad} non-finite values (NaN/Inf) in the batch; ` +
            `they are counted and left out of mean/std/min/max`,
        );
      }
      layers.push({
        name: layer.name,
        resolved: layer,
        layout,
        frames: st.frames,
        stats: { summary, channels, perFrame },
        rows: { moments: st.m!, index },
        ...(st.histogram ? { histogram: st.histogram } : {}),
      });
    }
    return layers;
  }

  /** What the extraction steps (`_extract.ts`) use of this inspector. */
  #engine(): PassEngine {
    const layers = this.layers;
    const o = this.options.layout;
    return {
      session: this.#session,
      inGraphTaps: this.#inGraphTaps,
      swapped: this.#swapped,
      channelOrder: this.#channelOrder,
      convChannels: this.#convChannels,
      layoutOverride: (tensor) => {
        if (o === undefined || typeof o === "string") return o;
        const l = layers.find((x) => x.tensor === tensor && o[x.name] !== undefined);
        return l ? o[l.name] : undefined;
      },
      layerName: (tensor) => layers.find((l) => l.tensor === tensor)!.name,
      full: () => this.#full(),
      histogram: this.options.histogram === true,
      reluInputs: this.#reluInputs,
      reducer: (device) => this.#hostReducer(device),
      frames: (out, layout, batchIdx, timestep) => this.#frames(out, layout, batchIdx, timestep),
      onInfo: this.options.onInfo,
    };
  }

  /** The saved frames of one output: sliced on the host, or read back range by range. */
  async #frames(
    out: OutputTensor,
    layout: TimeLayout,
    batchIdx: readonly number[],
    timestep: readonly number[],
  ): Promise<Float32Array[][]> {
    if (out.data) {
      const data = out.data;
      return batchIdx.map((b) => timestep.map((t) => extractFrame(data, layout, b, t)));
    }
    const device = this.#session.device;
    if (!out.gpuBuffer || !device) {
      const data = await out.download();
      return batchIdx.map((b) => timestep.map((t) => extractFrame(data, layout, b, t)));
    }
    const per = layout.frameShape.reduce((a, x) => a * x, 1);
    const ranges = batchIdx.flatMap((b) => timestep.flatMap((t) => frameRanges(layout, b, t)));
    const all = await readRanges(device, out.gpuBuffer, ranges);
    this.#frameBytesRead += all.byteLength;
    let k = 0;
    return batchIdx.map(() => timestep.map(() => all.slice(per * k, per * ++k)));
  }

  #requireExtraction(): Extraction {
    if (!this.#last) {
      throw new InspectorError("call extractFeatures() before saving or visualising");
    }
    return this.#last;
  }

  /** Build the manifest of the last extraction. */
  manifest(metadata: SaveMetadata = {}): Manifest {
    const ex = this.#requireExtraction();
    const name = metadata.name ?? this.options.name ?? "features";
    const layers: ManifestLayer[] = ex.layers.map((l) => ({
      name: l.name,
      request: l.resolved.request,
      tensor: l.resolved.tensor,
      node: l.resolved.node,
      op_type: l.resolved.opType,
      module: l.resolved.module,
      resolved_as: l.resolved.kind,
      layout: l.layout.label,
      layout_kind: l.layout.kind,
      layout_evidence: l.layout.evidence,
      tensor_shape: l.layout.dims,
      shape: l.layout.frameShape,
      time_map: l.layout.timeMap,
      ...(l.resolved.folded ? { folded: l.resolved.folded } : {}),
      ...(l.resolved.aliasOf ? { alias_of: l.resolved.aliasOf } : {}),
      ...(l.resolved.calls ? { calls: l.resolved.calls, call: l.resolved.call } : {}),
      notes: l.resolved.notes,
      node_index: this.graph.nodes.findIndex((n) => n.name === l.resolved.node),
      stats: manifestSummary(l.stats.summary),
      channels: manifestChannels(l.stats.channels),
      per_frame: l.stats.perFrame.map((row) => row.map(manifestSummary)),
    }));
    return buildManifest({
      model: {
        path: this.graph.source,
        sha256: this.graph.sha256,
        producer: this.graph.producer,
        opset: this.graph.opset,
        inputs: this.graph.inputs.map((i) => ({
          name: i.name,
          dims: i.dims,
          elem_type: i.elemType,
        })),
        outputs: this.graph.outputs.map((o) => o.name),
      },
      data: metadata.data ?? {},
      backend: { ...this.backend },
      reductions: this.reductions,
      timings_ms: {
        forward: ex.timings.forward,
        reduce: ex.timings.reduce,
        ...(metadata.timings ?? {}),
      },
      targets: { batch_idx: ex.targets.batchIdx, timestep: ex.targets.timestep },
      npy: {
        file: `${name}.npy`,
        dtype: this.options.dtype ?? "float32",
        shape: [ex.targets.batchIdx.length, ex.targets.timestep.length],
        fields: ex.layers.map((l) => l.name),
      },
      layers,
      unresolved: this.unresolved,
      warnings: ex.warnings,
      files: [],
    });
  }

  /**
   * Write `<name>.npy` (one structured array) and `<name>.json` (the manifest) to the save dir.
   * Returns the paths written.
   */
  async saveFeatures(metadata: SaveMetadata = {}): Promise<{ npy: string; json: string }> {
    const ex = this.#requireExtraction();
    const dir = this.options.saveDir ?? "out";
    const name = checkFileStem(
      metadata.name ?? this.options.name ?? "features",
      metadata.name !== undefined ? "metadata.name" : "options.name",
    );
    const own = !metadata.output;
    const out = metadata.output ?? await OutputSet.open(dir);
    try {
      const nt = ex.targets.timestep.length;
      const frames = new Map(ex.layers.map((l) => [l.name, l.frames]));
      const saved = await writeFeatures(out, {
        name,
        dtype: this.options.dtype ?? "float32",
        grid: [ex.targets.batchIdx.length, nt],
        fields: ex.layers.map((l) => ({ name: l.name, shape: l.layout.frameShape })),
        frame: (field, r) => frames.get(field)![Math.floor(r / nt)][r % nt],
        manifest: this.manifest(metadata),
      });
      if (own) await out.commit();
      return saved;
    } catch (err) {
      if (own) await out.abort();
      throw err;
    }
  }

  /**
   * Render `<layer>_b<b>_t<t>.png` feature grids for every saved frame of `layer` (all layers
   * when omitted). Returns the paths written.
   */
  async visualizeFeatureMaps(
    layer?: string,
    options: {
      numChannels?: number;
      gaze?: GazePoint[][][];
      output?: OutputSet;
      /** The input frame of each saved `[bi][ti]`: its file name (title) and decoded image (thumbnail). */
      frames?: { name?: string; image?: RgbaImage }[][];
    } = {},
  ): Promise<string[]> {
    const ex = this.#requireExtraction();
    const chosen = layer === undefined ? ex.layers : ex.layers.filter((l) => l.name === layer);
    if (layer !== undefined && chosen.length === 0) {
      throw new InspectorError(
        `layer '${layer}' was not extracted; extracted: ${ex.layers.map((l) => l.name).join(", ")}`,
      );
    }
    const own = !options.output;
    const out = options.output ?? await OutputSet.open(this.options.saveDir ?? "out");
    const written: string[] = [];
    // File stems unique over every extracted layer (not only the chosen ones): stable names.
    const stems = new Map(
      uniqueFileStems(ex.layers.map((l) => l.name)).map((s, i) => [ex.layers[i].name, s]),
    );
    try {
      for (const l of chosen) {
        const fs = l.layout.frameShape;
        const tk = classifyFrameShape(fs);
        if (tk.kind !== "spatial") {
          // Vectors and sequences (logits, scores, projections): a chart of the values (vega
          // loads only here, so `./inspector` stays free of it until such a layer is drawn).
          const { valuesChartSpec } = await import("../render/values_chart.ts");
          const { renderVegaPng } = await import("../render/vega_png.ts");
          for (let bi = 0; bi < ex.targets.batchIdx.length; bi++) {
            for (let ti = 0; ti < ex.targets.timestep.length; ti++) {
              const b = ex.targets.batchIdx[bi], t = ex.targets.timestep[ti];
              const png = await renderVegaPng(valuesChartSpec(l.frames[bi][ti], tk, {
                title: `${l.name} · batch ${b} · frame ${t}`,
                subtitle: `shape (${fs.join(", ")})`,
              }));
              const file = `${stems.get(l.name)}_b${b}_t${t}_values.png`;
              await out.writeFile(file, png);
              written.push(join(out.dir, file));
            }
          }
          continue;
        }
        const shape: [number, number, number] = fs.length >= 3
          ? [fs[0], fs[fs.length - 2], fs[fs.length - 1]]
          : fs.length === 2
          ? [fs[0], fs[1], 1]
          : [fs[0], 1, 1];
        checkGridBudget(l.name, shape, {
          channels: options.numChannels ?? 16,
          budgetBytes: this.options.budgetBytes,
        });
        for (let bi = 0; bi < ex.targets.batchIdx.length; bi++) {
          for (let ti = 0; ti < ex.targets.timestep.length; ti++) {
            const b = ex.targets.batchIdx[bi], t = ex.targets.timestep[ti];
            const fold = l.resolved.folded ? ` (BN ${l.resolved.folded.join(", ")} folded in)` : "";
            const input = options.frames?.[bi]?.[ti];
            const png = await renderFeatureGrid(l.frames[bi][ti], shape, {
              channels: options.numChannels ?? 16,
              gaze: options.gaze?.[bi]?.[ti],
              title: `${l.name}${fold} · batch ${b} · frame ${t}` +
                (l.layout.kind === "b_c_t_hw" ? ` (t'=${l.layout.timeMap[t]})` : "") +
                (input?.name ? ` · ${input.name}` : ""),
              ...(input?.image ? { frame: { image: input.image } } : {}),
            });
            const file = `${stems.get(l.name)}_b${b}_t${t}.png`;
            await out.writeFile(file, png);
            written.push(join(out.dir, file));
          }
        }
      }
      if (own) await out.commit();
      return written;
    } catch (err) {
      if (own) await out.abort();
      throw err;
    }
  }

  /**
   * Free the onnxruntime sessions now and keep the last extraction: `saveFeatures` and
   * `visualizeFeatureMaps` still work, `extractFeatures` throws. For one-batch runs (what
   * `runInspect` does after its forward pass): the grids and files are then made without the
   * session's memory (its weights and arena; about 60 MiB for the bench's ResNet-18).
   *
   * @example Usage
   * ```ts
   * import assert from "node:assert/strict";
   * import { FeatureMapInspector } from "./feature_map_inspector.ts";
   * await using insp = await FeatureMapInspector.create("fixtures/resnet18_video.onnx", {
   *   layers: ["layer1"], ep: "wasm",
   * });
   * const frames = { data: new Float32Array(2 * 3 * 32 * 32), dims: [1, 2, 3, 32, 32] };
   * const ex = await insp.extractFeatures(frames);
   * await insp.releaseSessions();
   * assert.equal(insp.lastExtraction, ex);
   * await assert.rejects(() => insp.extractFeatures(frames), /releaseSessions/);
   * ```
   */
  async releaseSessions(): Promise<void> {
    if (this.#released || this.#disposed) return;
    this.#released = true;
    const full = await this.#fullSession?.catch(() => null);
    if (full && full !== this.#session) await full[Symbol.asyncDispose]();
    await this.#session[Symbol.asyncDispose]();
  }

  /** Free the session and GPU resources. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#last = null;
    await this.#reducer?.[Symbol.asyncDispose]();
    if (this.#released) return;
    const full = await this.#fullSession?.catch(() => null);
    if (full && full !== this.#session) await full[Symbol.asyncDispose]();
    await this.#session[Symbol.asyncDispose]();
  }

  /** Same as `[Symbol.asyncDispose]()`. */
  async dispose(): Promise<void> {
    await this[Symbol.asyncDispose]();
  }

  /**
   * The original toolkit's name for disposal (`inspector.cleanup()` removed its forward hooks
   * and dropped the stored features): frees the session and GPU resources and forgets the last
   * extraction, exactly as {@linkcode FeatureMapInspector.dispose} and `await using` do.
   * Calling it again does nothing; extracting afterwards throws.
   *
   * @example Usage
   * ```ts ignore
   * import { FeatureMapInspector } from "./feature_map_inspector.ts";
   * const insp = await FeatureMapInspector.create("fixtures/resnet18_video.onnx", { ep: "wasm" });
   * try {
   *   await insp.extractFeatures(batch);
   *   await insp.saveFeatures();
   * } finally {
   *   await insp.cleanup();
   * }
   * ```
   */
  async cleanup(): Promise<void> {
    await this[Symbol.asyncDispose]();
  }
}

/**
 * Parse `--layout` values: `b_c_t_hw` for every layer, or `layer3=b_c_t_hw` for one.
 *
 * @example Usage
 * ```ts
 * import { parseLayoutFlags } from "./feature_map_inspector.ts";
 * console.log(parseLayoutFlags(["layer1=bt_chw"])); // { layer1: "bt_chw" }
 * ```
 */
export function parseLayoutFlags(
  values: readonly string[],
): LayoutKind | Record<string, LayoutKind> | undefined {
  if (values.length === 0) return undefined;
  if (values.length === 1 && !values[0].includes("=")) return parseLayoutOverride(values[0]);
  const out: Record<string, LayoutKind> = {};
  for (const v of values) {
    const k = v.lastIndexOf("=");
    if (k < 0) {
      throw new InspectorError(
        `options.layout ${v}: with several values use layer=layout for each`,
      );
    }
    out[v.slice(0, k)] = parseLayoutOverride(v.slice(k + 1));
  }
  return out;
}

/**
 * What to change when a feed's shape misses a model input's fixed dims: a fixed batch dim
 * (`options.batchSize` / `options.maxLen`, an image model folds T into its batch), fixed
 * spatial dims (`options.size HxW`), else the generic hint.
 */
function shapeAdvice(got: number[], want: (number | string)[], isMain: boolean): string {
  const fixed = (d: number | string | undefined): d is number => typeof d === "number" && d > 0;
  const hints: string[] = [];
  if (isMain && want.length === got.length && fixed(want[0]) && want[0] !== got[0]) {
    const n = want[0];
    hints.push(
      want.length === 4
        ? `the model takes a fixed batch of ${n} frame${n === 1 ? "" : "s"}: pass ` +
          (n === 1
            ? "options.batchSize 1 and options.maxLen 1"
            : `options.batchSize and options.maxLen whose product is ${n} (e.g. options.batchSize 1 options.maxLen ${n})`)
        : `the model takes a fixed batch of ${n} clip${
          n === 1 ? "" : "s"
        }: pass options.batchSize ${n}`,
    );
  }
  const h = want.length - 2, w = want.length - 1;
  if (
    isMain && want.length === got.length && want.length >= 4 && fixed(want[h]) && fixed(want[w]) &&
    (want[h] !== got[h] || want[w] !== got[w])
  ) {
    hints.push(`pass options.size ${want[h]}x${want[w]}`);
  }
  return hints.length
    ? hints.join("; ")
    : "check options.size / options.maxLen or the .npy you pass";
}
